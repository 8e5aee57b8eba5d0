"""The privacy filter: every sensed sentence passes `redact()` before it is shown, stored or sent.

Each finding becomes `[REDACTED:<kind>]`. Kinds (in priority order: when two findings overlap,
the earlier kind wins, so a JWT inside `?token=` is tagged `jwt`):

- private_key: PEM blocks `-----BEGIN ... PRIVATE KEY----- ... -----END ...-----`; a lone BEGIN
  line (a one-line window title) takes the base64 that follows it on that line.
- jwt: three base64url parts, the header starting `eyJ`.
- aws_access_key, aws_secret_key, github_token, gitlab_token, slack_token, slack_webhook,
  stripe_key, anthropic_key, openai_key, google_api_key, huggingface_token, npm_token,
  sendgrid_key, twilio_key: the vendors' published token shapes.
- url_password: `scheme://user:PASSWORD@host` (user and host are kept).
- bearer_token, basic_auth: `Bearer <token>` and `Basic <base64 of user:pass>`.
- query_secret: the value of secret-looking URL parameters (`?token=`, `&key=`, `#access_token=`...).
- secret_assignment: the value in `password: x`, `api_key=x`, `DB_PASSWORD="x"`, `mysql -px`...
- recovery_phrase: 12 or more BIP-39 words in a row (a crypto wallet's seed), quoted or not.
- password, from context alone: a quoted value typed into a field named password / passphrase / passcode /
  PIN (`types 'x' into the Password field`, `fills the PIN box with 'x'`, `enters the password x9!y`), and
  what follows a `[sudo] password for u:`, `Enter passphrase for key '...':`, `u@host's password:` or
  git `Password for '...':` prompt. A field word inside quotes (`searches for 'reset password'`) or
  followed by manager / policy / length / settings... names no field.
- email, iban (mod-97 checked), card_number (Luhn and card-network prefix checked), phone; ssn: AAA-GG-SSSS
  (dashes, spaces or none; no 000 / 666 / 9xx area) only with SSN, social security, taxpayer, TIN, W-9, I-9...
  within 80 characters.

Choices where text is ambiguous (the corpus in tests/data pins each one):
- `key=value` in prose passes; URL parameters (after `?`, `&`, `#` or `;`) named `key`, `token`,
  `sig`... are redacted whatever the value, since a URL gives no way to tell a secret from a word.
- Assignments redact any value except code-like ones (`os.environ[...]`, `getpass()`, `${VAR}`,
  type names like `str`, placeholders like `None`, values under 3 characters like `token=1`):
  over-redacting a word beats leaking a password. Prose ("my password is x") is not caught.
- Phone numbers need a `+` country code or a common national layout ((555) 123-4567, 555-123-4567,
  020 7946 0958, 06 12 34 56 78); a bare run of ten digits is left alone (it is as often an id).
- `git@host:repo` (an SSH remote), `scheme://user@host` (a URL user without a password) and
  `name@2x.png` (an image) are not e-mail addresses.
- A card number must start with a card network's prefix (4, 51-55, 2221-2720, 34/37, 6011/65, 36/38/30,
  35, 62, 50/56-69): ms timestamps and ISBN-13s (1..., 978...) never do.

Idempotent: text already inside a `[REDACTED:...]` tag is never matched again.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from proactive.sense.bip39 import WORDS as BIP39_WORDS

TAG = re.compile(r"\[REDACTED:[a-z_]+\]")
_EDGE = r"(?<![A-Za-z0-9_\-])"  # a token must not continue a longer word on its left...
_END = r"(?![A-Za-z0-9_\-])"  # ...nor on its right


class Redaction(BaseModel):
    """One finding: `text[start:end]` is a secret of `kind`."""

    model_config = ConfigDict(frozen=True)
    kind: str
    start: int
    end: int


Picker = Callable[[re.Match[str]], tuple[int, int] | None]


@dataclass(frozen=True)
class _Rule:
    kind: str
    pattern: re.Pattern[str]
    pick: Picker | None = None  # span of the secret, or None to reject; default: group 1 if any, else all
    # A cheap substring that every match contains (lower-cased text is searched), to skip the regex.
    hint: tuple[str, ...] = ()
    min_digits: int = 0  # numbers (cards, phones, IBANs) are skipped outright in text with fewer digits
    min_separators: int = 0  # word runs (recovery phrases) are skipped in text with fewer spaces, tabs, commas


def _group_span(match: re.Match[str]) -> tuple[int, int]:
    group = 1 if match.re.groups else 0
    return match.span(group)


def _whole(match: re.Match[str]) -> tuple[int, int]:
    return match.span()


def _has_digit_and_letter(value: str) -> bool:
    return any(c.isdigit() for c in value) and any(c.isalpha() for c in value)


def _mixed_token(match: re.Match[str]) -> tuple[int, int] | None:
    """Vendor prefixes like `sk-` or `Bearer` also start words; real tokens mix digits and letters."""
    start, end = _group_span(match)
    return (start, end) if _has_digit_and_letter(match.string[start:end]) else None


def _basic_auth(match: re.Match[str]) -> tuple[int, int] | None:
    """`Basic Settings` is a word; `Basic dXNlcjpwYXNz` decodes to `user:pass`."""
    value = match.group(1)
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return match.span(1) if ":" in decoded and decoded.isprintable() else None


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


#: Visa 4; Mastercard 51-55, 2221-2720; Maestro 50, 56-69; Amex 34/37; Diners 30/36/38/39; JCB 35; Discover, UnionPay 6.
_CARD_PREFIX = re.compile(r"[456]|2(?:22[1-9]|2[3-9]|[3-6]|7[01]|720)|3[04-9]")


def _card(match: re.Match[str]) -> tuple[int, int] | None:
    text = match.group(0)
    if len({c for c in text if not c.isdigit()}) > 1:  # one separator kind: "4111 1111-1111" is not a card
        return None
    digits = re.sub(r"\D", "", text)
    if not 13 <= len(digits) <= 19 or not _CARD_PREFIX.match(digits) or not _luhn_ok(digits):
        return None
    return match.span()


#: IBAN length per country (SWIFT registry); the length both validates and cuts off trailing text.
_IBAN_LENGTH = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
    "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
    "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29,
    "RO": 24, "RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip


def _iban(match: re.Match[str]) -> tuple[int, int] | None:
    """Take exactly the country's length of characters (single spaces allowed), then the mod-97 check."""
    text = match.group(0)
    length = _IBAN_LENGTH.get(text[:2])
    if length is None:
        return None
    chars: list[str] = []
    end = 0
    for index, char in enumerate(text):
        if char != " ":
            chars.append(char)
            end = index + 1
            if len(chars) == length:
                break
    after = match.string[match.start() + end : match.start() + end + 1]
    if len(chars) < length or after.isalnum():
        return None
    compact = "".join(chars)
    number = "".join(str(int(c, 36)) for c in compact[4:] + compact[:4])
    return (match.start(), match.start() + end) if int(number) % 97 == 1 else None


