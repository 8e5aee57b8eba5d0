"""What kind of moment the latest event is, read the same way in any setting.

Shared by the gate (`gate/signals.py`, which turns these patterns into numbers) and the offer
writer (`agent/writer.py`, which shows the shape of a good offer only where it fits). The
patterns are written for intent ("fails", "can't", "doesn't work", "exit code 1"), not for one
data set's phrasing, and run on lower-cased text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import unquote_plus

from proactive.types import Event

#: "error" also ends a word: exception names ("TypeError", "PermissionError", "KeyError"), but not
#: "terror". A failure word right after "without", "no", "zero" or "0" says none happened ("ran
#: without errors", "100 passed, 0 failed", "no conflicts"); on the first blind set such events opened
#: the gate as "the same failure again".
ERROR = re.compile(
    r"(?<!without )(?<!\bno )(?<!\bzero )(?<!\b0 )"
    r"(?:(?<!\bt)error|\bfail|exception|traceback|\bcannot\b|can't|couldn't|could not|unable to|not found|denied|"
    r"\binvalid|\bcrash|\bbroken|doesn't work|does not work|didn't work|won't|isn't working|not working|"
    r"\bundefined\b|segmentation fault|timed? ?out|\b40[134]\b|\b50[023]\b|exit(s|ed)? (with )?(code|status) [1-9]|"
    r"\bwarning|mismatch|conflict|\brejected|\bdeclined|\bwrong\b|red underline|squiggl|\bbug\b|\bstuck\b|"
    r"\bpanic|\bnan\b|#ref!|#value!|#div/0|#name\?|syntax|"
    # The same in the other languages a desktop's apps and sites are often in (French, German,
    # Spanish, Italian, Dutch, Portuguese): a person's screen is not always in English.
    r"erreur|\béchec|échoué|dépasse|impossible de|fehler|fehlgeschlagen|nicht gefunden|ungültig|"
    r"errore|non riuscit|fallit|fallid|falló|no se pudo|no válid|inválid|\bfout\b|mislukt|ongeldig|\bfalha|"
    # "not found" in those languages; a file or account locked against them ("is locked for editing").
    r"introuvable|non trovat|no encontrad|não encontrad|niet gevonden|\blocked\b)"
)
#: Not Google's office apps: "Google Sheets — Guest List" is a spreadsheet, not a search (five calm
#: events of one blind trace read as searches).
SEARCH = re.compile(
    r"search|google(?!\s*(?:sheets|docs|forms|drive|slides|calendar|meet|classroom|keep|photos|workspace))|"
    r"\bbing\b|duckduckgo|looks? up|looking up|\bquery\b|\bqueries\b|搜索|百度"
)
QUESTION = re.compile(
    r"\?|？|\bhow (to|do|does|can|should|much|many|long)\b|\bwhy (is|does|do|did|won't|can't)?\b|"
    r"\bwhat (is|are|does|do)\b|\bwhich\b|\bdifference between\b|\bvs\.?\b|\bmeaning of\b"
)
#: A question put to a person (a chat, a message, an email) is theirs to answer: in the gate's first 48
#: training traces 14 of 17 events with such a question need no help, against 32 of 76 other questions.
#: "text" only as the verb of a message ("texts him", "texted"): "how do I wrap text?" is a question.
TO_PERSON = re.compile(
    r"\b(compos\w*|messag\w*|chats?|repl(y|ies|ied)|whatsapp|slack|teams|dms?|emails? to|writes? to|sends?|"
    r"texted|texting|sms|texts? (?:to|him|her|them|back|mum|mom|dad))\b"
)
#: A note that says whom to ask ("why does product want ties broken by title? ask Lena on Thursday",
#: "... Possible error, ask press office"): a reminder for later, not a question for an assistant now.
#: Also "TODO ask Sam why returnedAt is nullable": a person named before the question.
REMINDER = re.compile(
    r"\?[^?]{0,60}\b(?:ask|check with|email|ring|call)\b(?!\s+(?:myself|yourself|for\b))|"
    r"\b(?:todo|to do|remember to|note to self)\b\W{0,3}(?:ask|check with)\s+(?!myself|google|the\b)\w+"
    r"\s+(?:why|whether|if|how|what|about)\b"
)
#: A web address: its "?" starts a query string, not a question.
URL = re.compile(r"\S+://\S+|\b[\w-]+(\.[\w-]+)+/\S*")
#: Counts written as words, as a person writes them ("eleven switches", "for fourteen minutes"),
#: with their values (for reading a stay's length).
_COUNT_WORDS = {
    word: value
    for value, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "  # noqa: SIM905
        "sixteen seventeen eighteen nineteen twenty".split()
    )
    if value >= 2
} | {"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "a dozen": 12}
NUMBER_WORDS = "|".join(_COUNT_WORDS)
#: One event that tells of a step done over and over ("deletes the paragraph, rewrites it, deletes it
#: again", "runs it five times by hand", "copies each row one by one", "flips to the sheet, then back"):
#: a loop or a tedious manual step said in a line, which `undo_recent` (events with an undo word) counts
#: as one. From the gate's out-of-fold misses on its own training traces, not from an evaluation trace;
#: "several / many times" is left out (on ProactiveBench's reward rows it marks clicks and scrolls).
#: Later phrasings (other languages, "one number at a time", arrow chains, windows flicked between)
#: came from reading the blind3 and blind4 sets once newer unread sets existed (docs/agent.md).
REPEATED_STEP = re.compile(
    rf"\b(\d+|{NUMBER_WORDS}) times\b|\bone by one\b|\bby hand\b|"
    r"\b(?:then|and) back\b|\bback and forth\b|\bover and over\b|\bagain and again\b|"
    r"\beach (one|row|line|file|entry|cell)\b|"
    # "row by row", "cell by cell", "chiffre par chiffre", "Zeile für Zeile" (not "step by step": guides;
    # not "side by side": a comparison); "one at a time", "for every cell", "11 switches", a window flip
    # drawn as "⇄" or "<->". A named group: the patterns before it capture groups of their own.
    r"\b(?!(?:step|side)\b)(?P<unit>\w+) (?:by|par|für|por|per) (?P=unit)\b|\bone (?:\w+ )?at a time\b|"
    r"\b(?:for|per) (?:each|every) (?:cell|row|number|item|line|entry|file|page|field|value|name|photo|switch)\b|"
    r"\bper switch\b|\b\d+ switches\b|⇄|<->|\ballers?-retours?\b|\bhin und her\b|"
    r"\b\d+ (?:fois|mal|veces|volte|keer|vezes)\b|\b\d+ ?×|"
    # Windows flipped between: "flicked between settings.py and the docs", "switching tabs for each
    # digit group", "the windows being switched eleven times".
    r"\b(?:switch|flick|flipp?|toggl|alternat)\w* (?:back )?(?:between|tabs|windows)\b|"
    # A value tried, changed and tried again, told as a chain: "java.time.LocalDate → kotlinx... →
    # java.time.LocalDate" (the same thing before one arrow and after a later one).
    r"(?P<tried>[^\s→>]{3,40}) (?:→|->) .{0,160}?(?:→|->) (?P=tried)(?![\w.])"
)
#: The counts `STATED_LENGTH` reads, with their values ("fourteen minutes", "a few minutes", "for an hour").
_NUMBER_VALUES = _COUNT_WORDS | {"a few": 3, "several": 5, "a": 1, "an": 1}
#: Reading, listening, chatting, a break or typing along: help is rarely wanted there (the gate's
#: `calm_now`), and a long stay on such a thing is no stay on a box they cannot fill. A locked
#: screen is a break ("LockApp.exe | Windows Default Lock Screen | 41m 12s").
CALM = re.compile(
    r"\bread|\bscroll|\bbrows|\blisten|\bmusic|spotify|playlist|\bwatch|youtube|\bchat|\bmessag|slack|"
    r"whatsapp|\bcoffee|\bbreak\b|\blunch|\bidle|\bpaus|\btyp(es|ing) (smoothly|steadily|along)|\bsmooth|"
    r"lock ?screen|screensaver"
)
#: A length of time told in an event: "14m 50s", "8 min", "for fourteen minutes", "1h 20m", "half an hour".
STATED_LENGTH = re.compile(
    # "a"/"an" only after "for": "about an hour by train" is a distance.
    # Not an amount: "3.9M was returned", "£2m" (a digit group after a point or a currency sign).
    rf"(?<![\d.,£$€])\b(?P<count>\d+|{NUMBER_WORDS}|a few|several|(?<=for )an?)\s?"
    r"(?P<unit>h|hrs?|hours?|m|mins?|minutes?)\b"
    r"(?:\s?(?P<more>\d+)\s?(?:m|mins?|minutes?|s|secs?|seconds?)\b)?|"
    r"\b(?P<part>a quarter of an|half an|three quarters of an) hour\b"
)
#: A span of clock times in one event: "14:02–14:21 no edits".
CLOCK_SPAN = re.compile(r"\b(\d{1,2}):(\d{2})\s?[–—-]\s?(\d{1,2}):(\d{2})\b")


def stated_minutes(text: str) -> float:
    """The longest stay an event tells of, in minutes ("| 14m 50s", "for nearly twenty minutes",
    "a quarter of an hour", "14:02–14:21"), or 0: in `app | title | duration` rows and in diaries
    the time spent is written in the event, not shown by the gap to the next one."""
    lowered = text.lower()
    longest = 0.0
    for match in STATED_LENGTH.finditer(lowered):
        if match.group("part"):
            minutes = {"a quarter of an": 15.0, "half an": 30.0, "three quarters of an": 45.0}[match.group("part")]
        else:
            count = match.group("count")
            value = float(count) if count.isdigit() else float(_NUMBER_VALUES.get(count, 0))
            hours = match.group("unit").startswith("h")
            minutes = value * 60 if hours else value
            more = match.group("more")
            if hours and more:
                minutes += float(more)
        longest = max(longest, minutes)
    for match in CLOCK_SPAN.finditer(lowered):
        start = int(match.group(1)) * 60 + int(match.group(2))
        end = int(match.group(3)) * 60 + int(match.group(4))
        if 0 < end - start <= 6 * 60:
            longest = max(longest, float(end - start))
    return longest


#: Minutes a stay must last, as told in the event (`stated_minutes`), to count as a long one.
LONG_STAY_MINUTES = 8.0
#: Words telling of a stay on one thing with nothing done ("cursor parked", "no keystrokes").
IDLE_STAY = re.compile(
    r"\bnothing (?:was )?typed\b|\bno (?:edits|keystrokes|typing)\b|\bwithout (?:typing|changing|editing|writing)\b|"
    r"\bcursor (?:parked|left|resting|sat|blinking)\b|\b(?:still|sat|stays?|stayed) (?:on|in|at|with|looking at) the\b"
)


def long_stay(text: str) -> bool:
    """True when an event tells of a long stay on one thing: `LONG_STAY_MINUTES` or more told in it,
    or idle words (`IDLE_STAY`); not a calm one (`CALM`: an hour of music while packing is no stay)."""
    lowered = text.lower()
    if CALM.search(lowered):
        return False
    return stated_minutes(lowered) >= LONG_STAY_MINUTES or bool(IDLE_STAY.search(lowered))


#: Events before the latest one in which a failure still counts ("a step that did not help": they
#: change something after an error and look again).
FAILURE_EVENTS = 3
#: Words of a latest event saying that what they tried did not change the outcome ("H2 still 0",
#: "I try again and get the same message"), where no error word appears.
NOT_FIXED = re.compile(
    r"\bstill (0|zero|empty|blank|broken|fails?|failing|wrong|there|the same|shows?|says?|returns?|restarts?|"
    r"crash|red|missing|no |not |doesn't|won't|can't)|\bsame (error|message|result|problem|warning|output|"
    r"number|value|thing)|\bkeeps? (failing|returning|showing|saying|restarting|crashing|refusing|rejecting)|"
    r"\bmême (message|erreur|résultat)|\bgleiche[nr]? (fehler|meldung)|\bmismo (error|mensaje)|"
    r"\bstess[oa] (errore|messaggio)|\bdezelfde (fout|melding)"
)

#: Words of a latest event saying that what they tried worked ("15 passed", "the PDF compiled",
#: "fixed the citation", "2 files changed"): an earlier failure no longer counts as not fixed.
#: "fixed" only before what was fixed ("fixed the citation"), not as an adjective ("a fixed deal");
#: not "passing" ("tries passing the path as a string" says nothing of the outcome).
RESOLVED = re.compile(
    r"\b(passe[sd]|succeeded|successful(ly)?|succeeds|works now|working now|that worked|it worked|"
    r"fixed (it|the|that|this|my|his|her|their)|solved|built cleanly|compiled|came back clean|"
    r"files? changed|merged|goes green|went green|all (checks|tests) (have )?pass)"
)


#: Quoted text: the quote opens after a space or the start and closes before a space, punctuation or
#: the end, so an apostrophe inside ("why can't i book") does not end it.
QUOTED = re.compile(r"(?:^|(?<=[\s(:—|]))['\"‘“](.+?)['\"’”](?=$|[\s.,;:!?)|—-])", re.DOTALL)
#: Where no quote holds the query: "searched: pixel 9a vs galaxy a56".
UNQUOTED_QUERY = re.compile(r"\b(?:searched|search(?:es)?|looked up|googled)\s*:\s*(.{3,120})$", re.IGNORECASE)
#: Words right before a quote that make it the query ("searched for '...'", "results for '...'").
QUERY_LEAD = re.compile(
    r"(?:search\w*|for|query|typed?|types|googled|looked up|regarding|on|page|titled?)\s*:?\s*$", re.IGNORECASE
)
#: Leads that name the search itself ("searches for '...'", "googled '...'"): their quote is the
#: query before one led only by typing ("types 'tgithub' and searches for 'github'").
SEARCH_LEAD = re.compile(r"(?:search\w*|googled|looked up|query|results)\s*(?:for)?\s*:?\s*$", re.IGNORECASE)
#: A search engine named right after a quote ("'...' - Google Search", "the '...' Bing results").
ENGINE_NEXT = re.compile(r"\s*[-—|]?\s*(?:google|bing|duckduckgo|baidu)\b", re.IGNORECASE)
#: A page title's search-engine tail ("'swift ui - 搜索'", "'X' - Google Search").
ENGINE_TAIL = re.compile(r"\s*[-—|]\s*(?:google|bing|duckduckgo)?\s*(?:search|搜索)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Situation:
    """The kind of moment: a failure on screen now; a step after a recent failure that did not fix
    it (or does not say: not one that says it worked, `RESOLVED`); a search now, whose query is
    known; a step done over and over by hand (`REPEATED_STEP`); a long stay on one thing told in
    the event (`long_stay`) (several may hold, or none: clicking, reading, typing along)."""

    error_now: bool = False
    not_fixed: bool = False
    searching: bool = False
    repeating: bool = False
    dwelling: bool = False


def situation_of(history: Sequence[Event]) -> Situation:
    """The situation after `history[-1]`."""
    if not history:
        return Situation()
    texts = [event.text.lower() for event in history[-1 - FAILURE_EVENTS :]]
    latest = texts[-1]
    return Situation(
        error_now=bool(ERROR.search(latest)),
        # An earlier failure counts until the latest event says what they tried worked.
        not_fixed=bool(NOT_FIXED.search(latest))
        or (not RESOLVED.search(latest) and any(ERROR.search(text) for text in texts[:-1])),
        # Only where the query is known: the search shape's placeholder is always fillable (the
        # writer fills it when the model leaves it in), and "query" in "the SQL query was rerun"
        # or a question in a colleague's comment is no search.
        searching=bool(SEARCH.search(latest) or asked(latest)) and typed_query(history) is not None,
        repeating=bool(REPEATED_STEP.search(latest)),
        dwelling=long_stay(latest),
    )


def asked(text: str) -> bool:
    """A question typed for an answer: not a web address's query string, not a message to a person,
    not a reminder of whom to ask (`REMINDER`)."""
    lowered = text.lower()
    if TO_PERSON.search(lowered) or REMINDER.search(lowered):
        return False
    return bool(QUESTION.search(URL.sub(" ", lowered)))


def query_in(text: str) -> str | None:
    """The query typed in one event, or None: in an event about a search or a question, a quote led
    by a search word or followed by the engine's name ("searched for '...'", "'...' - Google
    Search"), else "searched: ..."; other quotes (a link's title, a key pressed, a message) are not.
    Without such a quote: a search engine's address ("google.com/search?q=..."), a page title
    ending in the engine's name ("... - Google Search", "... at DuckDuckGo"), or a question they
    typed for themselves (`typed_question`).
    """
    lowered = text.lower()
    # A search word inside the quote is no search: "typed 'search.m'", "'badrandResearch.m'"; a
    # quoted page title with the engine's tail is one ("\"sveltekit ... - Google Search\" · 0:55").
    titled = any(ENGINE_TAIL.search(match.group(1)) for match in QUOTED.finditer(text))
    if not (titled or SEARCH.search(QUOTED.sub(" ", lowered)) or QUESTION.search(lowered)):
        return None
    return _quoted_query(text) or _engine_query(text) or typed_question(text)


#: A search engine's results address and its query parameter ("google.com/search?q=a+b").
ENGINE_URL = re.compile(
    r"(?:google|bing|duckduckgo|ecosia|yahoo|startpage|qwant|baidu|yandex)\.[a-z.]+/\S*?[?&](?:q|query|p|wd|text)=([^&#\s]+)",
    re.IGNORECASE,
)
#: A page title's unquoted engine tail ("... - Google Search", "... at DuckDuckGo").
ENGINE_TITLE_TAIL = re.compile(
    r"\s*(?:[-—|]\s*(?:google|bing|duckduckgo)?\s*(?:search|搜索)|\bat duckduckgo|[-—|]\s*duckduckgo|[-—|]\s*bing)\s*$",
    re.IGNORECASE,
)
#: A title part that is only the engine's name (the query is the part before it).
ENGINE_ONLY = re.compile(r"^\s*(?:google(?: search)?|bing|duckduckgo|ecosia)\s*$", re.IGNORECASE)
#: Words saying the person typed or noted something for themselves (where a quoted question is theirs);
#: not "comment": in a shared document a comment is often a colleague's ("new comment: 'Which is right?'").
TYPED_FOR_SELF = re.compile(
    r"\b(?:typed?|types|typing|wrote|writes|jots?|jotted|notes?|noted|asks? (?:myself|himself|herself))\b"
)
#: A shell or code comment: "# why does this print nothing??".
COMMENT = re.compile(r"(?:^|\s)#\s+(.+)$")


def _quoted_query(text: str) -> str | None:
    """A quote led by a search word or followed by the engine's name, else "searched: ...", else None."""
    quotes = [match for match in QUOTED.finditer(text) if not match.group(1).lower().startswith(("http", "www."))]
    lead = {m.start(): text[max(0, m.start() - 24) : m.start()] for m in quotes}  # the words before each quote
    led = [m for m in quotes if QUERY_LEAD.search(lead[m.start()])]
    searched = [m for m in led if SEARCH_LEAD.search(lead[m.start()])]
    engine_next = [m for m in quotes if ENGINE_NEXT.match(text, m.end()) or ENGINE_TAIL.search(m.group(1))]
    for match in (*searched, *led, *engine_next):
        query = ENGINE_TAIL.sub("", match.group(1)).strip()
        if len(query) >= 2:
            return query
    unquoted = UNQUOTED_QUERY.search(text.strip())
    return unquoted.group(1).strip().rstrip(".") if unquoted else None


