"""A per-person model of when an offer is welcome: Bayesian logistic regression, Thompson sampling.

Replaces the single threshold offset (`proactive.gate.threshold.UserThreshold`) for the
decision to *show* an offer the agent made. Inputs (`features`): the gate's probability
(as its log-odds relative to the gate's base threshold), the situation of the latest event
and the kind of offer (`proactive.assist.context`), minutes since the last offer and that
offer's answer. The posterior is a diagonal Gaussian over the weights, updated online after
each answer by a Laplace step (Chapelle & Li 2011): accept is 1, dismiss is 0; an ignored
offer is no evidence by default (`ignored_weight` 0), or a down-weighted dismissal. Evidence
fades with a half-life of days (the precision decays towards the prior's).

The decision draws one weight vector from the posterior (at `DRAW_SCALE` of its width) and
shows the offer when the drawn P(accept) is at least `target`. Drawing, not using the mean,
is what reopens a door closed too early: a situation dismissed a few times keeps a wide
posterior and is tried again now and then, and an accept there moves it back. The prior mean
makes the first decisions those of the gate at its base threshold (gate weight 1, bias
logit(target), the rest 0).

The state (`LearnerState`) is plain JSON, saved per person in the assistant's store.
"""

from __future__ import annotations

import math
import random
import time
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from proactive.assist.context import OFFER_KIND_NAMES, OFFER_WORDS, SITUATION_NAMES, SITUATION_WORDS

LearnAnswer = Literal["accepted", "dismissed", "ignored"]
LAST_ANSWERS = ("accepted", "dismissed", "ignored")
NAMES: tuple[str, ...] = (
    "bias",
    "gate",
    *(f"situation:{s}" for s in SITUATION_NAMES),
    *(f"offer:{k}" for k in OFFER_KIND_NAMES),
    "minutes since last offer",
    *(f"last answer:{a}" for a in LAST_ANSWERS),
)
#: Prior variance per weight. The gate and bias are trusted; the situation and kind of offer are
#: what a person's answers are about, so they move fast (a day brings only 20-30 answers); the
#: timing inputs move only on strong evidence. Chosen on simulated people and seeds that the
#: reported table does not use (`bench/learner_choice.py`; tuning people, half-width draws):
#: situation/kind variance 1 -> 4 took their accepted share x1.44 -> x1.56, timing 1 -> 0.1 x1.49 -> x1.56.
PRIOR_VARIANCE = {
    "bias": 0.5,
    "gate": 0.25,
    **{name: 4.0 for name in NAMES if name.startswith(("situation:", "offer:"))},
    **{name: 0.1 for name in NAMES if name.startswith(("minutes", "last answer:"))},
}
DEFAULT_VARIANCE = 1.0
#: Thompson draws at half the posterior's width ("tempered"): full-width draws spend too many of
#: a day's few offers exploring (tuning people: accepted share x1.35 at full width, x1.46 at 0.7,
#: x1.56 at half, x1.65 at 0.3; half is the widest that reached x1.5). Half width all but shuts a door within
#: a day (four dismissals: shown 0.2% of the time), so evidence also fades (`HALF_LIFE_DAYS`).
DRAW_SCALE = 0.5
#: The evidence behind each weight halves every this many days (its precision decays towards the
#: prior's; the mean stays): people change, and a door closed by a few dismissals is tried again.
HALF_LIFE_DAYS = 7.0
CLIP = 1e-4
#: With a learner, the gate lets offers through from this far below its base threshold, and
#: the learner decides which to show (without it the learner could only ever say less).
GATE_FLOOR = 0.25
DEFAULT_PERSON = "me"


def logit(p: float) -> float:
    p = min(1 - CLIP, max(CLIP, p))
    return math.log(p / (1 - p))


def prior_precision() -> np.ndarray:
    return np.array([1.0 / PRIOR_VARIANCE.get(name, DEFAULT_VARIANCE) for name in NAMES])


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-35.0, min(35.0, z))))


class Offer(BaseModel):
    """What the learner sees about one offer before deciding."""

    gate_probability: float
    situation: str = Field(description="One of `proactive.assist.context.SITUATION_NAMES`.")
    kind: str = Field(description="One of `proactive.assist.context.OFFER_KIND_NAMES`.")
    now: float = Field(description="Unix seconds.")


class Counts(BaseModel):
    accepted: int = 0
    dismissed: int = 0
    ignored: int = 0