def _phone(low: int, high: int) -> Picker:
    def pick(match: re.Match[str]) -> tuple[int, int] | None:
        digits = sum(c.isdigit() for c in match.group(0))
        return match.span() if low <= digits <= high else None

    return pick


def _email(match: re.Match[str]) -> tuple[int, int] | None:
    local, domain = re.split(r"@|%40", match.group(0), maxsplit=1)
    if local.lower() == "git" or re.match(r"\d+(?:\.\d+)?x\.", domain):  # SSH remote; retina image name
        return None
    return match.span()


#: A word that says a number near it is a US social security number (the rule needs one within 80 characters).
_SSN_CONTEXT = re.compile(r"(?i)\bssn\b|social[ -]security|\btaxpayer\b|\bi?tin\b|\b(?:w-?[249]|i-?9)\b")


def _ssn(match: re.Match[str]) -> tuple[int, int] | None:
    """AAA-GG-SSSS (dashes, spaces or none) with an SSN word nearby: alone the shape is as often an id."""
    start, end = match.span()
    near = match.string[max(0, start - 80) : end + 80]
    return (start, end) if _SSN_CONTEXT.search(near) else None


def _recovery_phrase(match: re.Match[str]) -> tuple[int, int] | None:
    """The first run of 12 or more BIP-39 words in a run of lower-case words."""
    run: list[re.Match[str]] = []
    for word in re.finditer(r"[a-z]+", match.group(0)):
        if word.group(0) in BIP39_WORDS:
            run.append(word)
            continue
        if len(run) >= 12:
            break
        run = []
    if len(run) < 12:
        return None
    return match.start() + run[0].start(), match.start() + run[-1].end()