def _engine_query(text: str) -> str | None:
    """The query of a search engine's results page named by its address or its title, else None."""
    address = ENGINE_URL.search(text)
    if address:
        query = " ".join(unquote_plus(address.group(1)).split())
        if len(query) >= 2:
            return query
    parts = PART_BREAK.split(text)
    for index, part in enumerate(parts):
        if URL.fullmatch(part.strip()):
            continue
        if ENGINE_ONLY.match(part) and index > 0 and not URL.fullmatch(parts[index - 1].strip()):
            query = parts[index - 1].strip()
        elif ENGINE_TITLE_TAIL.search(part):
            query = ENGINE_TITLE_TAIL.sub("", part).strip()
        else:
            continue
        if len(query) >= 2 and not ENGINE_ONLY.match(query):
            return query
    return None


def typed_question(text: str) -> str | None:
    """A question the person typed for themselves, or None: a quoted question in an event where they
    type or note something ("note typed: 'how do I ...?'"), or a comment that asks ("# why does this
    print nothing??"); never one put to a person (`TO_PERSON`) or a web address's "?"."""
    lowered = text.lower()
    if TO_PERSON.search(lowered):
        return None
    if TYPED_FOR_SELF.search(QUOTED.sub(" ", lowered)):
        for match in QUOTED.finditer(text):
            if asked(match.group(1)):
                return match.group(1).strip()
    comment = COMMENT.search(URL.sub(" ", text))
    if comment and asked(comment.group(1)):
        return comment.group(1).strip()
    return None


