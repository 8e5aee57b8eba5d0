"""The offer writer: once the gate has opened, one short task line that names its object, or nothing.

What the earlier writer got wrong, and what this one does instead:

- It chose from a menu of four stock tasks in its prompt and copied them ("find the
  information they need" 33 times). Here the prompt has no menu; it asks for the one thing
  to do next, naming what it is about in the person's own words, and allows `null`.
- It wrote purpose, thoughts and message (~60-75 tokens) for a one-line notification.
  Here the answer is `{"task": ...}` alone: ~15 tokens.
- Its own earlier answers were assistant turns, and a small model copied them. Here the
  earlier offers are lines of the activity log with the person's answer ("dismissed"),
  and the writer never sees a full answer of its own as a turn.
- It never heard the person's answers. `Observation.feedback` is shown beside each
  earlier offer, and an offer that repeats a dismissed one is dropped.

- At a search or a formula that keeps failing, the 1.5B answered with the name of what they
  did ("Google Search", "format currency") and was declined as too short, so the moments that
  most needed help got silence. The question now shows the *shape* of a good offer, with
  placeholders for the person's own words, for the kind of moment it is (`situation.py`): a
  search ("Find out <the answer to their question>"), a failure on screen ("Explain why <their
  error> happens in <their file> and fix it"), a step done over and over by hand ("Finish <the
  rest of that step> for them", session 17: at such moments of the read sets the 1.5B retold the
  step or declined it as theirs), a long stay on one box, step or line told in the event ("Draft
  <what that box, step or line needs> for them", session 18: at such moments of blind4 it retold
  the stay or took a failure shape from an earlier error), a step that did not fix a recent
  failure; and none at a click, a scroll or typing along. Shown always (session 12, in the system prompt),
  the shapes made the model invent failures at ProactiveBench's clicks and scrolls ("Find out
  why the user is switching to VS Code again and correct it"). Worked examples from other
  people's days were copied word for word, and naming the bad answers ("not Google Search")
  made the model say them. A placeholder left in names nothing, so it is declined, except the
  search shape's when the query they typed is found (`situation.typed_query`): that placeholder
  stands for it, so it is filled (`FILLED_SEARCH`); the 1.5B left it in at most searches typed
  in Chinese ('js 淡入淡出') or named only in an earlier event. Likewise the failure shapes'
  ("Explain why <their error> happens in <their file> and fix it", said as is at 6 of the 224
  new-trace events, merge conflicts among them): the failure the latest events show
  (`situation.recent_failure`) and its file fill them (`filled_failure`).

After the model answers, checks can turn the answer into a *decline* (silence, the person
sees nothing, the proposal's `thoughts` say why): the model said null; the task is under
`MIN_TASK_WORDS` words; it starts with a click or keystroke (`UI_STEPS`) or a step of their own
(`OWN_STEPS`: "continue working on ...", "Retype the formula ..."); it copies
`COPY_WORDS` words of its own prompt or leaves one of its placeholders in; it names nothing
from the last `GROUNDING_EVENTS` events (a stock phrase; a plural counts as its singular);
it retells an event (`ECHO_WORDS`, `ECHO_SHARE`; a task that starts with an answering verb
may quote the query they typed: it offers the answer); it repeats an offer the person
dismissed.

An offer that repeats one made within `REPEAT_EVENTS` events and still unanswered *stands
again*: the proposal is that earlier task word for word, with `Proposal.repeats` naming its
event. Where nobody answers (the bench) the offer is still in front of the person, so the
moment is not a silence; the live assistant has already shown it and had its answer, and
never shows a repeat twice (`assist/loop.py`). The activity log lists only answered offers.

Speed: the prompt is [system][activity lines ... question], the question restating the
latest event. Activity lines are only ever appended (the window moves in steps of
`WINDOW_STEP` lines), so llama.cpp reuses the KV cache of everything but the new lines and
the question; `prefill` reads the log in while the gate is closed, and the LLM gate
(`gate/llm_gate.py`) asks its yes/no over the very same prefix (`prompts/activity.py`).
On the embedded backend the answer starts from its fixed opening `{"task":` and stops when
the task's string closes (`models/greedy_grammar.py`): 3-4 fewer decode steps an offer.
Shorter prompts were tried and cost quality (docs/assist.md): without the question the
1.5B retold the latest event; without the restated latest event it named fewer objects.
"""