_QUOTE = re.compile(r"\"|(?<![A-Za-z])'|'(?![A-Za-z])")  # an apostrophe inside a word (user's) is no quote


def _typed_secret(match: re.Match[str]) -> tuple[int, int] | None:
    """The quoted value, unless the field word itself sits inside quotes (`searches for 'reset password'`)
    or the value has no letter or digit (`'...'`)."""
    group = next(g for g in ("single", "double", "single2", "double2") if match.group(g) is not None)
    value = match.group(group)
    if not any(c.isalnum() for c in value):
        return None
    word = match.start("word") if "word" in match.re.groupindex and match.start("word") >= 0 else -1
    if word >= 0 and word < match.start(group) and len(_QUOTE.findall(match.string, 0, word)) % 2:
        return None
    return match.span(group)


def _prompt_answer(match: re.Match[str]) -> tuple[int, int] | None:
    """What follows a password prompt, unless it is only punctuation (`[sudo] password for dev: - Terminal`)."""
    start, end = match.span(1)
    return (start, end) if any(c.isalnum() for c in match.string[start:end]) else None


_NOT_A_VALUE = frozenset({
    "none", "null", "nil", "true", "false", "undefined", "empty", "str", "string", "int", "bytes", "bool",
    "any", "optional", "secretstr", "required", "yes", "no", "prompt",
})  # fmt: skip


def _assignment(match: re.Match[str]) -> tuple[int, int] | None:
    """Redact the value unless it is code (a call, an index, a variable) rather than a secret."""
    group = next(g for g in (1, 2, 3) if match.group(g) is not None)
    value = match.group(group)
    after = match.string[match.end(group) : match.end(group) + 1]
    if group == 3 and (after in ("(", "[") or value[0] in "$%" or value.lower() in _NOT_A_VALUE):
        return None  # a call, an index, a $VARIABLE or %VAR%, a type annotation or a placeholder
    if len(value.strip()) < 3 or value.startswith(("${", "{{", "<")):
        return None  # too short to be a secret (`token=1`), or a template placeholder
    return match.span(group)


_B64 = r"[A-Za-z0-9+/=]"
_PEM_HEAD = r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
_PEM_END = r"-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
_QUERY_NAMES = (
    r"token|access_token|refresh_token|id_token|auth_token|private_token|api_key|apikey|api-key|key|access_key"
    r"|sig|signature|password|passwd|pwd|pass|secret|client_secret|auth|session|sessionid|session_id|sid|jwt|otp"
    r"|jsessionid|phpsessid|x-amz-signature|x-amz-credential|x-amz-security-token|awsaccesskeyid"
    r"|x-goog-signature|x-goog-credential"
)
_SECRET_NAMES = (
    r"password|passwd|passphrase|secret|token|api[_-]?key|apikey|access[_-]?key|secret[_-]?key|private[_-]?key"
    r"|account[_-]?key|client[_-]?secret"
)

# Context-keyed passwords: a quoted value typed into a field named password / passphrase / PIN, or
# the field named first and then the value; and what is typed after a sudo, ssh, git or openssl prompt.
_FIELD = r"(?:password|passwort|passwd|passcode|pass ?phrase|(?-i:PIN))s?\b"
_NOT_A_FIELD = r"(?!\s+(?:managers?|polic(?:y|ies)|length|reset|settings|strength|hints?|requirements?|rules?|generator"
_NOT_A_FIELD += r"|expir\w*|history|attempts?|changes?)\b)"
_TYPING = r"(?:type[sd]?|typing|enter(?:s|ed|ing)?|paste[sd]?|pasting|inputs?|keys? in|keyed in|fill(?:s|ed)? in"
_TYPING += r"|writes?|wrote|writing|sets?|setting|chooses?|chose)"