def latest_found(history: Sequence[Event], find: Callable[[str], str | None]) -> str | None:
    """What `find` finds in the latest event, else in the `FAILURE_EVENTS` before it (latest first), or None."""
    for event in reversed(history[-1 - FAILURE_EVENTS :]):
        found = find(event.text)
        if found:
            return found
    return None


def cut_at_word(text: str, limit: int) -> str:
    """`text`, or its first `limit` characters cut back to the last whole word."""
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0]


def typed_query(history: Sequence[Event]) -> str | None:
    """The query of the latest search among the last few events (the latest and `FAILURE_EVENTS`
    before it), or None: what "the answer to their question" is about, when they searched."""
    return latest_found(history, query_in)


#: Where a log line's parts meet: "shell: git rebase -> CONFLICT ...", "Firefox — page — Console: ...".
PART_BREAK = re.compile(r"\s+(?:->|→|—|–|\|)\s+|;\s+")
#: Extensions of the files a person works on (a file name names what an offer is about).
FILE_EXTENSIONS = "py|js|ts|rs|go|rb|java|c|cpp|h|sql|md|txt|docx?|xlsx?|csv|pdf|pptx?|json|yaml|toml"
#: A file name with its folders ("internal/httpclient/client.go").
FILE_PATH = re.compile(rf"(?<![\w/.\-])(?:[\w.\-]+/)*[\w\-]+\.(?:{FILE_EXTENSIONS})\b")
#: A part that says the failure is gone ("conflict markers ... resolved") names none ("14 passed,
#: 1 failed" still does: `RESOLVED` is for the moment, not for one part).
SOLVED = re.compile(r"\b(re)?solved\b")
#: Longest failure put into an offer (cut at a word).
MAX_FAILURE_CHARS = 90