from __future__ import annotations

import functools
import re
from dataclasses import asdict, dataclass, fields

from pydantic import BaseModel, Field

from proactive.models.base import ChatModel, Message, Usage
from proactive.models.structured import ModelOutputError
from proactive.prompts import render
from proactive.prompts.activity import ACTIVITY_TEMPLATE, SYSTEM_TEMPLATE, shared_prefix, window_start, with_question
from proactive.situation import (
    PART_BREAK,
    QUOTED,
    Situation,
    cut_at_word,
    query_in,
    recent_failure,
    recent_file,
    says_failure,
    situation_of,
    typed_query,
)
from proactive.types import Event, Judgement, Observation, Proposal, is_silence

WRITE_TEMPLATE = "offer_write.j2"
#: Events whose words a task must share to count as naming its object.
GROUNDING_EVENTS = 8
#: Events after an unanswered offer during which a task repeating it is that offer standing again
#: (later it is a new offer; a repeat of a dismissed one is never offered).
REPEAT_EVENTS = 4
COPY_WORDS = 5
#: Letters two words must share at the start to count as the same word.
STEM = 5
#: First words of tasks that tell the person to press something ("Click on the search results page",
#: "Open the 'Code.exe' application": 10 of the first 24 offers on ProactiveBench): not help.
UI_STEPS = frozenset({
    "open", "click", "scroll", "type", "press", "navigate", "go", "switch", "return", "close", "select", "hover",
    "drag", "tap",
})  # fmt: skip
#: First words of tasks that name a step of the person's own, not work done for them ("continue working
#: on Visual Studio Code", "copy text from a web page", "listen to the playlist", "Read the blog post on
#: split borrows ...", "Retype the formula in cell H2", "Ask Iwan if he can lend the car"): the prompt
#: asks for work the assistant does and never to tell them to redo what they just did. A first word
#: in -ing describes what they do ("tagging categories by hand", "scrolling ...").
OWN_STEPS = frozenset({
    "continue", "start", "copy", "paste", "listen", "read", "pause", "keep", "retype", "redo", "repeat", "retry",
    "revert", "ask",
})  # fmt: skip
#: Fewer words than this is a name, not an offer ("billing_invoice"), or a bare verb and noun with
#: nothing to say what in ("add margin comment", "write a sketch", "prepare the sauce"): on the read
#: new-trace sets (session 18, session 17's agent) 8 offers had three words, 6 at calm moments, and one of
#: the 2 at need named its object ("Export PDF again", a step of their own).
MIN_TASK_WORDS = 4
#: A task retells a recent event when it shares a run of at least `ECHO_WORDS` words with the
#: event and that run is `ECHO_SHARE` of the task ("Now it was E0502 again in the same function
#: ..."). Both, not a fixed run alone: "Write a Rust function to borrow two fields of self mutably
#: at the same time" (a 10-word run of their query, 10 of 15 words) offers to do what they looked
#: for. Not the share alone: short tasks made of the query ("Split a string in Ruby") were offers
#: on ProactiveBench, and declining them there cut the agent's speaking from 27% to 17%.
ECHO_WORDS = 8
ECHO_SHARE = 0.75
MAX_TASK_CHARS = 110
#: Words of the search shape's placeholder (prompts/offer_write.j2) that mark it left in a task.
SEARCH_SLOT = re.compile(r"\btheir question\b", re.IGNORECASE)
#: The failure shapes' placeholders for what failed (prompts/offer_write.j2), and for its file.
FAILURE_SLOT = re.compile(r"<(?:their error|what still fails)>", re.IGNORECASE)
FILE_SLOT = re.compile(r"<their file>", re.IGNORECASE)
FILE_PHRASE = re.compile(r"\s+(?:in|of|from)\s+<their file>", re.IGNORECASE)
#: The offer a task that leaves the search placeholder in becomes, with the query they typed.
FILLED_SEARCH = "Find the answer to '{query}' and sum it up"
#: Longest query put into `FILLED_SEARCH` (cut at a word).
MAX_QUERY_CHARS = 80
#: Share of a declined task's content words from the query they typed that makes it point at the query.
QUERY_SHARE = 0.6
#: First words of a task that offers an answer (to a query the person typed, which it may quote).
ANSWERING_VERBS = frozenset({"find", "explain", "answer"})

