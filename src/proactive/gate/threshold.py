"""A per-user threshold offset learned from how proposals were received.

The live assistant keeps one `UserThreshold` per person: a rejected or ignored proposal
raises the effective threshold (speak less), an accepted one lowers it (speak more).
Steps are small and the offset is clamped, so a bad afternoon cannot silence the gate
for good or make it speak on every event.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Outcome = Literal["accepted", "rejected", "ignored"]


class UserThreshold(BaseModel):
    """Base threshold (from grouped CV) plus a feedback-driven offset."""

    base: float = Field(description="Threshold stored in the gate artifact.")
    offset: float = Field(default=0.0, description="Per-user adjustment learned from feedback.")
    step_accept: float = Field(default=0.03, description="How much an acceptance lowers the threshold.")
    step_reject: float = Field(default=0.03, description="How much a rejection raises it.")
    step_ignore: float = Field(default=0.015, description="How much an ignored proposal raises it (weaker signal).")
    limit: float = Field(default=0.25, description="The offset stays within [-limit, +limit].")

    @property
    def effective(self) -> float:
        """The threshold to compare gate probabilities with, kept inside [0, 1]."""
        return min(1.0, max(0.0, self.base + self.offset))

    def record(self, outcome: Outcome) -> float:
        """Update the offset from one proposal's outcome; returns the new effective threshold."""
        change = {"accepted": -self.step_accept, "rejected": self.step_reject, "ignored": self.step_ignore}
        if outcome not in change:
            from proactive.errors import UserError

            raise UserError(f"feedback outcome '{outcome}': expected accepted, rejected or ignored")
        self.offset = min(self.limit, max(-self.limit, self.offset + change[outcome]))
        return self.effective

    def opens(self, probability: float) -> bool:
        """True when the gate should let the writer speak."""
        return probability >= self.effective