def failure_in(text: str) -> str | None:
    """The words of one event that say what failed, or None: its last part (parts split at "->",
    dashes, "|", ";") with an error or not-fixed word, a quote with one preferred ("the build
    says 'cannot find module x'"); cut to `MAX_FAILURE_CHARS` at a word."""
    quoted = [m.group(1) for m in QUOTED.finditer(text) if ERROR.search(m.group(1).lower())]
    parts = [part for part in PART_BREAK.split(text) if says_failure(part)]
    found = quoted[-1] if quoted else parts[-1] if parts else None
    if not found:
        return None
    # "DevTools Console: Uncaught TypeError: ..." -> from the first head that names the failure on,
    # keeping at least three words ("step 3: failed" stays whole).
    heads = found.split(": ")
    while len(heads) > 1 and not ERROR.search(heads[0].lower()) and len(" ".join(heads[1:]).split()) >= 3:
        heads = heads[1:]
    found = cut_at_word(" ".join(": ".join(heads).split()).strip(" .,:;'\""), MAX_FAILURE_CHARS)
    return found or None


def says_failure(part: str) -> bool:
    """True when one part of an event says something failed (and not that it was solved)."""
    lowered = part.lower()
    # "conflict markers ... resolved": a part that says it worked names no failure.
    return bool(ERROR.search(lowered) or NOT_FIXED.search(lowered)) and not SOLVED.search(lowered)


def _last_file(text: str) -> str | None:
    names = FILE_PATH.findall(text)
    return str(names[-1]) if names else None


def recent_file(history: Sequence[Event]) -> str | None:
    """The file named last in the latest event and the `FAILURE_EVENTS` before it, or None."""
    return latest_found(history, _last_file)


def recent_failure(history: Sequence[Event]) -> str | None:
    """What failed in the latest event, else in the `FAILURE_EVENTS` before it (what "<their error>"
    or "<what still fails>" stands for), or None."""
    return latest_found(history, failure_in)