def _quoted(suffix: str = "") -> str:
    """A value in single or double quotes (groups `single<suffix>`, `double<suffix>`)."""
    single, double = rf"'(?P<single{suffix}>[^'\n]{{1,200}})'", rf"\"(?P<double{suffix}>[^\"\n]{{1,200}})\""
    return rf"(?<![\w'\"])(?:{single}|{double})(?![A-Za-z0-9])"


_QUOTED, _QUOTED_2 = _quoted(), _quoted("2")
_FILLER = r"(?:(?!(?:and|then|but|while|before|after)\b)[\w.@'\"()\[\]-]+\s+)"
_VALUE_INTO_FIELD = (  # `types 'x' into the Password field`, `... and 'x' into the PIN field` (verb elided)
    rf"(?i)(?:\b{_TYPING}\s+{_QUOTED}\s+(?:into|in|at|on|as|for|to|when|after)|(?:\band|,)\s+{_QUOTED_2}\s+into)"
    rf"\s+{_FILLER}{{0,6}}?['\"\[(]?{_FIELD}{_NOT_A_FIELD}"
)
#: `entered the password Gat3way!99 and ...`: unquoted, so only a value with a digit or symbol counts.
_TYPED_BARE = (
    rf"(?i)\b{_TYPING}\s+(?:(?:the|a|his|her|their|my|your|its|new|sudo|master|wi-?fi)\s+){{0,3}}{_FIELD}"
    r"\s+((?=[^\s'\"]*[A-Za-z])(?=[^\s'\"]*[0-9!@#$%^&*_+=?~])[^\s'\"]+?)(?=[.,;:!?)]*(?:\s|$))"
)
_FIELD_THEN_VALUE = (
    rf"(?i)\b(?P<word>{_FIELD}){_NOT_A_FIELD}(?:\s+(?:field|box|input|textbox|prompt|entry|dialog))?"
    rf"(?:(?:[^'\"\n.]|\.(?=\S)){{0,60}}?\b(?:with|is|was|as|{_TYPING}))?[\s:]*{_QUOTED}"
)
_PROMPT_ANSWER = r"[ \t]*([^\s'\"]+)"
_PROMPTS = (
    r"\[sudo\] password for [^\s:]+:",  # sudo
    r"(?i)\b(?:enter|re-enter|verify|confirm)(?: \w+)?? (?:password|pass ?phrase|passcode|PIN)"  # ssh-add, openssl
    r"(?: for (?:key )?(?:'[^'\n]*'|\"[^\"\n]*\"|[^\s:'\"]+))?(?: \([^)\n]*\))?:",
    r"[\w.-]+@[\w.-]+'s password:",  # ssh
    r"(?i)\bpassword for '[^'\n]+':",  # git credential prompt
)


def _rule(
    kind: str, pattern: str, pick: Picker | None = None, hint: str | tuple[str, ...] = (), digits: int = 0,
    flags: int = 0, separators: int = 0,
) -> _Rule:  # fmt: skip
    hints = (hint,) if isinstance(hint, str) else hint
    return _Rule(kind, re.compile(pattern, flags), pick, hints, digits, separators)


