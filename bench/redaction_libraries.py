"""What detect-secrets and Presidio add to our own redaction rules, on tests/data/redaction_context_corpus.jsonl.

For each corpus class and split (tune / held_out): how many secrets are caught (every secret value gone
from the output) and how many near-misses are falsely changed (output differs from input), for
- ours: proactive.sense.redact alone;
- +detect-secrets: ours plus every finding of detect-secrets 1.5 (default plugins and filters, on the
  file-scan path: each sentence is scanned as a one-line .txt file);
- +presidio: ours plus Presidio's pattern recognizers US_SSN, CREDIT_CARD, IBAN_CODE and PHONE_NUMBER
  (with their context words) on a blank spaCy pipeline, so no model download; findings at any score,
  and for +presidio>=0.5 only those scoring 0.5 or more. Not EMAIL_ADDRESS: its tldextract fetches the
  public suffix list online.
A library's finding is added where it does not overlap one of ours.

    pip install 'detect-secrets==1.5.0' 'presidio-analyzer>=2.2,<2.3'   # spaCy comes with presidio
    .venv/bin/python bench/redaction_libraries.py [--corpus FILE]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from proactive.sense.redact import _claim, findings

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "data" / "redaction_context_corpus.jsonl"
Spans = Callable[[str], list[tuple[int, int]]]


def ours(text: str) -> list[tuple[int, int]]:
    return [(f.start, f.end) for f in findings(text)]


@contextmanager
def detect_secrets_spans() -> Iterator[Spans]:
    from detect_secrets.core.scan import scan_file
    from detect_secrets.settings import default_settings

    with tempfile.TemporaryDirectory() as folder, default_settings():
        path = Path(folder) / "events.txt"

        def spans(text: str) -> list[tuple[int, int]]:
            path.write_text(text + "\n", encoding="utf-8")
            found = []
            for secret in scan_file(str(path)):
                value = secret.secret_value or ""
                start = text.find(value) if value else -1
                while start >= 0:
                    found.append((start, start + len(value)))
                    start = text.find(value, start + 1)
            return found

        yield spans


def presidio_analyzer() -> Any:
    import spacy
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import SpacyNlpEngine
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        IbanRecognizer,
        PhoneRecognizer,
        UsSsnRecognizer,
    )

    @spacy.Language.component("lemma_is_lower")
    def lemma_is_lower(doc: Any) -> Any:
        for token in doc:  # Presidio's context words match lemmas; a blank pipeline has none
            token.lemma_ = token.lower_
        return doc

    class BlankSpacyEngine(SpacyNlpEngine):
        """Tokenizer only: Presidio's pattern recognizers need tokens and lemmas, not a trained model."""

        def load(self) -> None:
            nlp = spacy.blank("en")
            nlp.add_pipe("lemma_is_lower")
            self.nlp = {"en": nlp}

    engine = BlankSpacyEngine(models=[{"lang_code": "en", "model_name": "blank"}])
    engine.load()
    registry = RecognizerRegistry(supported_languages=["en"])
    for recognizer in (UsSsnRecognizer(), CreditCardRecognizer(), IbanRecognizer(), PhoneRecognizer()):
        registry.add_recognizer(recognizer)
    return AnalyzerEngine(nlp_engine=engine, registry=registry, supported_languages=["en"])


def presidio_spans(analyzer: Any, threshold: float) -> Spans:
    def spans(text: str) -> list[tuple[int, int]]:
        return [(r.start, r.end) for r in analyzer.analyze(text, language="en", score_threshold=threshold)]

    return spans


def apply(text: str, extra: Spans | None) -> str:
    taken = sorted(ours(text))
    if extra is not None:
        for span in sorted(set(extra(text))):
            if span[0] < span[1]:
                _claim(taken, span)
    out, position = [], 0
    for start, end in taken:
        out += [text[position:start], "[REDACTED]"]
        position = end
    return "".join([*out, text[position:]])


def evaluate(rows: list[dict[str, Any]], configs: dict[str, Spans | None]) -> dict[tuple[str, str], dict[str, Any]]:
    """(split, class) -> counts: secrets, near_misses, and per config caught / changed."""
    table: dict[tuple[str, str], dict[str, Any]] = defaultdict(lambda: defaultdict(int))
    for row in rows:
        for key in ((row["split"], row["class"]), (row["split"], "ALL")):
            cell = table[key]
            cell["secrets" if row["secret"] else "near_misses"] += 1
            for name, extra in configs.items():
                out = apply(row["text"], extra)
                if row["secret"]:
                    cell[name + ":caught"] += all(value not in out for value in row["values"])
                else:
                    cell[name + ":changed"] += out != row["text"]
    return table


def render(table: dict[tuple[str, str], dict[str, Any]], names: list[str]) -> str:
    head = ["split", "class", "secrets", *(f"caught: {n}" for n in names), "near-misses"]
    head += [f"changed: {n}" for n in names]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for split in ("tune", "held_out"):
        classes = [*sorted(c for s, c in table if s == split and c != "ALL"), "ALL"]
        for cls in classes:
            cell = table[(split, cls)]
            caught = [f"{cell[n + ':caught']}" if cell["secrets"] else "" for n in names]
            changed = [f"{cell[n + ':changed']}" if cell["near_misses"] else "" for n in names]
            name = f"**{cls}**" if cls == "ALL" else cls
            lines.append("| " + " | ".join([split, name, str(cell["secrets"] or ""), *caught,
                                             str(cell["near_misses"] or ""), *changed]) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.corpus.read_text(encoding="utf-8").splitlines() if line.strip()]
    analyzer = presidio_analyzer()
    with detect_secrets_spans() as ds:
        configs: dict[str, Spans | None] = {
            "ours": None,
            "+detect-secrets": ds,
            "+presidio": presidio_spans(analyzer, 0.0),
            "+presidio>=0.5": presidio_spans(analyzer, 0.5),
        }
        print(render(evaluate(rows, configs), list(configs)))


if __name__ == "__main__":
    main()
