"""The privacy filter against the redaction corpus, in-process and through `proactive redact`.

tests/data/redaction_corpus.tsv holds `kind<TAB>input<TAB>expected` rows (a secret of `kind` embedded
in an ActivityWatch-style sentence; expected has `[REDACTED:kind]` where the secret was) and
`pass<TAB>input` rows (near-misses that must come out byte-identical).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from proactive.sense.redact import RULES, TAG, findings, redact, redact_lines

CORPUS = Path(__file__).resolve().parent / "data" / "redaction_corpus.tsv"
CONTEXT_CORPUS = CORPUS.with_name("redaction_context_corpus.jsonl")


def _rows() -> list[tuple[str, str, str]]:
    """(kind, input, expected); expected == input for `pass` rows."""
    rows = []
    for number, line in enumerate(CORPUS.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        kind, text, *rest = line.split("\t")
        assert (kind == "pass" and not rest) or (kind != "pass" and len(rest) == 1), f"{CORPUS}:{number}: bad columns"
        rows.append((kind, text, rest[0] if rest else text))
    return rows


ROWS = _rows()
SECRETS = [row for row in ROWS if row[0] != "pass"]
NEAR_MISSES = [row[1] for row in ROWS if row[0] == "pass"]


def _secrets_in(text: str, expected: str) -> list[str]:
    """The parts of `text` that `expected` replaces by tags (the corpus marks them nowhere else)."""
    pieces = TAG.split(expected)
    pattern = "(.+?)".join(re.escape(piece) for piece in pieces)
    match = re.fullmatch(pattern, text, flags=re.DOTALL)
    assert match, f"expected {expected!r} does not line up with input {text!r}"
    return list(match.groups())


def test_the_corpus_is_big_and_covers_every_kind() -> None:
    assert len(ROWS) >= 80
    assert len(NEAR_MISSES) >= 30
    # The context-keyed kinds (password, recovery_phrase, ssn) live in the activity-event corpus.
    context = [json.loads(line) for line in CONTEXT_CORPUS.read_text(encoding="utf-8").splitlines()]
    kinds = {row[0] for row in SECRETS} | {row["kind"] for row in context if row["secret"]}
    assert kinds == {rule.kind for rule in RULES}


@pytest.mark.parametrize(("kind", "text", "expected"), SECRETS, ids=[f"{r[0]}-{i}" for i, r in enumerate(SECRETS)])
def test_every_secret_is_redacted_and_nothing_else(kind: str, text: str, expected: str) -> None:
    secrets = _secrets_in(text, expected)
    assert secrets
    out = redact(text)
    for secret in secrets:
        assert secret not in out
    assert f"[REDACTED:{kind}]" in out
    assert out == expected


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_near_misses_pass_byte_identical(text: str) -> None:
    assert redact(text) == text
    assert findings(text) == []


def test_redaction_is_idempotent_on_every_line_and_on_lines_run_together() -> None:
    texts = [text for _, text, _ in ROWS] + [expected for _, _, expected in ROWS]
    texts.append(" | ".join(text for _, text, _ in ROWS))
    texts.append("".join(text for _, text, _ in ROWS))  # secrets glued to their neighbours
    for text in texts:
        once = redact(text)
        assert redact(once) == once, text


def test_findings_point_at_the_secrets() -> None:
    for kind, text, expected in SECRETS:
        found = findings(text)
        assert [text[f.start : f.end] for f in found] == _secrets_in(text, expected)
        assert {f.kind for f in found} == {kind}


PEM = """config notes
-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIIrYSSNQFaA2Hwf1duRSxKtLYX5CB04fSeQ6tF1aY/PuoAoGCCqGSM49
AwEHoUQDQgAEPR3tU2Fta9ktY+6P9G0cWO+0kETA6SFs38GecTyudlHz6xvCdz8q
-----END EC PRIVATE KEY-----
after the key alice@example.com"""


def test_a_pem_block_across_lines_goes_whole_in_text_and_line_by_line() -> None:
    body = PEM.splitlines()[2]
    whole = redact(PEM)
    assert whole == "config notes\n[REDACTED:private_key]\nafter the key [REDACTED:email]"
    lines = list(redact_lines(PEM.splitlines()))
    assert len(lines) == len(PEM.splitlines())
    assert all(body not in line and "MHcC" not in line for line in lines)
    assert lines[0] == "config notes" and lines[-1] == "after the key [REDACTED:email]"
    assert lines[1:5] == ["[REDACTED:private_key]"] * 4


def _cli(data: bytes) -> subprocess.CompletedProcess[bytes]:
    command = [sys.executable, "-m", "proactive.cli.main", "redact"]
    return subprocess.run(command, input=data, capture_output=True, timeout=120, check=False)


def test_the_cli_filters_the_corpus_line_by_line_like_the_function() -> None:
    inputs = [text for _, text, _ in ROWS]
    # Empty lines kept, a CRLF ending kept, a last line without an ending kept.
    lines = [line for text in inputs for line in (text, "")]
    data = "\n".join(lines).encode("utf-8") + b"\r\nlast +44 20 7946 0958"
    done = _cli(data)
    assert done.returncode == 0, done.stderr.decode()
    out = done.stdout.decode("utf-8")
    assert out.endswith("\r\nlast [REDACTED:phone]")
    out_lines = out.split("\n")
    assert len(out_lines) == len(lines) + 1
    assert out_lines[:-2] == [redact(line) for line in lines[:-1]]
    assert out_lines[-2] == redact(lines[-1]) + "\r"


def test_the_cli_replaces_bytes_that_are_not_utf8_and_still_redacts() -> None:
    data = b"caf\xe9 \xff\xfe token=1 alice@example.com\n\x80\x81 pass 4111 1111 1111 1111\n"
    done = _cli(data)
    assert done.returncode == 0 and b"Traceback" not in done.stderr
    assert done.stdout.decode("utf-8") == (
        "caf\ufffd \ufffd\ufffd token=1 [REDACTED:email]\n\ufffd\ufffd pass [REDACTED:card_number]\n"
    )


def test_the_cli_swallows_a_piped_private_key() -> None:
    done = _cli(PEM.encode() + b"\n")
    assert done.returncode == 0
    out = done.stdout.decode()
    assert "MHcC" not in out and "AwEH" not in out
    assert out.splitlines() == list(redact_lines(PEM.splitlines()))
