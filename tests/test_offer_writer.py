"""The offer writer reads the activity, names its object, declines rather than offer a stock phrase."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from proactive.agent.gated import GatedAgent
from proactive.agent.writer import (
    OfferWriter,
    WrittenOffer,
    copies_prompt,
    decline_reason,
    echoes_activity,
    names_something,
    prompt_shingles,
    proposal_of,
    repeated_offer,
    restated_query,
    standing_offer,
    writer_messages,
)
from proactive.data.labelled import load_labelled_traces, names_object
from proactive.gate.llm_gate import gate_messages
from proactive.models.base import get_model
from proactive.prompts.activity import WINDOW, WINDOW_STEP, activity_lines, shared_prefix, window_start
from proactive.types import AgentConfig, Event, Judgement, Observation, Proposal

DATA = Path(__file__).parent / "data"
RECORDED = DATA / "writer_qwen15.jsonl"
REPLAY = f"replay/{RECORDED}"
ROOT = Path(__file__).resolve().parents[1]

#: The earlier writer's system prompt (db8385e), and real tasks it wrote on ProactiveBench
#: (docs/bench.md: "find the information they need" 33 times): stock phrases of its menu.
OLD_PROMPT = (
    "Offer the one concrete piece of work that would save them the most effort at this moment, tied to what "
    "they are doing in the latest event: explain what they are searching for, fix or review the code or text "
    "they are on, finish a tedious step for them, or find the information they need."
)
OLD_REAL_TASKS = ["find the information they need", "Review the code or text", "finish a tedious step for them"]


def _traces() -> list:
    return load_labelled_traces(DATA / "writer_traces")


def _events(*texts: str) -> list[Event]:
    return [Event(time=str(1_750_000_000 + 60 * i), text=text) for i, text in enumerate(texts)]


def test_the_old_writers_real_tasks_copy_its_prompt_and_the_check_sees_it() -> None:
    from proactive.agent.writer import _shingles

    old = _shingles(OLD_PROMPT, 5)
    assert all(copies_prompt(task, old) for task in OLD_REAL_TASKS)
    assert not copies_prompt("Explain the E0502 borrow error in apply_brush", old)
    # Nor do they name anything a person was doing: the writer would decline them now.
    recent = _events("cargo build: error[E0502] in src/editor.rs", "I typed 'rust borrow two fields' into DuckDuckGo")
    assert not any(names_something(task, recent) for task in OLD_REAL_TASKS)
    assert names_something("Explain the E0502 error in editor.rs", recent)
    assert names_something("Fix the database migration", _events("Terminal — python manage.py migrate"))


def test_a_task_that_retells_the_activity_is_not_an_offer() -> None:
    recent = _events("I threw the lot away with git checkout src/editor.rs and just sat looking at apply_brush.")
    assert echoes_activity("throw the lot away with git checkout src/editor.rs and just sat", recent)
    assert not echoes_activity("Show how to split the borrow of self in apply_brush", recent)
    # An offer to do what they searched for is not a retelling, short or long.
    searched = _events("Searched 'rust how to borrow two fields of self mutably at the same time'")
    assert not echoes_activity("Write a Rust function to borrow two fields of self mutably at the same time", searched)
    assert not echoes_activity("Borrow two fields of self mutably", searched)
    assert echoes_activity("search rust how to borrow two fields of self mutably at the same time", searched)
    conflict = _events("git rebase origin/main -> CONFLICT (content): Merge conflict in internal/httpclient/client.go")
    assert not echoes_activity("resolve the merge conflict in internal/httpclient/client.go", conflict)


def test_an_offer_to_answer_the_query_they_typed_may_quote_it_but_not_retell_the_rest() -> None:
    typed = _events("He typed 'how to cite both the journal and arxiv version of a paper' into the search bar.")
    assert not echoes_activity("Find how to cite both the journal and arxiv version of a paper", typed)
    assert not echoes_activity("Explain how to cite both the journal and arxiv version of a paper", typed)
    assert echoes_activity("Type how to cite both the journal and arxiv version of a paper", typed)
    # Only the quoted query is theirs to answer; the unquoted rest of an event is still a retelling.
    said = _events("He wrote speaker notes for slides 3 to 7 straight from his outline, then 'done'.")
    assert echoes_activity("Find speaker notes for slides 3 to 7 straight from his outline", said)


def test_a_step_of_their_own_is_not_an_offer() -> None:
    # Real 1.5B tasks at gate openings (new traces and ProactiveBench, writer asked at every event).
    observation = Observation(history=_events(
        "Terminal — cargo test: 6 passed, including a new test in tests/undo.rs; I open the blog post on split borrows",
        "Sheets: H2 cleared, formula retyped identically -> 0; Spotify playlist on; copied text from the web page",
    ))  # fmt: skip
    own = "a step of their own, not work done for them"
    for task in (
        "Read the blog post on split borrows and understand how to use it",
        "Retype the formula in cell H2 to reflect the correct balance.",
        "continue working on the new test in tests/undo.rs",
        "copy text from the web page",
        "listen to the Spotify playlist",
        "tagging categories by hand in Sheets",
        "Ask Iwan if he can still lend her his car on Friday",
    ):
        assert decline_reason(task, observation) == own, task
    # Only the label of a button they clicked (blind trace, a Google Forms responses page).
    clicked = Observation(history=_events("Google Forms — Party RSVP — Responses — 'View them in Sheets' clicked"))
    click = "a click or keystroke they would do themselves, not help"
    assert decline_reason("View them in Sheets", clicked) == click
    assert decline_reason("View them in Sheets.", clicked) == click
    # A bare verb and noun names nothing to do: real 1.5B tasks at calm moments of the new traces.
    for task in ("add margin comment", "write a sketch", "View in Sheets"):
        assert decline_reason(task, clicked) == "too short to be an offer", task
    assert decline_reason("Merge the RSVP responses into the guest list in Sheets", clicked) == ""
    # Work done for them starts otherwise.
    assert decline_reason("Explain why the formula in H2 returns 0 and fix it", observation) == ""
    assert decline_reason("Summarize the blog post on split borrows", observation) == ""


def test_a_plural_names_the_same_thing_as_its_singular() -> None:
    searched = _events("Searched 'cup to ml', then 'us cup vs uk cup'.")
    assert names_something("Convert cups to millilitres for the recipe", searched)
    assert not names_something("Convert grams to ounces for the recipe", searched)


def test_the_activity_log_only_grows_so_the_kv_prefix_is_reused() -> None:
    events = _events(*(f"Terminal — step {i}: make fails in parser.c line {i}" for i in range(WINDOW)))
    previous_text = ""
    for count in range(1, WINDOW + 1):
        observation = Observation(history=events[:count])
        activity = shared_prefix(observation)[-1]["content"]
        assert activity.startswith(previous_text)
        previous_text = activity
        # The gate's question and the writer's both start with the same system + activity.
        gate, writer = gate_messages(observation), writer_messages(observation)
        assert gate[0] == writer[0] and gate[-1]["content"].startswith(activity)
        assert writer[-1]["content"].startswith(activity)
    assert [window_start(n) for n in (WINDOW, WINDOW + 1, WINDOW + WINDOW_STEP - 1, WINDOW + WINDOW_STEP)] == [
        0, WINDOW_STEP, WINDOW_STEP, 2 * WINDOW_STEP,
    ]  # fmt: skip


def test_a_silent_events_prefill_reads_the_next_events_window_so_an_offer_never_pays_a_window_move() -> None:
    """At every count, what the writer's prefill leaves in the cache is a prefix of the next event's prompt."""

    class Recorder:
        def __init__(self) -> None:
            self.prefilled: list[list[dict[str, str]]] = []

        async def prefill(self, messages: list[dict[str, str]]) -> None:
            self.prefilled.append(messages)

    events = _events(*(f"Terminal — step {i}: make fails in parser.c line {i}" for i in range(3 * WINDOW)))
    model = Recorder()
    writer = OfferWriter(model)  # type: ignore[arg-type]
    moves = 0
    for count in range(1, 3 * WINDOW):
        asyncio.run(writer.prefill(Observation(history=events[:count])))
        cached = model.prefilled[-1]
        following = writer_messages(Observation(history=events[: count + 1]))
        assert cached[0] == following[0] and following[-1]["content"].startswith(cached[-1]["content"]), count
        moves += window_start(count + 1) != window_start(count)
    assert moves >= 3  # the window moved several times, and each time the prefill was ahead of it


def test_earlier_offers_and_the_persons_answers_are_in_the_log() -> None:
    events = _events("Excel — E12 shows 0", "Excel — retyped E12, still 0", "Excel — E13 shows 0 too")
    observation = Observation(
        history=events,
        previous=[Proposal(task="Fix the SUMIF in E12"), Proposal(task=None)],
        feedback=[Judgement(accepted=False), None],
    )
    lines = activity_lines(observation)
    assert '    you offered: "Fix the SUMIF in E12" (they dismissed it)' in lines
    assert len(lines) == 4  # three events, one offer; silence adds no line
    assert repeated_offer("fix the sumif in E12", observation) == "repeats an offer they dismissed"
    assert repeated_offer("Explain why E13 is 0 as well", observation) is None
    unanswered = observation.model_copy(update={"feedback": [None, None]})
    assert repeated_offer("Fix the SUMIF in E12", unanswered) is None
    assert standing_offer("Fix the SUMIF in E12", unanswered) == 0
    assert standing_offer("Fix the SUMIF in E12", observation) is None  # dismissed: declined, never standing


def test_an_unanswered_offer_stands_again_for_a_few_events_and_only_answered_offers_are_listed() -> None:
    texts = ["Sheets — H2 shows 0", "Sheets — H2 retyped, still 0", "Sheets — H2 still 0", "Sheets — H3 0 too",
             "Sheets — H4 0", "Sheets — H5 0", "Sheets — H6 0"]  # fmt: skip
    events = _events(*texts)
    first = Proposal(task="Fix the SUMIF in H2")
    again = proposal_of(WrittenOffer(task=first.task, repeats=0), 0.7)
    assert again.task == first.task and again.repeats == 0
    previous = [first, again, Proposal(task=None)]
    at = Observation(history=events[:4], previous=previous, feedback=[None] * 3)
    assert standing_offer("fix the SUMIF in H2", at) == 0  # the original, not its standing copy
    # Nobody answered it: the log leaves it out (the writer copied such offers onto later moments).
    assert not [line for line in activity_lines(at) if "you offered" in line]
    late = Observation(history=events[:6], previous=[*previous, Proposal(task=None), Proposal(task=None)])
    assert standing_offer("Fix the SUMIF in H2", late) is None  # five events on: a new offer
    accepted = at.model_copy(update={"feedback": [Judgement(accepted=True), None, None]})
    assert standing_offer("Fix the SUMIF in H2", accepted) is None
    # An answered offer is listed once, with its answer (its standing copy is the same offer).
    assert [line for line in activity_lines(accepted) if "you offered" in line] == [
        '    you offered: "Fix the SUMIF in H2" (they accepted it)'
    ]


def test_the_live_loop_never_shows_a_standing_offer_twice(tmp_path: Path) -> None:
    from proactive.agent.base import AgentStep
    from proactive.assist.consent import Consent
    from proactive.assist.loop import AssistLoop, Moment, TerminalPresenter
    from proactive.assist.store import AssistStore
    from proactive.assist.tools import ToolBox

    class SameLineAgent:
        """The writer's checks over a model that writes the same line at every event."""

        name = "same-line"

        async def __call__(self, observation: Observation) -> AgentStep:
            task = "Fix the SUMIF formula in H2"
            declined = repeated_offer(task, observation) or ""
            offer = WrittenOffer(None if declined else task, declined, repeats=standing_offer(task, observation))
            if offer.repeats is not None:
                offer.task = observation.previous[offer.repeats].task
            return AgentStep(proposal=proposal_of(offer, 0.8))

    shown: list[str] = []
    with AssistStore(tmp_path / "assist.sqlite3") as store:
        presenter = TerminalPresenter(["ignore", "dismiss", "dismiss"], echo=shown.append)
        loop = AssistLoop(SameLineAgent(), store, Consent(), ToolBox(tmp_path / "drafts", None), presenter)
        steps = [
            asyncio.run(loop.step(Moment(event=event, now=1717399800.0 + 600 * i)))
            for i, event in enumerate(_events("Sheets — H2 shows 0", "Sheets — H2 still 0", "Sheets — H2 0 again"))
        ]
    assert [s.task for s in steps] == ["Fix the SUMIF formula in H2"] * 3  # the agent says it while it stands
    assert [s.shown for s in steps] == [True, False, False]  # the person saw it once
    assert steps[1].blocked == steps[2].blocked == "repeats an offer already shown"


