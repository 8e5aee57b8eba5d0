"""Consent: the only way a tool runs.

Each offer shown to the person gets a fresh one-time token bound to that proposal and
that exact tool call. `accept` runs the bound call (never one supplied at accept time)
only when the token is the *current* offer and still unanswered. Everything else runs
nothing and returns None, with one log line saying why:

- unknown: never issued by this Consent (or forgotten long ago);
- stale: a newer offer was made since (an Accept for an older notification);
- accepted / dismissed / expired: already answered; a token is spent by its first answer;
- timed out: older than `ttl_s`, when a time limit is set.

The check and the spending happen with no await between them and under a lock, so two
Accepts racing for one token (double click, two notification daemons) run the tool once.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import OrderedDict
from typing import Literal

from pydantic import BaseModel, ConfigDict

from proactive.assist.tools import ToolBox, ToolCall, ToolResult

log = logging.getLogger(__name__)

OfferState = Literal["open", "stale", "accepted", "dismissed", "expired"]
#: Answered or stale tokens remembered (to log *why* a late Accept runs nothing); older ones
#: are forgotten and then count as unknown, which runs nothing just the same.
REMEMBERED = 256


class Offer(BaseModel):
    """One offer: the proposal it belongs to, the call Accept would run, and where it stands."""

    model_config = ConfigDict(frozen=True)

    proposal_id: int
    call: ToolCall
    offered_at: float
    state: OfferState = "open"


class Consent:
    """Hands out one-time tokens and runs a tool only for the Accept of the current offer."""

    def __init__(self, ttl_s: float | None = None) -> None:
        """`ttl_s`: seconds after which an unanswered offer can no longer be accepted (None: no limit)."""
        self.ttl_s = ttl_s
        self._offers: OrderedDict[str, Offer] = OrderedDict()
        self._current: str | None = None
        self._lock = threading.Lock()

    def offer(self, proposal_id: int, call: ToolCall) -> str:
        """A new token for `call` on `proposal_id`; any earlier open offer becomes stale."""
        token = secrets.token_urlsafe(16)
        with self._lock:
            if self._current is not None:
                self._settle(self._current, "stale")
            self._offers[token] = Offer(proposal_id=proposal_id, call=call, offered_at=time.monotonic())
            self._current = token
            while len(self._offers) > REMEMBERED:
                self._offers.popitem(last=False)
        return token

    async def accept(self, token: str, toolbox: ToolBox) -> ToolResult | None:
        """Run the call bound to `token` if it is the current open offer; otherwise run nothing (None)."""
        offer = self._take(token, "accepted")
        if offer is None:
            return None
        log.info("consent: proposal %d accepted; running %s", offer.proposal_id, offer.call.tool)
        return await toolbox.run(offer.call)

    def dismiss(self, token: str) -> bool:
        """Mark the current offer dismissed (nothing runs); False if `token` was not the open offer."""
        return self._take(token, "dismissed") is not None

    def expire(self, token: str) -> bool:
        """Mark the current offer ignored (no answer in time); False if `token` was not the open offer."""
        return self._take(token, "expired") is not None

    def state(self, token: str) -> OfferState | None:
        """Where `token` stands (None: unknown); for the loop's logs and the tests."""
        with self._lock:
            offer = self._offers.get(token)
            return None if offer is None else offer.state

    def _take(self, token: str, answer: OfferState) -> Offer | None:
        """Spend `token` with `answer` if it is the current open offer; else log why not and return None."""
        with self._lock:
            offer = self._offers.get(token)
            if offer is None:
                log.warning("consent: %s for an unknown token; nothing runs", answer)
                return None
            if offer.state != "open" or token != self._current:
                log.warning(
                    "consent: %s for proposal %d refused (offer is %s); nothing runs",
                    answer, offer.proposal_id, offer.state,
                )  # fmt: skip
                return None
            if self.ttl_s is not None and time.monotonic() - offer.offered_at > self.ttl_s:
                self._settle(token, "expired")
                log.warning("consent: %s for proposal %d came after %.0f s; nothing runs",
                            answer, offer.proposal_id, self.ttl_s)  # fmt: skip
                return None
            self._settle(token, answer)
            return offer

    def _settle(self, token: str, state: OfferState) -> None:
        """Record `state` for `token` (lock held); the current offer is no longer open."""
        self._offers[token] = self._offers[token].model_copy(update={"state": state})
        if token == self._current:
            self._current = None