#: A word: Latin letters and digits, or a run of CJK characters (Chinese, Japanese, Korean write
#: no spaces; ProactiveBench's searches are often Chinese: 'go 语言', 'html 引用js').
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af"
_WORD = re.compile(rf"[a-z0-9][a-z0-9_\-.]*[a-z0-9]|[a-z0-9]|[{_CJK}]+", re.IGNORECASE)
_CJK_RUN = re.compile(f"[{_CJK}]+")
#: Words that name nothing: a task made only of these is a stock phrase.
STOP_WORDS = frozenset(
    """
    a an the and or but of to in on at for with from by as is are be it its this that these those their
    they them you your my me i we our us he she his her him help offer find get make do does done some
    any all more what which who how why when where can could would should will may might need needs
    needed want wants information info info. thing things step steps work task tasks issue issues
    problem problems code text file files document page search results result error errors user person
    someone now next current currently review check explain fix write show open look looking use using
    about into up out there here them then just also new one two way quick quickly better best suggest
    suggestion provide assist assistance working
    """.split()  # noqa: SIM905 (a word list reads better as text)
)


class WriterOffer(BaseModel):
    """What the writer model writes: one task line, or null to decline."""

    task: str | None = Field(max_length=MAX_TASK_CHARS, description="The one thing to do for them next, or null.")


def writer_messages(observation: Observation) -> list[Message]:
    """The writer's whole prompt."""
    moment = asdict(situation_of(observation.history))
    return with_question(shared_prefix(observation), WRITE_TEMPLATE, latest=latest_text(observation), **moment)


def latest_text(observation: Observation) -> str:
    """The latest event, restated after the log: a small writer then anchors its offer on it
    (on the new traces' dev set, offers named their object at 46% of moments with it, 29% without)."""
    return " ".join(observation.history[-1].text.split())


def content_words(text: str) -> set[str]:
    """Lower-cased words of `text` that can name something (stop words and 1-2 letter words out);
    a CJK run gives its character pairs ('电子邮件' -> '电子', '子邮', '邮件'): with no spaces to
    split on, pairs are how two texts in those scripts are found to name the same thing."""
    words: set[str] = set()
    for word in (w.lower().strip(".-_") for w in _WORD.findall(text)):
        if _CJK_RUN.fullmatch(word):
            words |= {word[i : i + 2] for i in range(len(word) - 1)}
        elif len(word) > 2 and word not in STOP_WORDS:
            words.add(word)
    return words


def _stem(word: str) -> str:
    """A crude stem: the first `STEM` letters ('migration' and 'migrate' meet at 'migra')."""
    return word[:STEM]


def _singular(word: str) -> str:
    """'cups' -> 'cup', 'files' -> 'file': a plural names the same thing (not 'class', 'status')."""
    return word[:-1] if len(word) >= 4 and word.endswith("s") and not word.endswith(("ss", "us", "is")) else word


def names_something(task: str, recent: list[Event]) -> bool:
    """True when the task shares a content word (or its stem) with the recent events: it names its object."""
    seen: set[str] = set()
    for event in recent:
        seen |= content_words(event.text)
    seen |= {_singular(w) for w in seen}
    stems = {_stem(w) for w in seen if len(w) >= STEM}
    words = content_words(task)
    words |= {_singular(w) for w in words}
    return bool(words & seen) or any(len(w) >= STEM and _stem(w) in stems for w in words)


def _shingles(text: str, size: int) -> set[tuple[str, ...]]:
    words = [w.lower() for w in _WORD.findall(text)]
    return {tuple(words[i : i + size]) for i in range(len(words) - size + 1)}


def _fixed_prompt() -> str:
    """The writer's prompt text without the person's activity, the question in every situation."""
    blanks: dict[str, object] = {"lines": [], "latest": ""}
    # StrictUndefined: every flag is given each time, one of them on.
    flags = [field.name for field in fields(Situation)]
    situations = [{flag: flag == on for flag in flags} for on in flags]
    questions = [render(WRITE_TEMPLATE, **blanks, **situation) for situation in situations]
    return " ".join([render(SYSTEM_TEMPLATE, **blanks), render(ACTIVITY_TEMPLATE, **blanks), *questions])