def test_recorded_real_offers_at_errors_name_the_error() -> None:
    writer = OfferWriter(get_model(REPLAY))
    for labelled in _traces():
        index = labelled.help_needed.index(True)
        offer = asyncio.run(writer.write(Observation(history=labelled.trace.events[: index + 1])))
        assert offer.task is not None, f"{labelled.trace.id}: declined ({offer.declined}: {offer.candidate})"
        assert names_object(offer.task, labelled.objects[index]), (labelled.trace.id, offer.task)


def test_recorded_real_tasks_rarely_copy_the_prompt_and_are_mostly_distinct() -> None:
    tasks = []
    for line in RECORDED.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        task = json.loads(entry["text"]).get("task") if entry.get("text") else None
        if task:
            tasks.append(task)
    assert len(tasks) >= 20
    shingles = prompt_shingles()
    # The model's own lines: it says a placeholder of the prompt as it stands now and then
    # ("Find out the answer to their question", 3 of 39 when recorded), never much more.
    copied = [t for t in tasks if copies_prompt(t, shingles)]
    assert len(copied) <= 0.1 * len(tasks)
    # What a person is offered (after the writer's checks): no copy of the prompt at all.
    observation = Observation(history=_events("Terminal — make: error in parser.c"))
    assert all(decline_reason(t, observation) == "copies its instructions" for t in copied)
    assert len({t.lower().strip(" .") for t in tasks}) >= 0.8 * len(tasks)


