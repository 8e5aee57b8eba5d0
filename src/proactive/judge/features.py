"""Features a trained judge reads from (history, proposal): the person's state and the fit of the task.

Two groups, because the two halves of the problem differ (MEASURED.md):

- *state* features describe the person from the history alone (searching, stuck on an
  error, switching, idle, repeating, how far into the session, time gaps). They drive
  "is help needed now?", the only question for a silence.
- *task* features describe how the proposed task relates to the latest events versus the
  trace's topic (embedding similarities, shared words, quoted names) and what kind of
  offer it is (search, tutorial, generic advice, a long meta-comment).

Labels (`valid`, `annotation`, `category`, `help_needed`) are never read here.
Embeddings come from `proactive.models.embeddings` (MiniLM, cached), so each event
sentence is encoded once and reused across all prefixes of its trace.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

import numpy as np

from proactive.types import Event

#: How many latest events count as "what the person is doing now".
RECENT = 3
#: Events kept for the history topic vector (bounds the cold-cache cost of a judgement).
TOPIC_WINDOW = 12

STATE_PATTERNS: dict[str, re.Pattern[str]] = {
    "search": re.compile(r"search|google|bing|baidu|query|stack ?overflow|looks? up|searches"),
    "error": re.compile(r"error|exception|fail|traceback|not found|warning|bug|crash|undefined|invalid"),
    "switch": re.compile(r"switch|return(s|ed)? to|back to|another (app|application|tab)|new tab|navigat"),
    "typing": re.compile(r"\btyp(e|es|ed|ing)\b|writ(e|es|ing)|edit|input"),
    "reading": re.compile(r"scroll|read|review|brows|views?\b|stay(s|ed)?\b"),
    "mouse": re.compile(r"click|mouse|cursor"),
    "run": re.compile(r"\brun|execut|terminal|command|compil|install"),
    "paste": re.compile(r"cmd\+?v|ctrl\+?v|cmdv|paste|copy|cmdc"),
    "idle": re.compile(r"idle|no specific action|inactive|remain|pause|nothing"),
    "ai_chat": re.compile(r"deepseek|chatgpt|kimi|gpt|copilot|\bai\b"),
    "document": re.compile(r"markdown|document|\bdoc\b|notes?\b|report|word|essay|paper"),
    "code": re.compile(r"visual studio|vs ?code|\.py\b|\.rb\b|\.go\b|\.swift|\.m\b|code|function|class"),
}

TASK_PATTERNS: dict[str, re.Pattern[str]] = {
    "t_search": re.compile(r"^(search|find|look)|search"),
    "t_provide": re.compile(r"^(provide|offer|give|share|show)"),
    "t_suggest": re.compile(r"^(suggest|recommend|propose)"),
    "t_open": re.compile(r"^(open|navigate|launch|go to)"),
    "t_help": re.compile(r"^(help|assist|guide|support)|\bi can\b|\bi will\b|\blet me\b"),
    "t_create": re.compile(r"^(create|write|generate|draft|summari[sz]e|compile|make)"),
    "t_fix": re.compile(r"^(check|review|debug|fix|correct|verify|analy[sz]e|explain)"),
    "t_generic": re.compile(r"tutorial|resource|best practice|tips|documentation|learn|guide|course"),
    "t_meta": re.compile(r"\buser\b|\bthey\b|\btheir\b|premature|monitor|continue"),
    "t_you": re.compile(r"\byou\b|\byour\b"),
    "t_specific": re.compile(r"'[^']+'|\"[^\"]+\"|\.\w{1,5}\b|[A-Z][a-z]+[A-Z]"),
    "t_error": re.compile(r"error|fix|debug|issue|problem|bug|not found"),
}

_WORD_RE = re.compile(r"[a-z0-9_\u4e00-\u9fff]+")
_QUOTED_RE = re.compile(r"'([^']{2,})'|\"([^\"]{2,})\"")
_STOP = frozenset(
    {
        "the",
        "a",
        "an",
        "to",
        "of",
        "in",
        "on",
        "for",
        "and",
        "or",
        "with",
        "by",
        "from",
        "is",
        "are",
        "was",
        "be",
        "user",
        "users",
        "their",
        "them",
        "they",
        "it",
        "its",
        "this",
        "that",
        "then",
        "into",
        "at",
        "as",
        "any",
        "some",
        "more",
        "other",
        "about",
        "while",
        "within",
        "using",
        "use",
        "uses",
    }
)

Embedder = Callable[[Sequence[str]], np.ndarray]


def _words(text: str) -> set[str]:
    return {w for w in _WORD_RE.findall(text.lower()) if w not in _STOP and len(w) > 1}


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def _gap(earlier: Event, later: Event) -> float | None:
    first, second = earlier.seconds, later.seconds
    if first is None or second is None:
        return None
    return max(0.0, second - first)


def state_feature_names() -> list[str]:
    """Names of the state features, in vector order."""
    names = []
    for key in STATE_PATTERNS:
        names += [f"{key}_last", f"{key}_recent", f"{key}_all"]
    return [
        *names,
        "non_ascii_last",
        "log_position",
        "log_gap_last",
        "log_elapsed",
        "time_known",
        "repeat_last_prev",
        "recent_coherence",
        "drift_last_first",
        "last_vs_topic",
        "log_words_last",
    ]


def state_features(history: Sequence[Event], vectors: np.ndarray) -> np.ndarray:
    """State features of the person; `vectors` are the unit embeddings of `history` texts."""
    texts = [e.text.lower() for e in history]
    recent = texts[-RECENT:]
    values: list[float] = []
    for pattern in STATE_PATTERNS.values():
        hits = [1.0 if pattern.search(t) else 0.0 for t in texts]
        recent_hits = hits[-RECENT:]
        # Plain sums: np.mean on a handful of floats costs more than the regexes.
        values += [hits[-1], sum(recent_hits) / len(recent_hits), sum(hits) / len(hits)]
    last_text = history[-1].text
    non_ascii = sum(ord(c) > 127 for c in last_text) / max(1, len(last_text))
    gap = _gap(history[-2], history[-1]) if len(history) > 1 else None
    elapsed = _gap(history[0], history[-1])
    last, topic = vectors[-1], _mean_unit(vectors[-TOPIC_WINDOW:])
    recent_vecs = vectors[-RECENT:]
    pairwise = recent_vecs @ recent_vecs.T
    coherence = (pairwise.sum() - len(recent)) / max(1, len(recent) * (len(recent) - 1))
    values += [
        non_ascii,
        math.log1p(len(history)),
        math.log1p(gap) if gap is not None else 0.0,
        math.log1p(elapsed) if elapsed is not None else 0.0,
        float(elapsed is not None),
        float(last @ vectors[-2]) if len(history) > 1 else 1.0,
        float(coherence) if len(recent) > 1 else 1.0,
        float(last @ vectors[0]),
        float(last @ topic),
        math.log1p(len(last_text.split())),
    ]
    return np.asarray(values, dtype=np.float32)


def task_feature_names() -> list[str]:
    """Names of the task features, in vector order."""
    return [
        "sim_last",
        "sim_recent_max",
        "sim_recent_mean",
        "sim_topic",
        "sim_first",
        "sim_last_minus_topic",
        "sim_last_rank",
        "words_last",
        "words_recent",
        "quoted_in_task",
        "log_task_words",
        "task_long",
        *TASK_PATTERNS,
    ]


def task_features(task: str, history: Sequence[Event], vectors: np.ndarray, task_vector: np.ndarray) -> np.ndarray:
    """How the proposed task relates to the latest events and to the trace's topic."""
    window = vectors[-TOPIC_WINDOW:]
    sims = window @ task_vector
    recent = sims[-RECENT:]
    topic = float(_mean_unit(window) @ task_vector)
    task_words = _words(task)
    recent_text = " ".join(e.text for e in history[-RECENT:])
    quoted = [a or b for a, b in _QUOTED_RE.findall(recent_text)]
    quoted_hit = any(q.lower() in task.lower() for q in quoted)
    n_words = len(task.split())
    values = [
        float(sims[-1]),
        float(recent.max()),
        float(recent.mean()),
        topic,
        float(vectors[0] @ task_vector),
        float(sims[-1]) - topic,
        float((sims > sims[-1]).sum()) / len(sims),
        _jaccard(task_words, _words(history[-1].text)),
        _jaccard(task_words, _words(recent_text)),
        float(quoted_hit),
        math.log1p(n_words),
        float(n_words > 30),
    ]
    lowered = task.strip().lower()
    values += [float(bool(p.search(lowered if k != "t_specific" else task))) for k, p in TASK_PATTERNS.items()]
    return np.asarray(values, dtype=np.float32)