def prompt_shingles() -> set[tuple[str, ...]]:
    """Every run of `COPY_WORDS` words in the writer's fixed prompt text."""
    return _shingles(_fixed_prompt(), COPY_WORDS)


@functools.cache
def placeholder_pattern() -> re.Pattern[str]:
    """Matches a placeholder of the prompt's offer shapes ("<their error>") left in a task, filled or
    not: "<" and one of the words the prompt's placeholders start with, read from the prompt itself."""
    openings = sorted({word.lower() for word in re.findall(r"<(\w+)", _fixed_prompt())})
    return re.compile(r"<(?:" + "|".join(openings) + r")\b" if openings else r"(?!)", re.IGNORECASE)


def copies_prompt(task: str, shingles: set[tuple[str, ...]] | None = None) -> bool:
    """True when the task contains `COPY_WORDS` consecutive words of the writer's prompt."""
    return bool(_shingles(task, COPY_WORDS) & (shingles if shingles is not None else prompt_shingles()))


def _longest_shared_run(words: list[str], other: list[str]) -> int:
    """Length of the longest run of consecutive words that `words` and `other` share."""
    best = 0
    previous = [0] * (len(other) + 1)
    for word in words:
        current = [0] * (len(other) + 1)
        for j, candidate in enumerate(other, start=1):
            if word == candidate:
                current[j] = previous[j - 1] + 1
                best = max(best, current[j])
        previous = current
    return best


def echoes_activity(task: str, recent: list[Event]) -> bool:
    """True when most of the task is a run of words of a recent event (it retells, not offers).

    A task that starts with an answering verb ("Explain how to cite both the journal and arxiv
    version") may take the words of the query they typed (`situation.query_in`): it offers the
    answer they were searching for. Likewise the words of a failure ("Explain why the error 'Error
    in `left_join()`: Join columns ...'"): the failure shapes quote it too. Not those of other
    quotes: "Find out groceries were £412 in November?? we need to talk lol" retells a message they sent.
    """
    words = [w.lower() for w in _WORD.findall(task)]
    needed = max(ECHO_WORDS, ECHO_SHARE * len(words))
    answers = bool(words) and words[0] in ANSWERING_VERBS
    for event in recent:
        query = query_in(event.text) if answers else None
        text = event.text.replace(query, " ") if query else event.text
        if answers:
            text = " ".join(part for part in PART_BREAK.split(text) if not says_failure(part))
        if _longest_shared_run(words, [w.lower() for w in _WORD.findall(text)]) >= needed:
            return True
    return False


def similar(a: str, b: str) -> bool:
    """Near-identical tasks (content-word Jaccard >= 0.6, or equal when neither has content words)."""
    wa, wb = content_words(a), content_words(b)
    if not wa or not wb:
        return " ".join(a.lower().split()) == " ".join(b.lower().split())
    return len(wa & wb) / len(wa | wb) >= 0.6


DISMISSED_REPEAT = "repeats an offer they dismissed"


def _earlier_offers(observation: Observation) -> list[int]:
    """Indexes of earlier offers, latest first; a standing repeat is the same offer, so it is left out."""
    earlier_count = min(len(observation.previous), len(observation.history) - 1)
    return [
        index for index in range(earlier_count - 1, -1, -1)
        if not observation.previous[index].is_silence and observation.previous[index].repeats is None
    ]  # fmt: skip


def _answer(observation: Observation, index: int) -> Judgement | None:
    return observation.feedback[index] if index < len(observation.feedback) else None


def repeated_offer(task: str, observation: Observation) -> str | None:
    """Why `task` may not be offered: it repeats an offer the person dismissed (at any time), else None."""
    for index in _earlier_offers(observation):
        answer = _answer(observation, index)
        if answer is not None and not answer.accepted and similar(task, observation.previous[index].task or ""):
            return DISMISSED_REPEAT
    return None


def standing_offer(task: str, observation: Observation) -> int | None:
    """Index of an offer made within `REPEAT_EVENTS` events, still unanswered, that `task` repeats.

    Such an offer still stands: the agent says it again rather than a reworded copy or nothing,
    and the live assistant, which knows it was shown, does not show it twice.
    """
    latest = len(observation.history) - 1
    for index in _earlier_offers(observation):
        if latest - index > REPEAT_EVENTS:
            break
        if similar(task, observation.previous[index].task or ""):
            return index if _answer(observation, index) is None else None
    return None