def test_the_real_model_behind_the_gated_agent_prefills_and_writes(default_gate: Path) -> None:
    """Real default gate, real smollm2 (plumbing): while the threshold keeps the gate closed the
    agent prefills the log, so the offer evaluates only its question; a decline says why."""
    from proactive.gate.choose import choose_gate

    labelled = _traces()[0]
    agent = GatedAgent(choose_gate(str(default_gate)), AgentConfig(model="local/smollm2-135m"))
    steps = []
    previous: list[Proposal] = []
    events = labelled.trace.events
    for count in range(1, len(events) + 1):
        agent.user_threshold.base = 0.0 if count == len(events) else 2.0  # closed, closed, ..., open
        step = asyncio.run(agent(Observation(history=events[:count], previous=list(previous))))
        steps.append(step)
        previous.append(step.proposal)
    # Silent steps only prefill: their counted tokens are the new log lines, one dropped token each.
    assert all(s.proposal.is_silence and s.usage is not None and s.usage.completion_tokens <= 1 for s in steps[:-1])
    assert all(s.usage is not None and s.usage.new_prompt_tokens < s.usage.prompt_tokens for s in steps[1:-1])
    last = steps[-1]
    assert agent.writer_calls == 1 and last.proposal.gate_probability is not None
    assert last.usage is not None and last.usage.new_prompt_tokens < last.usage.prompt_tokens / 2
    assert last.proposal.task or last.proposal.thoughts.startswith("writer declined")