def _mean_unit(vectors: np.ndarray) -> np.ndarray:
    mean = vectors.mean(axis=0)
    norm = float(np.linalg.norm(mean))
    return mean / norm if norm > 0 else mean


class FeatureBuilder:
    """Turns (history, task) pairs into feature matrices, encoding each text once."""

    def __init__(self, embedder: Embedder | None = None) -> None:
        if embedder is None:
            from proactive.models.embeddings import embed

            embedder = embed
        self.embedder = embedder
        self._vectors: dict[str, np.ndarray] = {}

    def _texts_needed(self, history: Sequence[Event], task: str | None) -> list[str]:
        events = [history[0], *history[-TOPIC_WINDOW:]]
        texts = [e.text for e in events]
        return [*texts, task] if task else texts

    def warm(
        self,
        pairs: Sequence[tuple[Sequence[Event], str | None]],
        progress: Callable[[int, int], None] | None = None,
        chunk: int = 128,
    ) -> None:
        """Encode every text the pairs need, in batches (fast path for many rows)."""
        needed = list(dict.fromkeys(t for h, task in pairs for t in self._texts_needed(h, task)))
        todo = [t for t in needed if t not in self._vectors]
        for start in range(0, len(todo), chunk):
            part = todo[start : start + chunk]
            for text, vector in zip(part, self.embedder(part), strict=True):
                self._vectors[text] = np.asarray(vector, dtype=np.float32)
            if progress is not None:
                progress(min(start + chunk, len(todo)), len(todo))

    def _history_vectors(self, history: Sequence[Event]) -> tuple[list[Event], np.ndarray]:
        # Only the first event and the window are needed; keep the first for drift.
        kept = [history[0], *history[-TOPIC_WINDOW:]] if len(history) > TOPIC_WINDOW else list(history)
        return kept, np.stack([self._vectors[e.text] for e in kept])

    def row(self, history: Sequence[Event], task: str | None) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """(state features, task features or None for silence, task embedding or zeros)."""
        self.warm([(history, task)])
        kept, vectors = self._history_vectors(history)
        state = state_features(kept, vectors)
        state[state_feature_names().index("log_position")] = math.log1p(len(history))
        if not task:
            return state, None, np.zeros(vectors.shape[1], dtype=np.float32)
        task_vector = self._vectors[task]
        return state, task_features(task, kept, vectors, task_vector), task_vector

    def matrices(self, pairs: Sequence[tuple[Sequence[Event], str | None]]) -> dict[str, np.ndarray]:
        """Stacked matrices for many pairs: state, task (zeros for silences), task_vec, is_task."""
        self.warm(pairs)
        states, tasks, task_vecs, is_task = [], [], [], []
        n_task = len(task_feature_names())
        for history, task in pairs:
            state, task_part, vector = self.row(history, task)
            states.append(state)
            tasks.append(task_part if task_part is not None else np.zeros(n_task, dtype=np.float32))
            task_vecs.append(vector)
            is_task.append(task_part is not None)
        return {
            "state": np.stack(states),
            "task": np.stack(tasks),
            "task_vec": np.stack(task_vecs),
            "is_task": np.asarray(is_task, dtype=bool),
        }
