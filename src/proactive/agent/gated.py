"""The `gated` agent: a cheap gate decides *when*, the `llm` agent writes *what*.

After each event the gate gives a probability that help is needed. Below the user's
effective threshold the agent stays silent without touching the LLM (the writer is not
even loaded until the gate first opens); at or above it, the `llm` agent in writer mode (a task is required: the gate
already decided to speak) writes the task.

The gate comes from `AgentConfig.gate`:

- a folder from `proactive gate train --loto` (one gate per test trace + a full gate):
  the gate trained *without* `config.trace_key` is picked;
- a single gate folder: refused when its manifest lists `config.trace_key`, unless
  `config.allow_seen` (then `gate_saw_trace` is True so the report can say so);
- the name `llm`: the LLM gate on `config.model`.
"""

from __future__ import annotations

from proactive.agent.base import Agent, AgentConfig, Observation
from proactive.agent.llm_agent import create as create_llm_agent
from proactive.errors import UserError
from proactive.gate.base import GATES, Gate
from proactive.gate.threshold import UserThreshold
from proactive.models.base import Usage
from proactive.types import Event, Proposal


class GatedAgent:
    """Agent protocol implementation: gate + lazily built writer."""

    name = "gated"

    def __init__(self, gate: Gate, config: AgentConfig) -> None:
        self.gate = gate
        self.config = config
        #: Per-user threshold; the live assistant calls `user_threshold.record(outcome)`.
        self.user_threshold = UserThreshold(base=gate.threshold)
        #: True when the gate was trained on the trace being scored (only with allow_seen).
        self.gate_saw_trace = bool(getattr(gate, "saw_trace", False))
        self._writer: Agent | None = None
        self.writer_calls = 0
        #: Token usage of the latest writer call (None after a silent event: no LLM cost).
        self.last_usage: Usage | None = None
        self.last_cached = False
        #: True when the writer's latest answer failed its schema (it still proposed: see llm_agent).
        self.last_invalid = False
        self.last_problem = ""

    def _writer_agent(self) -> Agent:
        if self._writer is None:
            self._writer = create_llm_agent(self.config, must_propose=True)
        return self._writer

    async def __call__(self, observation: Observation) -> Proposal:
        probability = await self.gate(observation)
        self.last_usage, self.last_cached, self.last_invalid, self.last_problem = None, False, False, ""
        if not self.user_threshold.opens(probability):
            return Proposal(task=None, gate_probability=probability)
        self.writer_calls += 1
        writer = self._writer_agent()
        proposal = await writer(writer_view(observation))
        self.last_usage = getattr(writer, "last_usage", None)
        self.last_cached = bool(getattr(writer, "last_cached", False))
        self.last_invalid = bool(getattr(writer, "last_invalid", False))
        self.last_problem = str(getattr(writer, "last_problem", ""))
        return proposal.model_copy(update={"gate_probability": probability})

    @property
    def provenance(self) -> str:
        """One line for the run report: which gate, and whether it saw the scored trace."""
        where = self.config.gate or self.gate.name
        if self.gate_saw_trace:
            return f"gate {where}: TRAINED ON THE SCORED TRACE (allowed by --allow-seen)"
        if self.gate.name == "llm":
            return f"gate llm on {self.config.model}: no training, threshold {self.gate.threshold:.3f}"
        return f"gate {where}: trained without the scored trace (checked against its manifest)"

    def close(self) -> None:
        """Hand the writer's model back (the bench runner calls this after each trace)."""
        close = getattr(self._writer, "close", None)
        if callable(close):
            close()


def _gate_silenced(proposal: Proposal) -> bool:
    """A silence the gate produced (the writer never saw that event)."""
    return proposal.is_silence and proposal.gate_probability is not None and not (proposal.thoughts or proposal.purpose)


def writer_view(observation: Observation) -> Observation:
    """The history as the writer should see it: gate-silenced events folded into the next one.

    The writer treats earlier proposals as its own answers; shown the gate's silences as
    answers, a 1.5B writer copied them and fell silent where the gate had opened (first
    bench run: gate opened on 140 events, writer spoke on 53). So events the gate kept
    quiet on are joined, in order, into the sentence of the next event the writer sees,
    and only the writer's own answers remain. Deterministic, so the KV prefix is reused.
    """
    history: list[Event] = []
    previous: list[Proposal] = []
    pending: list[str] = []
    events = observation.history
    for index, event in enumerate(events):
        pending.append(event.text)
        earlier = observation.previous[index] if index < min(len(events) - 1, len(observation.previous)) else None
        if earlier is not None and _gate_silenced(earlier):
            continue
        history.append(event.model_copy(update={"text": " Then: ".join(pending)}))
        pending = []
        if earlier is not None:
            previous.append(earlier)
    return Observation(history=history, previous=previous, feedback=[None] * len(previous))


def _build_gate(config: AgentConfig) -> Gate:
    spec = config.gate
    if not spec:
        raise UserError("the gated agent needs --gate DIR (from `proactive gate train --loto`) or --gate llm")
    name = "llm" if spec == "llm" else "trained"
    gate: Gate = GATES.factory(name)(config)
    return gate


def create(config: AgentConfig) -> GatedAgent:
    """Agent registry factory."""
    return GatedAgent(_build_gate(config), config)