def test_on_recorded_real_answers_declines_are_silence_with_a_reason() -> None:
    writer = OfferWriter(get_model(REPLAY))
    offers = []
    for labelled in load_labelled_traces(ROOT / "data" / "new_traces" / "dev"):
        for index, need in enumerate(labelled.help_needed):
            if need:
                offers.append(asyncio.run(writer.write(Observation(history=labelled.trace.events[: index + 1]))))
    declined = [o for o in offers if o.task is None]
    assert len(offers) == 36 and 3 <= len(declined) < len(offers)
    assert all(o.declined and o.candidate for o in declined)  # the model wrote something; a check refused it
    assert all(not o.declined for o in offers if o.task is not None)


def test_a_placeholder_of_the_prompt_said_as_it_stands_is_declined() -> None:
    observation = Observation(history=_events("Firefox — 'lisbon to porto train' - Google Search"))
    assert decline_reason("Find out the answer to their question", observation) == "copies its instructions"
    filled = "Find out which train runs from Lisbon to Porto"
    assert decline_reason(filled, observation) == ""
    # Filled in but with its brackets left (seen on ProactiveBench): still not a line for a person.
    left = "Explain why <the lisbon to porto train search> returns nothing and fix it"
    assert decline_reason(left, observation) == "leaves a placeholder of its instructions in"
    assert decline_reason("Explain why List<String> fails in the lisbon porto search", observation) == ""


def test_a_declined_answer_that_restates_the_query_becomes_the_offer_to_find_its_answer() -> None:
    # Real 1.5B answers on the second blind set, declined as retelling or as a step of their own.
    search = "https://www.google.com/search?q=can+i+claim+direct+debit+guarantee+if+gym+froze — Google Search"
    observation = Observation(history=_events("Bank app: FLEXFIT GYMS LTD charged twice", search))
    retold = "Can I claim direct debit guarantee if gym froze?"
    assert decline_reason(retold, observation) == "retells the activity instead of offering work"
    assert restated_query(retold, observation) == (
        "Find the answer to 'can i claim direct debit guarantee if gym froze' and sum it up"
    )
    # An answer about something else is not the query, and without a typed query nothing is filled.
    assert restated_query("Cancel the FLEXFIT membership", observation) is None
    clicked = Observation(history=_events("Clicked 'Cancel membership' on members.flexfitgyms.co.uk"))
    assert restated_query("Cancel membership", clicked) is None


def test_an_answer_may_quote_the_failure_it_explains() -> None:
    failed = _events(
        "RStudio | Console: left_join(counts, sites, by = 'site_code') -> Error in `left_join()`: Join columns "
        "in `y` must be present in the data. x Problem with `site_code`. | 0m15s"
    )
    task = "Explain why the error 'Error in `left_join()`: Join columns in `y` must be present in the data'"
    assert not echoes_activity(task, failed)
    # Without an answering verb the same words retell the failure.
    assert echoes_activity("Error in `left_join()`: Join columns in `y` must be present in the data", failed)
