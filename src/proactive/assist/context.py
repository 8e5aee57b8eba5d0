"""Coarse words for a moment and an offer, shared by the personal learner, personas and reports.

A person's preferences are about situations they recognise ("while I write", "when an
error shows up") and kinds of help ("search for me", "fix it"), not about gate features.
Both are matched on lower-cased English text, first match wins; the patterns reuse the
gate's event kinds (`proactive.gate.features.KINDS`) where one exists.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from proactive.gate.features import KINDS
from proactive.types import Event

#: Situations, in matching order; "other" when none matches. Words a person reads in a profile.
SITUATIONS: dict[str, re.Pattern[str]] = {
    "error": KINDS["error"],
    "search": KINDS["query"],
    "chat": KINDS["chat"],
    "writing": re.compile(r"markdown|notes|\bwrit|document|essay|paragraph|draft|\btyp|report|\bentry"),
    "terminal": re.compile(r"terminal|command|\bshell\b|\bcd\b"),
    "coding": re.compile(r"\bcode\b|\.py\b|\.js\b|\.rb\b|\.java\b|\.go\b|function|method|editor|vs ?code"),
    "browsing": re.compile(r"scroll|web ?page|\btabs?\b|brows|\bread|article|result|search"),
}
SITUATION_NAMES: tuple[str, ...] = (*SITUATIONS, "other")

#: Kinds of offer (from the task sentence), in matching order; "other" when none matches.
OFFER_KINDS: dict[str, re.Pattern[str]] = {
    "fix": re.compile(r"\bfix|debug|error|resolv|troubleshoot|\breview .*code|improve"),
    "code": re.compile(r"\bcode\b|snippet|script|function|command|implement|syntax|program|\bapi\b"),
    "search": re.compile(r"search|look up|\bfind|research|identify|resources|recommend"),
    "write": re.compile(r"\bwrit|draft|summar|outline|rephras|organi[sz]|structur|polish|proofread|compose|notes"),
    "explain": re.compile(r"explain|solution|understand|information|tutorial|how to|guid|overview|compare|example"),
}
OFFER_KIND_NAMES: tuple[str, ...] = (*OFFER_KINDS, "other")

#: How each situation reads in a sentence ("you accept offers ...").
SITUATION_WORDS = {
    "error": "during errors",
    "search": "while you search",
    "chat": "while you use a chat assistant",
    "writing": "while writing",
    "terminal": "in the terminal",
    "coding": "while coding",
    "browsing": "while you browse or read",
    "other": "at other moments",
}
OFFER_WORDS = {
    "fix": "to fix something",
    "code": "of code or commands",
    "search": "to search for you",
    "write": "to write or edit for you",
    "explain": "to explain something",
    "other": "of other kinds",
}


def _first_match(text: str, patterns: dict[str, re.Pattern[str]]) -> str:
    lowered = text.lower()
    for name, pattern in patterns.items():
        if pattern.search(lowered):
            return name
    return "other"


def situation_of(history: Sequence[Event]) -> str:
    """The situation of the latest event of `history` ('other' for an empty history)."""
    return _first_match(history[-1].text, SITUATIONS) if history else "other"


def offer_kind(task: str) -> str:
    """The kind of help a task sentence offers."""
    return _first_match(task, OFFER_KINDS)
