"""Secrets that only their context gives away, against tests/data/redaction_context_corpus.jsonl.

Each corpus line is an activity event: `{"class", "secret", "split", "text"}`, and for a secret also
`"kind"` (the tag it must get) and `"values"` (the secret substrings). A secret line must come out with
exactly its values replaced by `[REDACTED:<kind>]`; a near-miss (`"secret": false`) byte-identical.
The split (tune / held_out) is fixed by a hash of the text, so nobody picks which lines are held out.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from proactive.sense.redact import findings, redact

CORPUS = Path(__file__).resolve().parent / "data" / "redaction_context_corpus.jsonl"
ROWS: list[dict[str, Any]] = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()]
SECRETS = [row for row in ROWS if row["secret"]]
NEAR_MISSES = [row for row in ROWS if not row["secret"]]
NEW_CLASSES = {"password_field", "password_prompt", "passphrase", "ssn"}


def _expected(row: dict[str, Any]) -> str:
    out = row["text"]
    for value in row["values"]:
        out = out.replace(value, f"[REDACTED:{row['kind']}]")
    return out


def test_the_corpus_is_well_formed_and_split_by_hash() -> None:
    for row in ROWS:
        digest = hashlib.sha256(row["text"].encode("utf-8")).digest()
        assert row["split"] == ("held_out" if digest[0] % 3 == 0 else "tune"), row["text"]
        if row["secret"]:
            assert row["values"] and all(value in row["text"] for value in row["values"]), row["text"]
    texts = [row["text"] for row in ROWS]
    assert len(texts) == len(set(texts))
    for cls in NEW_CLASSES:  # several positives and near-misses for each new class, on both sides of the split
        for secret in (True, False):
            assert len([r for r in ROWS if r["class"] == cls and r["secret"] is secret]) >= 5, (cls, secret)
        assert {r["split"] for r in ROWS if r["class"] == cls} == {"tune", "held_out"}


@pytest.mark.parametrize("row", SECRETS, ids=[f"{r['class']}-{i}" for i, r in enumerate(SECRETS)])
def test_every_secret_is_redacted_and_nothing_else(row: dict[str, Any]) -> None:
    out = redact(row["text"])
    for value in row["values"]:
        assert value not in out
    assert out == _expected(row)


@pytest.mark.parametrize("row", NEAR_MISSES, ids=[f"{r['class']}-{i}" for i, r in enumerate(NEAR_MISSES)])
def test_near_misses_are_unchanged(row: dict[str, Any]) -> None:
    assert redact(row["text"]) == row["text"]
    assert findings(row["text"]) == []


def test_redaction_is_idempotent_on_the_corpus() -> None:
    texts = [row["text"] for row in ROWS] + [_expected(row) for row in SECRETS]
    texts.append(" ".join(row["text"] for row in ROWS))
    for text in texts:
        once = redact(text)
        assert redact(once) == once, text


# The five secrets that passed on the issue author's held-back corpus, in the issue's own phrasing.


def test_a_password_typed_into_a_bank_password_field() -> None:
    text = "The user types 'hunter2!Xq' into the Password field of Barclays online banking."
    assert redact(text) == "The user types '[REDACTED:password]' into the Password field of Barclays online banking."


def test_a_password_after_a_sudo_prompt() -> None:
    assert redact("[sudo] password for dev: Qw3rty!9 - Terminal") == (
        "[sudo] password for dev: [REDACTED:password] - Terminal"
    )
    assert redact("[sudo] password for dev: ... - Terminal") == "[sudo] password for dev: ... - Terminal"


def test_a_passphrase_and_a_recovery_phrase() -> None:
    assert redact("The user types 'correct horse battery staple' into the passphrase field of GnuPG.") == (
        "The user types '[REDACTED:password]' into the passphrase field of GnuPG."
    )
    phrase = "legal winner thank year wave sausage worth useful legal winner thank yellow"
    assert redact(f"The user types '{phrase}' into Electrum.") == (
        "The user types '[REDACTED:recovery_phrase]' into Electrum."
    )
    # Twelve ordinary words are no recovery phrase: "the", "of", "and" are not BIP-39 words.
    prose = "The user types 'the history of the city and the people who lived there for many years' into Word."
    assert redact(prose) == prose


def test_a_social_security_number_in_a_form_field() -> None:
    assert redact("The user types '536-22-8451' into the SSN field of the tax form.") == (
        "The user types '[REDACTED:ssn]' into the SSN field of the tax form."
    )
    # The same shape without a word for SSN nearby, and shapes no SSN has, pass.
    for text in ("The user opens part 536-22-8451 in the catalogue.", "The SSN field shows 000-12-3456.",
                 "The user types ticket number 123-45-678 into Jira."):  # fmt: skip
        assert redact(text) == text


def test_a_ghp_token_one_character_short() -> None:
    token = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"[:35]  # one short of the standard 36
    out = redact(f"The user pastes {token} into the terminal.")
    assert out == "The user pastes [REDACTED:github_token] into the terminal."
