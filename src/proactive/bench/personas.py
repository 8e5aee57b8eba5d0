"""Simulated people with distinct, stated preferences (ProPerSim-style personas).

Why not the annotators: `bench/annotator_positions.py` shows that ProactiveBench's three
annotation positions are one person only within a trace, so they cannot be three users
over a day. Each persona here is a small rule over the moment and the offer, on top of the
annotators' verdict where it applies (the base: an offer the annotators accepted at that
event is accepted with `BASE_YES`, any other with `BASE_NO`), plus noise: the answer is a
seeded draw per (persona, seed, trace, event), and a seeded share of offers is ignored
(the same draw in every arm, so learning on and off meet the same person).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from proactive.assist.context import OFFER_KIND_NAMES, SITUATION_NAMES

BASE_YES = 0.85
BASE_NO = 0.10
IGNORE_SHARE = 0.2

PersonaAnswer = Literal["accepted", "dismissed", "ignored"]


@dataclass(frozen=True)
class Persona:
    """A stated preference: `liked` offers use `liked_chance`, the rest `other_factor` × base."""

    name: str
    says: str = ""
    liked_situations: frozenset[str] = frozenset()
    liked_kinds: frozenset[str] = frozenset()
    hated_situations: frozenset[str] = frozenset()
    liked_floor: float = 0.0
    other_factor: float = 1.0
    #: Two offers (situation, kind) the persona should come to tell apart: liked, then disliked.
    probes: tuple[tuple[str, str], tuple[str, str]] = (("other", "other"), ("other", "other"))

    def chance(self, situation: str, kind: str, annotators_accept: bool) -> float:
        """P(accept) for an offer of `kind` at a moment of `situation`."""
        base = BASE_YES if annotators_accept else BASE_NO
        if situation in self.hated_situations:
            return 0.02
        if situation in self.liked_situations or kind in self.liked_kinds:
            return max(base, self.liked_floor)
        return base * self.other_factor

    def unwanted(self, situation: str, kind: str) -> bool:
        """An offer this person's stated preference turns down (a kind or situation they mind)."""
        if situation in self.hated_situations:
            return True
        liked = self.liked_situations or self.liked_kinds
        return bool(liked) and situation not in self.liked_situations and kind not in self.liked_kinds

    def answer(
        self, seed: int, trace: str, index: int, situation: str, kind: str, annotators_accept: bool
    ) -> PersonaAnswer:
        """The seeded answer; the ignore draw does not depend on the persona's rule."""
        if random.Random(f"ignore|{seed}|{trace}|{index}").random() < IGNORE_SHARE:
            return "ignored"
        draw = random.Random(f"{self.name}|{seed}|{trace}|{index}").random()
        return "accepted" if draw < self.chance(situation, kind, annotators_accept) else "dismissed"


PERSONAS: tuple[Persona, ...] = (
    Persona("coder", "wants help only with code and errors", liked_kinds=frozenset({"fix", "code"}), liked_floor=0.6,
            other_factor=0.1, probes=(("browsing", "code"), ("browsing", "explain"))),
    Persona("writer", "never wants to be interrupted while writing", hated_situations=frozenset({"writing"}),
            probes=(("browsing", "explain"), ("writing", "explain"))),
    Persona("searcher", "likes search help, little else", liked_kinds=frozenset({"search"}), liked_floor=0.8,
            other_factor=0.4, probes=(("browsing", "search"), ("browsing", "explain"))),
)  # fmt: skip
assert all(s in SITUATION_NAMES for p in PERSONAS for s in p.liked_situations | p.hated_situations)
assert all(k in OFFER_KIND_NAMES for p in PERSONAS for k in p.liked_kinds)