def answers_query_in_other_script(task: str, observation: Observation) -> bool:
    """True for an answering task at a search typed in Chinese, Japanese or Korean: the writer
    translates ("Find out how to remove duplicates from an array in JavaScript" for 'js 数组去重'),
    and words cannot be compared across scripts, so the names check cannot judge it; the task
    must still say something (a content word: not "Find out more about it now")."""
    words = task.split()
    query = typed_query(observation.history)
    answering = words[0].lower() in ANSWERING_VERBS and len(words) >= 5 and bool(content_words(task))
    return answering and bool(query and _CJK_RUN.search(query))


def is_label_on_screen(task: str, latest: str) -> bool:
    """True when the task is only a quoted label of the latest event: a button they just clicked
    ("View in Sheets" at "... 'View in Sheets' clicked")."""
    said = task.strip(" .'\"").lower()
    return any(label.strip().lower() == said for label in QUOTED.findall(latest))


def decline_reason(task: str, observation: Observation, shingles: set[tuple[str, ...]] | None = None) -> str:
    """Why the writer would not offer `task` at this moment (see the module docstring), or ""."""
    recent = observation.history[-GROUNDING_EVENTS:]
    if len(task.split()) < MIN_TASK_WORDS:
        return "too short to be an offer"
    first = task.split()[0].lower().strip("'\",.:;")
    if first in UI_STEPS or is_label_on_screen(task, observation.history[-1].text):
        return "a click or keystroke they would do themselves, not help"
    if first in OWN_STEPS or (first.endswith("ing") and len(first) > 5):
        return "a step of their own, not work done for them"
    if copies_prompt(task, shingles):
        return "copies its instructions"
    if placeholder_pattern().search(task):
        return "leaves a placeholder of its instructions in"
    if not names_something(task, recent) and not answers_query_in_other_script(task, observation):
        return "names nothing from the activity"
    if echoes_activity(task, recent):
        return "retells the activity instead of offering work"
    return repeated_offer(task, observation) or ""


def filled_search(task: str, observation: Observation) -> str | None:
    """`FILLED_SEARCH` with the query they typed, when `task` leaves the search shape's placeholder
    in and a query is found among the latest events; else None."""
    if not SEARCH_SLOT.search(task):
        return None
    query = typed_query(observation.history)
    if not query:
        return None
    return FILLED_SEARCH.format(query=cut_at_word(query, MAX_QUERY_CHARS))


def restated_query(task: str, observation: Observation) -> str | None:
    """`FILLED_SEARCH` with the query they typed, when `task` is mostly that query's words (at least
    `QUERY_SHARE` of its content words), else None.

    At a search or a question they typed, the 1.5B often answered with the query itself ("Can I
    claim direct debit guarantee if gym froze instead of cancelled?", "keep only top n species per
    facet ..."), which is declined as retelling the activity or as a step of their own: 4 of the
    second blind set's 18 declines at need (writer asked at every event) were such answers. Such
    an answer points at the query, and the offer it points at is to find that answer.
    """
    query = typed_query(observation.history)
    words = content_words(task)
    if not query or not words:
        return None
    query_words = content_words(query)
    query_words |= {_singular(w) for w in query_words}
    stems = {_stem(w) for w in query_words if len(w) >= STEM}
    shared = sum(1 for w in words if _singular(w) in query_words or (len(w) >= STEM and _stem(w) in stems))
    return (
        FILLED_SEARCH.format(query=cut_at_word(query, MAX_QUERY_CHARS)) if shared >= QUERY_SHARE * len(words) else None
    )


def filled_failure(task: str, observation: Observation) -> str | None:
    """`task` with the failure shapes' placeholders ("<their error>", "<what still fails>") standing
    for what failed in the latest events, quoted, and "<their file>" for the file named there
    (dropped when none is, or the failure names it already); None when `task` has no failure
    placeholder, nothing failed lately, or a placeholder would still be left in."""
    if not FAILURE_SLOT.search(task):
        return None
    failure = recent_failure(observation.history)
    if not failure:
        return None
    filled = FAILURE_SLOT.sub(lambda _: f"'{failure}'", task)
    file = recent_file(observation.history)
    named = file is not None and file not in failure
    filled = FILE_SLOT.sub(lambda _: str(file), filled) if named else FILE_PHRASE.sub("", filled)
    return None if placeholder_pattern().search(filled) else filled