class LearnerState(BaseModel):
    """Everything the learner knows about one person (saved as JSON)."""

    base: float = Field(description="The gate's base threshold (the prior's point of indifference).")
    target: float = Field(default=0.5, description="Show when the drawn P(accept) is at least this.")
    ignored_weight: float = Field(default=0.0, description="An ignored offer counts as this much of a dismissal.")
    mean: list[float]
    precision: list[float]
    last_offer_at: float | None = None
    last_answer: LearnAnswer | None = None
    answers: int = Field(default=0, description="Answers received (all three kinds).")
    by_situation: dict[str, Counts] = Field(default_factory=dict)
    by_kind: dict[str, Counts] = Field(default_factory=dict)


class PersonalLearner:
    """One person's learner (see the module docstring)."""

    def __init__(self, state: LearnerState, seed: int | str = 0) -> None:
        self.state = state
        self.random = random.Random(seed)

    @classmethod
    def fresh(
        cls, base: float, target: float = 0.5, ignored_weight: float = 0.0, seed: int | str = 0
    ) -> PersonalLearner:
        """The prior: decides as the gate at its base threshold would, give or take the draws."""
        mean = [0.0] * len(NAMES)
        mean[NAMES.index("bias")], mean[NAMES.index("gate")] = logit(target), 1.0
        precision = [float(v) for v in prior_precision()]
        state = LearnerState(base=base, target=target, ignored_weight=ignored_weight, mean=mean, precision=precision)
        return cls(state, seed)

    def features(self, offer: Offer) -> np.ndarray:
        x = np.zeros(len(NAMES))
        x[0] = 1.0
        x[1] = logit(offer.gate_probability) - logit(self.state.base)
        x[NAMES.index(f"situation:{offer.situation}")] = 1.0
        x[NAMES.index(f"offer:{offer.kind}")] = 1.0
        if self.state.last_offer_at is not None:
            minutes = max(0.0, offer.now - self.state.last_offer_at) / 60.0
            x[NAMES.index("minutes since last offer")] = math.log1p(minutes) / math.log1p(60.0) - 1.0
        if self.state.last_answer is not None:
            x[NAMES.index(f"last answer:{self.state.last_answer}")] = 1.0
        return x

    def probability(self, offer: Offer) -> float:
        """P(accept) under the posterior mean."""
        return sigmoid(float(np.dot(self.state.mean, self.features(offer))))

    def precision_at(self, now: float) -> np.ndarray:
        """The posterior precision at `now`: the evidence gathered since the prior fades with time."""
        precision, prior = np.asarray(self.state.precision), prior_precision()
        if self.state.last_offer_at is None:
            return precision
        days = max(0.0, now - self.state.last_offer_at) / 86400.0
        fade = 0.5 ** (days / HALF_LIFE_DAYS)
        return prior + np.maximum(0.0, precision - prior) * fade

    def decide(self, offer: Offer) -> bool:
        """Tempered Thompson draw: show when the drawn P(accept) reaches the target."""
        mean, precision = np.asarray(self.state.mean), self.precision_at(offer.now)
        noise = np.array([self.random.gauss(0.0, 1.0) for _ in mean])
        draw = mean + DRAW_SCALE * noise / np.sqrt(precision)
        return sigmoid(float(np.dot(draw, self.features(offer)))) >= self.state.target

    def record(self, offer: Offer, answer: LearnAnswer) -> None:
        """Update from one answer to a shown offer (the offer as it was when decided)."""
        if answer not in LAST_ANSWERS:
            from proactive.errors import UserError

            raise UserError(f"learner answer '{answer}': expected accepted, dismissed or ignored")
        x = self.features(offer)
        self.state.precision = [float(v) for v in self.precision_at(offer.now)]
        weight = 1.0 if answer != "ignored" else self.state.ignored_weight
        if weight > 0:
            self._laplace(x, 1.0 if answer == "accepted" else 0.0, weight)
        state = self.state
        for table, key in ((state.by_situation, offer.situation), (state.by_kind, offer.kind)):
            counts = table.setdefault(key, Counts())
            setattr(counts, answer, getattr(counts, answer) + 1)
        state.answers += 1
        state.last_offer_at, state.last_answer = offer.now, answer

    def _laplace(self, x: np.ndarray, y: float, weight: float) -> None:
        """Newton steps on the one-observation posterior; the diagonal precision gains its curvature."""
        m, q = np.asarray(self.state.mean), np.asarray(self.state.precision)
        w = m.copy()
        for _ in range(20):
            p = sigmoid(float(w @ x))
            gradient = q * (w - m) - weight * (y - p) * x
            curvature = weight * p * (1 - p)
            inverse = 1.0 / q  # (diag(q) + c x x^T)^-1 by Sherman-Morrison
            ix = inverse * x
            step = inverse * gradient - ix * (curvature * float(ix @ gradient)) / (1.0 + curvature * float(x @ ix))
            w = w - step
            if float(np.abs(step).max()) < 1e-8:
                break
        p = sigmoid(float(w @ x))
        self.state.mean = [float(v) for v in w]
        self.state.precision = [float(v) for v in q + weight * p * (1 - p) * x * x]

    def weight(self, name: str) -> float:
        return self.state.mean[NAMES.index(name)]