# fmt: off
RULES: tuple[_Rule, ...] = (
    _rule("private_key", _PEM_HEAD + r".*?" + _PEM_END, hint="private key", flags=re.DOTALL),
    _rule("private_key", _PEM_HEAD + rf"(?:[ \t\r\n]*{_B64}{{16,}})*", hint="private key"),
    _rule("jwt", _EDGE + r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*" + _END, hint="eyj"),
    _rule("aws_access_key", r"(?<![A-Za-z0-9])(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA)[A-Z0-9]{16}(?![A-Za-z0-9])"),
    _rule("aws_secret_key", r"(?i)aws_?secret_?access_?key[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])",
          hint="secret"),
    # The ghp_ form also inside a file name ("ghp_..._notes.md": "_" may follow it) and a few
    # characters short (a key cut or mistyped is still a key).
    _rule("github_token", r"(?<![A-Za-z0-9])gh[pousr]_[A-Za-z0-9]{30,255}(?![A-Za-z0-9])", hint="_"),
    _rule("github_token", _EDGE + r"github_pat_[A-Za-z0-9_]{22,255}" + _END, hint="_"),
    _rule("gitlab_token", _EDGE + r"glpat-[A-Za-z0-9_-]{20,}" + _END, hint="glpat-"),
    _rule("slack_token", _EDGE + r"(?:xox[abposr]|xapp)-[A-Za-z0-9-]{10,}" + _END, _mixed_token, hint=("xox", "xapp")),
    _rule("slack_webhook", r"hooks\.slack\.com/(?:services|workflows|triggers)/([A-Za-z0-9/_-]{20,})",
          hint="hooks.slack.com"),
    _rule("stripe_key", _EDGE + r"(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}" + _END, hint="k_"),
    _rule("anthropic_key", _EDGE + r"sk-ant-[A-Za-z0-9_-]{20,}" + _END, hint="sk-ant-"),
    _rule("openai_key", _EDGE + r"sk-(?:(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20,}|[A-Za-z0-9]{20,})" + _END,
          _mixed_token, hint="sk-"),
    _rule("google_api_key", _EDGE + r"AIza[0-9A-Za-z_-]{35}" + _END, hint="aiza"),
    _rule("huggingface_token", _EDGE + r"hf_[A-Za-z0-9]{30,}" + _END, _mixed_token, hint="hf_"),
    _rule("npm_token", _EDGE + r"npm_[A-Za-z0-9]{36}" + _END, hint="npm_"),
    _rule("sendgrid_key", _EDGE + r"SG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{16,64}" + _END, hint="sg."),
    _rule("twilio_key", r"(?<![A-Za-z0-9])SK[0-9a-f]{32}(?![A-Za-z0-9])", hint="sk"),
    _rule("url_password", r"(?i)\b[a-z][a-z0-9+.-]*://[^\s:/@?#\[\]]+:([^\s@/?#]+)@", hint="://"),
    _rule("bearer_token", r"(?i)\bbearer\s+([A-Za-z0-9._~+/-]{16,}=*)", _mixed_token, hint="bearer"),
    _rule("basic_auth", r"(?i)\bbasic\s+([A-Za-z0-9+/]{6,}={0,2})(?![A-Za-z0-9+/=])", _basic_auth, hint="basic"),
    _rule("query_secret", rf"(?i)[?&#;](?:{_QUERY_NAMES})=([^&#?;\s\"'<>]+)", hint="="),
    _rule("recovery_phrase", r"(?<![A-Za-z])[a-z]+(?:[ \t]*,[ \t]*[a-z]+|[ \t]+[a-z]+){11,}(?![A-Za-z])",
          _recovery_phrase, separators=11),
    *(_rule("password", prompt + _PROMPT_ANSWER, _prompt_answer, hint=("pass", "pin")) for prompt in _PROMPTS),
    _rule("password", _VALUE_INTO_FIELD, _typed_secret, hint=("pass", "pin")),
    _rule("password", _FIELD_THEN_VALUE, _typed_secret, hint=("pass", "pin")),
    _rule("password", _TYPED_BARE, _prompt_answer, hint=("pass", "pin")),
    _rule("secret_assignment",
          rf"(?i)(?:{_SECRET_NAMES})[\"']?\s*(?::=|=>|[:=])[ \t]*"
          r"(?:\"([^\"\n]*)\"|'([^'\n]*)'|([^\s\"'`,;&<>(){}\[\]]+))", _assignment,
          hint=("pass", "secret", "token", "key")),
    # `mysql -pSECRET` (the value glued to -p; a bare `-p` prompts, `-P` is the port).
    _rule("secret_assignment", r"\bmysql(?:dump|admin|sh)?\b[^\n]*?\s-p([^\s-]\S*)", hint="mysql"),
    _rule("email", r"(?<![A-Za-z0-9._%+-])(?<!://)[A-Za-z0-9._%+-]+(?:@|%40)[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
          r"\.[A-Za-z]{2,24}(?![A-Za-z0-9-])", _email, hint=("@", "%40")),
    _rule("iban", r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,40}", _iban, digits=6),
    _rule("card_number", r"(?<![\w-])(?<!\d[ -])\d(?:[ -]?\d){12,18}(?![\w])(?![ -]\d)", _card, digits=13),
    _rule("ssn", r"(?<![\w-])(?!000|666|9\d\d)\d{3}([- ]?)(?!00)\d{2}\1(?!0000)\d{4}(?![\w-])", _ssn,
          hint=("ss", "social", "tin", "tax", "w-", "w2", "w4", "w9", "i-9", "i9"), digits=9),
    _rule("phone", r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(\d{1,4}\)|[ .-]?\d{1,5}){1,6}(?![\w])(?![ .-]\d)",
          _phone(8, 15), hint="+", digits=8),
    _rule("phone", r"(?<![\w#/.:+-])(?:1[ .-])?(?:\(\d{3}\)[ .-]?\d{3}[-. ]|\d{3}([-.])\d{3}\1)\d{4}"
          r"(?![\w-]|[./:]\d)", _whole, digits=10),
    _rule("phone", r"(?<![\w#/.:+-])0\d{1,4}(?: \d{2,4}){2,4}(?![\w-]|[./: ]\d)", _phone(10, 11), digits=10),
    _rule("phone", r"(?<![\w#/.:+-])0\d{2,4}[/-]\d{5,8}(?![\w-]|[./:]\d)", _phone(10, 12), digits=10),
)
# fmt: on