@dataclass
class WrittenOffer:
    """The writer's result: a task or a decline (with why), and what the call cost."""

    task: str | None
    declined: str = ""
    usage: Usage | None = None
    cached: bool = False
    invalid: bool = False
    problem: str = ""
    #: The line the model wrote when a check declined it or its placeholder was filled (for reports).
    candidate: str = ""
    #: Event index of the unanswered offer this one repeats (it stands again), if any.
    repeats: int | None = None


class OfferWriter:
    """Writes one offer with a chat model; see the module docstring."""

    def __init__(self, model: ChatModel, max_tokens: int = 48, temperature: float = 0.0) -> None:
        self.model = model
        self.max_tokens = max_tokens
        self.temperature = temperature
        self._shingles = prompt_shingles()

    async def write(
        self, observation: Observation, temperature: float | None = None, seed: int | None = None
    ) -> WrittenOffer:
        """The offer for the moment after the latest event, or a decline.

        A repeat of a recent unanswered offer is that offer standing again, not retried: asked
        for "another, different" offer, greedy or sampled at 0.7, the 1.5B wrote the same line
        again (new traces' dev set). `temperature` (default the writer's) and `seed` are for
        drawing several candidates (`train writer-data`).
        """
        chosen = self.temperature if temperature is None else temperature
        return await self._ask(writer_messages(observation), observation, chosen, seed)

    async def prefill(self, observation: Observation) -> Usage | None:
        """Evaluate the activity log now (a backend without a KV cache ignores this: None), so that
        an offer at a later event only costs the new lines, its question and its answer."""
        prefill = getattr(self.model, "prefill", None)
        if callable(prefill):
            # The window the next event will show: when it moves, the whole log is read again,
            # and this way that happens now, while silent, not when an offer is awaited.
            ahead = window_start(len(observation.history) + 1)
            usage = await prefill(shared_prefix(observation, start=ahead))
            return usage if isinstance(usage, Usage) else None
        return None

    async def _ask(
        self, messages: list[Message], observation: Observation, temperature: float, seed: int | None = None
    ) -> WrittenOffer:
        try:
            result = await self.model.generate(
                messages, schema=WriterOffer, temperature=temperature, max_tokens=self.max_tokens, seed=seed
            )
        except ModelOutputError as exc:
            return WrittenOffer(None, "invalid answer", exc.usage, False, True, exc.problem)
        task = result.parsed.task
        offer = WrittenOffer(None, "", result.usage, result.cached)
        if is_silence(task):
            offer.declined = "nothing concrete to offer"
            return offer
        task = " ".join(str(task).split())
        filled = filled_search(task, observation) or filled_failure(task, observation)
        if filled:
            offer.candidate, task = task, filled
            offer.declined = repeated_offer(task, observation) or ""
        else:
            offer.declined = decline_reason(task, observation, self._shingles)
            restated = restated_query(task, observation) if offer.declined not in ("", DISMISSED_REPEAT) else None
            if restated:
                offer.candidate, task = task, restated
                offer.declined = repeated_offer(task, observation) or ""
        if offer.declined:
            offer.candidate = task
            return offer
        offer.repeats = standing_offer(task, observation)
        # A standing offer is said again word for word: the same offer, not a reworded one.
        offer.task = task if offer.repeats is None else observation.previous[offer.repeats].task
        return offer


def proposal_of(offer: WrittenOffer, gate_probability: float | None) -> Proposal:
    """The proposal for an offer (a decline is silence with the reason in `thoughts`)."""
    if offer.task is None:
        written = f": {offer.candidate!r}" if offer.candidate else ""
        thoughts = f"writer declined ({offer.declined}){written}"
        return Proposal(task=None, thoughts=thoughts, gate_probability=gate_probability)
    thoughts = f"filled the placeholders of {offer.candidate!r}" if offer.candidate else ""
    return Proposal(
        task=offer.task, message=offer.task, thoughts=thoughts, gate_probability=gate_probability,
        repeats=offer.repeats,
    )  # fmt: skip
