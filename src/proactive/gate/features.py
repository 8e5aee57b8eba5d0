"""Features of an event history for the trained gate: cheap, per event, no LLM.

Blocks (each can be switched off for ablations, see `FEATURE_BLOCKS`):

- ``signals``: situation signals that mean the same in any setting (errors, retried
  searches, questions, undo loops, back-and-forth, dwell; see `gate/signals.py`).

- ``keywords``: what the latest and the previous event are (search, error, question,
  paste, chat app ...) and how often each kind occurred in the last few events.
- ``recency``: how many events since the last search / error / question / new query.
- ``apps``: which application the latest event is in, app switches in the last events.
- ``timing``: seconds since the previous events (log), relative to the trace's own pace.
- ``position``: index of the event in the session.
- ``similarity``: sentence-embedding similarity of the latest event to the previous
  ones (repeated actions vs a new step).
- ``embed_last`` / ``embed_context``: the MiniLM vector of the latest event, and the
  mean vector of the three before it.
- ``words``: TF-IDF of the latest event's words and word pairs (a vocabulary fitted on
  the training histories and stored with the gate; see `WordVectorizer`).

Every event sentence is encoded once and reused across the prefixes of a trace.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Sequence

import numpy as np

from proactive.gate.signals import signal_features
from proactive.types import Event

#: Kinds of event, matched on the lower-cased sentence. Why these: in the annotated rows
#: searches, errors and questions raise the help rate (0.6-0.8 vs 0.39 overall), chat
#: apps, pasting and new tabs lower it (0.0-0.3).
KINDS: dict[str, re.Pattern[str]] = {
    name: re.compile(pattern)
    for name, pattern in {
        "search": r"search|google|bing|搜索|百度",
        "query": r"search(es|ed|ing)? (for|on)\b|search (bar|box)|search query|types? '[^']+' (in|into) the",
        "results": r"result",
        "question": r"\?|？|\bhow (to|can|do)\b|\bwhat (is|are)\b|\bwhy\b",
        "error": r"error|fail|exception|not found|invalid|insufficient|traceback|bug",
        "click": r"click",
        "scroll": r"scroll",
        "type": r"\btyp",
        "paste": r"cmd\+?v|ctrl\+?v|past(e|es|ed|ing)\b",
        "copy": r"cmd\+?c|ctrl\+?c|\bcop(y|ies|ied)",
        "undo": r"cmd\+?z|ctrl\+?z|undo",
        "switch": r"switch|return|back to|revert",
        "read": r"\bread|review|\bview|examin|brows|explor|focus",
        "open": r"\bopen|navigat|visit|start",
        "new_tab": r"new tab|新建标签页",
        "run": r"\brun|terminal|execut|install|command",
        "notes": r"markdown|notes|\bwrit|entry|insight|reflection",
        "edit_code": r"\bcode\b|edit|modif|implement|defin|integrat|function|method|\.py|\.js|\.rb|\.java",
        "learn": r"tutorial|documentation|\bdocs?\b|guide|stack overflow|csdn|article|blog|readme|教程",
        "idle": r"without|no specific|remain|stay|continu|paus|idle|no .*action",
        "mouse": r"mouse",
        "chat": r"deepseek|kimi|chatgpt|\bchat\b",
    }.items()
}

#: Application of an event, first match wins.
APPS: dict[str, re.Pattern[str]] = {
    name: re.compile(pattern)
    for name, pattern in {
        "chat": r"deepseek|kimi|chatgpt|\bchat\b",
        "terminal": r"terminal|command line|\bshell\b",
        "editor": r"visual studio|vs ?code|code\.exe|editor|\.py\b|\.rb\b|\.java\b|\.md\b|\.js\b|\.m\b",
        "browser": r"browser|google|bing|chrome|web|tab\b|search|stack overflow|csdn|http|site|article|page",
    }.items()
}

RECENCY_KINDS = ("search", "query", "error", "question", "switch")
WINDOW = 5
CONTEXT = 3
EMBED_DIM = 384
_QUOTED = re.compile(r"'([^']{3,})'")

FEATURE_BLOCKS = (
    "signals",
    "keywords",
    "recency",
    "apps",
    "timing",
    "position",
    "similarity",
    "embed_last",
    "embed_context",
    "words",
)
#: Blocks computed from the history alone (``words`` needs a fitted vocabulary).
STATELESS_BLOCKS = FEATURE_BLOCKS[:-1]

Encoder = Callable[[Sequence[str]], np.ndarray]


def kinds_of(text: str) -> np.ndarray:
    """0/1 per kind in `KINDS` for one sentence."""
    lowered = text.lower()
    return np.array([1.0 if pattern.search(lowered) else 0.0 for pattern in KINDS.values()])


def app_of(text: str) -> str:
    """The application an event happens in ('other' when none matches)."""
    lowered = text.lower()
    for name, pattern in APPS.items():
        if pattern.search(lowered):
            return name
    return "other"


def _keywords(kinds: np.ndarray) -> list[float]:
    last = kinds[-1]
    previous = kinds[-2] if len(kinds) > 1 else np.zeros_like(last)
    window = kinds[-1 - WINDOW : -1].mean(axis=0) if len(kinds) > 1 else np.zeros_like(last)
    return [*last, *previous, *window]


def _recency(kinds: np.ndarray, texts: Sequence[str]) -> list[float]:
    names = list(KINDS)
    values = []
    for kind in RECENCY_KINDS:
        column = kinds[:-1, names.index(kind)]
        hits = np.flatnonzero(column)
        since = len(column) - hits[-1] if len(hits) else 20.0
        values.append(math.log1p(since))
    # A quoted string never seen earlier in the session (a new query, file or page).
    earlier = " ".join(texts[:-1]).lower()
    quoted = [q.lower() for q in _QUOTED.findall(texts[-1])]
    values.append(1.0 if any(q not in earlier for q in quoted) else 0.0)
    values.append(1.0 if quoted else 0.0)
    return values


def _apps(texts: Sequence[str]) -> list[float]:
    apps = [app_of(t) for t in texts[-1 - WINDOW :]]
    one_hot = [1.0 if apps[-1] == name else 0.0 for name in [*APPS, "other"]]
    switched = 1.0 if len(apps) > 1 and apps[-1] != apps[-2] else 0.0
    switches = sum(a != b for a, b in itertools.pairwise(apps)) / WINDOW
    distinct = len(set(apps)) / len(apps)
    return [*one_hot, switched, switches, distinct]


def _timing(history: Sequence[Event]) -> list[float]:
    seconds = [event.seconds for event in history]
    if len(seconds) < 2 or seconds[-1] is None or seconds[-2] is None:
        return [0.0, 0.0, 0.0, 1.0]
    gaps = [max(0.0, b - a) for a, b in itertools.pairwise(seconds) if a is not None and b is not None]
    last_gap = max(0.0, seconds[-1] - seconds[-2])
    earlier = gaps[:-1]
    median = float(np.median(earlier)) if earlier else last_gap
    relative = math.log1p(last_gap) - math.log1p(median)
    previous_gap = earlier[-1] if earlier else 0.0
    return [math.log1p(last_gap), math.log1p(previous_gap), relative, 0.0]


def _position(history: Sequence[Event]) -> list[float]:
    index = len(history) - 1
    return [math.log1p(index), 1.0 if index == 0 else 0.0]


def _similarity(vectors: np.ndarray) -> list[float]:
    if len(vectors) < 2:
        return [0.0, 0.0, 0.0]
    last, earlier = vectors[-1], vectors[:-1]
    sims = earlier @ last
    return [float(sims[-1]), float(sims.max()), float(sims[-WINDOW:].mean())]


def history_features(history: Sequence[Event], vectors: np.ndarray, blocks: Sequence[str]) -> np.ndarray:
    """One feature vector for the moment after `history[-1]`.

    `vectors` holds the unit embeddings of `history` (same order). Only the blocks named
    in `blocks` are computed, in `FEATURE_BLOCKS` order, so a saved gate rebuilds the
    same layout from its manifest.
    """
    texts = [event.text for event in history]
    kinds = np.stack([kinds_of(t) for t in texts[-1 - WINDOW :]])
    full_kinds = np.stack([kinds_of(t) for t in texts]) if "recency" in blocks else kinds
    builders: dict[str, Callable[[], list[float]]] = {
        "signals": lambda: signal_features(history).tolist(),
        "keywords": lambda: _keywords(kinds),
        "recency": lambda: _recency(full_kinds, texts),
        "apps": lambda: _apps(texts),
        "timing": lambda: _timing(history),
        "position": lambda: _position(history),
        "similarity": lambda: _similarity(vectors),
        "embed_last": lambda: list(vectors[-1]),
        "embed_context": lambda: list(
            vectors[-1 - CONTEXT : -1].mean(axis=0) if len(vectors) > 1 else np.zeros(EMBED_DIM)
        ),
    }
    parts: list[float] = []
    for block in STATELESS_BLOCKS:
        if block in blocks:
            parts.extend(builders[block]())
    return np.asarray(parts, dtype=np.float32)


def check_blocks(blocks: Sequence[str]) -> list[str]:
    """The blocks in canonical order; unknown names are a user error (raised by the caller)."""
    unknown = [b for b in blocks if b not in FEATURE_BLOCKS]
    if unknown:
        from proactive.errors import UserError

        raise UserError(f"unknown feature block(s) {unknown}; choose from {', '.join(FEATURE_BLOCKS)}")
    return [b for b in FEATURE_BLOCKS if b in blocks]


def featurize(histories: Sequence[Sequence[Event]], blocks: Sequence[str], encode: Encoder) -> np.ndarray:
    """Feature matrix for many histories; each distinct sentence is encoded once."""
    need_vectors = any(b in blocks for b in ("similarity", "embed_last", "embed_context"))
    texts = list(dict.fromkeys(event.text for history in histories for event in history))
    table: dict[str, np.ndarray] = {}
    if need_vectors and texts:
        table = dict(zip(texts, encode(texts), strict=True))
    rows = []
    for history in histories:
        if need_vectors:
            vectors = np.stack([table[event.text] for event in history])
        else:
            vectors = np.zeros((len(history), 1), dtype=np.float32)
        rows.append(history_features(history, vectors, blocks))
    return np.stack(rows)


class WordVectorizer:
    """TF-IDF of the latest event's text (words and word pairs, sub-linear tf, L2-normalised).

    Why: in grouped CV the wording of the latest event ("searches for", "types", "scrolls")
    predicted help better than any hand-made flag or the MiniLM vector. The fitted state is
    two arrays (vocabulary, idf) so it saves with the gate without pickling.
    """

    def __init__(self, vocabulary: np.ndarray | None = None, idf: np.ndarray | None = None) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        options = {"ngram_range": (1, 2), "sublinear_tf": True}
        if vocabulary is None:
            self._vectorizer = TfidfVectorizer(min_df=2, **options)  # type: ignore[arg-type]
        else:
            terms = {str(term): i for i, term in enumerate(vocabulary)}
            self._vectorizer = TfidfVectorizer(vocabulary=terms, **options)  # type: ignore[arg-type]
            self._vectorizer.idf_ = np.asarray(idf, dtype=np.float64)

    def fit(self, histories: Sequence[Sequence[Event]]) -> WordVectorizer:
        self._vectorizer.fit([h[-1].text for h in histories])
        return self

    def transform(self, histories: Sequence[Sequence[Event]]) -> np.ndarray:
        return np.asarray(self._vectorizer.transform([h[-1].text for h in histories]).toarray(), dtype=np.float32)

    def arrays(self) -> dict[str, np.ndarray]:
        terms = sorted(self._vectorizer.vocabulary_, key=self._vectorizer.vocabulary_.__getitem__)
        return {"vocabulary": np.array(terms, dtype=str), "idf": self._vectorizer.idf_.astype(np.float64)}