_NO_DIGITS = str.maketrans("", "", "0123456789")


def _claim(taken: list[tuple[int, int]], span: tuple[int, int]) -> bool:
    """Add `span` to the sorted, disjoint `taken` unless it overlaps one there (bisect: lines with
    thousands of findings stay linear-ish)."""
    index = bisect.bisect_left(taken, span)
    if index > 0 and taken[index - 1][1] > span[0]:
        return False
    if index < len(taken) and taken[index][0] < span[1]:
        return False
    taken.insert(index, span)
    return True


def findings(text: str) -> list[Redaction]:
    """Every secret in `text`, non-overlapping, in text order (earlier rules win overlaps)."""
    taken: list[tuple[int, int]] = [m.span() for m in TAG.finditer(text)]  # sorted, never overlapping
    found: list[Redaction] = []
    lowered = text.lower()
    digits = len(text) - len(text.translate(_NO_DIGITS))
    for rule in RULES:
        if (rule.hint and not any(hint in lowered for hint in rule.hint)) or digits < rule.min_digits:
            continue
        if rule.min_separators and sum(text.count(c) for c in " \t,") < rule.min_separators:
            continue
        for match in rule.pattern.finditer(text):
            span = (rule.pick or _group_span)(match)
            if span is None or span[0] == span[1]:
                continue
            if not _claim(taken, span):
                continue
            found.append(Redaction(kind=rule.kind, start=span[0], end=span[1]))
    return sorted(found, key=lambda f: f.start)


def redact(text: str) -> str:
    """`text` with every finding replaced by `[REDACTED:<kind>]`; redact(redact(x)) == redact(x)."""
    if not text:
        return text
    parts: list[str] = []
    position = 0
    for finding in findings(text):
        parts.append(text[position : finding.start])
        parts.append(f"[REDACTED:{finding.kind}]")
        position = finding.end
    parts.append(text[position:])
    return "".join(parts)


_PEM_LINE = re.compile(r"\s*" + _PEM_HEAD + r"\s*")
_PEM_END_LINE = re.compile(r".*" + _PEM_END)
#: A PEM body longer than this is not a key (8192-bit RSA is ~100 lines): stop swallowing lines.
_PEM_MAX_LINES = 200


def redact_lines(lines: Iterable[str]) -> Iterator[str]:
    """Redact line by line, as `redact` does, except that a key pasted across lines is swallowed whole.

    A line that is nothing but a `BEGIN ... PRIVATE KEY` header starts a block: it and every line up
    to the END line become `[REDACTED:private_key]`, so the base64 body never comes out one line at a time.
    """
    inside = 0
    for line in lines:
        if inside:
            inside = 0 if _PEM_END_LINE.match(line) or inside >= _PEM_MAX_LINES else inside + 1
            yield "[REDACTED:private_key]"
        elif _PEM_LINE.fullmatch(line):
            inside = 1
            yield "[REDACTED:private_key]"
        else:
            yield redact(line)