def _line(words: str, counts: Counts) -> str | None:
    answered = counts.accepted + counts.dismissed
    if answered < 2:  # one answer says little, and a profile full of "0 times in 1" says less
        return None
    if counts.accepted == 0 and answered >= 2:
        return f"you dismiss offers {words} ({counts.dismissed} of {counts.dismissed})"
    times = "time" if counts.accepted == 1 else "times"
    return f"you accept offers {words} {counts.accepted} {times} in {answered}"


def describe(state: LearnerState) -> list[str]:
    """What was learned, as sentences a person understands."""
    if state.answers == 0:
        return ["nothing learned yet: no offer has been answered"]
    lines = [f"learned from {state.answers} answers"]
    lines += [line for s in SITUATION_NAMES if s in state.by_situation
              if (line := _line(SITUATION_WORDS[s], state.by_situation[s]))]  # fmt: skip
    lines += [line for k in OFFER_KIND_NAMES if k in state.by_kind
              if (line := _line(OFFER_WORDS[k], state.by_kind[k]))]  # fmt: skip
    ignored = sum(c.ignored for c in state.by_situation.values())
    if ignored:
        weight = state.ignored_weight
        counted = "not counted as a no" if weight == 0 else f"each counted as {weight:g} of a no"
        lines.append(f"{ignored} offers went unanswered ({counted})")
    learner = PersonalLearner(state)
    # Only situations with two answers or more: one answer moves a weight far (prior variance 4),
    # and "I offer more in the terminal" after a single accept says more than was learned.
    seen = [s for s in SITUATION_NAMES if s in state.by_situation
            and state.by_situation[s].accepted + state.by_situation[s].dismissed >= 2]  # fmt: skip
    keen = [s for s in seen if learner.weight(f"situation:{s}") > 0.5]
    shy = [s for s in seen if learner.weight(f"situation:{s}") < -0.5]
    if keen:
        lines.append("so I offer more " + ", ".join(SITUATION_WORDS[s] for s in keen))
    if shy:
        lines.append("so I offer less " + ", ".join(SITUATION_WORDS[s] for s in shy))
    return lines


def saved_state(store: Any, person: str) -> LearnerState | None:
    """`person`'s saved learner state (None: nothing learned yet); one-line UserError when unusable."""
    saved = store.learner_state(person)
    if saved is None:
        return None
    try:
        state = LearnerState.model_validate_json(saved)
    except ValueError as error:
        from proactive.errors import UserError

        first = str(error).splitlines()[0]
        raise UserError(
            f"{store.path}: the saved profile of '{person}' is unreadable ({first}); "
            "`proactive assist profile --reset` clears it"
        ) from error
    if len(state.mean) != len(NAMES) or len(state.precision) != len(NAMES):
        from proactive.errors import UserError

        raise UserError(
            f"{store.path}: the saved profile of '{person}' has {len(state.mean)} weights, this proactive uses "
            f"{len(NAMES)}; `proactive assist profile --reset` clears it"
        )
    return state


def load_learner(store: Any, person: str, base: float) -> PersonalLearner:
    """`person`'s learner from the assistant's store, or a fresh one at the gate's `base`."""
    state = saved_state(store, person)
    if state is None:
        return PersonalLearner.fresh(base, seed=f"{person}|{time.time()}")
    state.base = base
    return PersonalLearner(state, seed=f"{person}|{time.time()}")


def save_learner(store: Any, person: str, learner: PersonalLearner) -> None:
    """Save `person`'s learner (one transaction)."""
    store.save_learner_state(person, learner.state.model_dump_json())
