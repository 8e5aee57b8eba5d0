"""`proactive train build`: judge-filtered gym targets, reward-row targets, leakage, exports, cutting.

Real components throughout: SmolLM2-135M (llama.cpp) is the teacher, the `human-labels`
judge (the annotators' labels of the test events, so its verdicts are known) filters, the
gym trace is written with the gym's own `TraceLine`, the reward rows are real rows of
ProactiveBench, and the assistant's KTO rows come from a real `AssistStore` export.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from proactive.agent.llm_agent import conversation, system_prompt
from proactive.assist.store import AssistStore
from proactive.data.labels import row_trace_key, trace_key_of_events, trace_keys_by_id
from proactive.data.loaders import load_reward_rows, load_test_traces
from proactive.errors import UserError
from proactive.gym.state import TraceLine
from proactive.judge.base import get_judge
from proactive.models.base import Message
from proactive.train.build import BuildOptions, BuildResult, build, read_kto_rows
from proactive.train.conversation import cut_to_budget
from proactive.train.gym_source import read_records
from proactive.train.manifest import load_dataset_manifest
from proactive.train.rows_source import TASK_CAP, decide
from proactive.types import AnnotatedRow, Event, Proposal

TEACHER = "local/smollm2-135m"
GYM_EVENTS = 3
MAX_RETRIES = 1


def chars(message: Message) -> int:
    """A cheap token count for tests: a quarter of the characters plus the template's overhead."""
    return len(message["content"]) // 4 + 5


# -- cutting (pure) ---------------------------------------------------------------------------


def _conversation(pairs: int) -> list[Message]:
    messages: list[Message] = [{"role": "system", "content": "S" * 40}]
    for i in range(pairs):
        messages += [{"role": "user", "content": f"event {i} " + "u" * 30},
                     {"role": "assistant", "content": f"answer {i} " + "a" * 30}]  # fmt: skip
    return messages


@pytest.mark.parametrize("budget", [10_000, 100, 60, 45, 1])
def test_cutting_keeps_the_system_prompt_and_whole_turns(budget: int) -> None:
    def count(message: Message) -> int:
        return len(message["content"])

    messages = _conversation(5)
    kept, cut, over = cut_to_budget(messages, budget, count)
    assert kept[0] == messages[0]  # the system prompt stays
    assert kept[-2:] == messages[-2:]  # the last user turn and the target stay
    body = kept[1:]
    assert len(body) % 2 == 0 and all(m["role"] == ("user", "assistant")[i % 2] for i, m in enumerate(body))
    assert body == messages[1 + 2 * cut :]  # only whole leading pairs were dropped, in order
    total = sum(count(m) for m in kept)
    assert over == (total > budget)
    if not over and cut:  # nothing more was cut than needed: the last dropped pair would not have fit
        assert total + count(messages[2 * cut - 1]) + count(messages[2 * cut]) > budget
    if budget == 10_000:
        assert (kept, cut, over) == (messages, 0, False)
    if budget <= 45:  # only system + last user + target remain, the budget cannot be met
        assert len(kept) == 3 and cut == 4


def test_cutting_refuses_a_conversation_that_does_not_alternate() -> None:
    bad: list[Message] = [{"role": "system", "content": "s"}, {"role": "user", "content": "a"},
                          {"role": "user", "content": "b"}]  # fmt: skip
    with pytest.raises(ValueError, match="alternate"):
        cut_to_budget(bad, 10, chars)


# -- one real build shared by the tests below ----------------------------------------------------


def _gym_folder(folder: Path, events: list[Event]) -> Path:
    """A gym trace in the gym's own line format: an activity line, then the observed events."""
    folder.mkdir(parents=True)
    lines = [TraceLine(scene_id="scene-0000", step=1, time=events[0].time, clock="-", source="user",
                       kind="activity", text="Works on the name formatter.")]  # fmt: skip
    lines += [TraceLine(scene_id="scene-0000", step=1, time=e.time, clock="-", source="environment", kind="event",
                        text=e.text, duration=5) for e in events]  # fmt: skip
    (folder / "scene-0000.jsonl").write_text("".join(line.model_dump_json() + "\n" for line in lines))
    return folder


def _raw_key(raw: dict) -> str:  # type: ignore[type-arg]
    """Trace key of a raw reward row, as `row_trace_key` gives it for the parsed row."""
    first = raw["obs"][0]
    return f"{str(first['time']).strip()}|{first['event'].strip()}"


def _pick_rows(rows: list[AnnotatedRow], key: str, lengths: set[int]) -> list[AnnotatedRow]:
    return [r for r in rows if row_trace_key(r) == key and len(r.history) in lengths]


class Built:
    """The inputs and the result of the shared build."""

    def __init__(
        self, out: Path, result: BuildResult, rows: list[AnnotatedRow], test_key: str, gym_events: list[Event]
    ):
        self.out, self.result, self.rows, self.test_key, self.gym_events = out, result, rows, test_key, gym_events


# Non-test traces with known annotations (see the assertions): in the first, event 1 needs help and
# its valid candidates have 2 and 3 accepting annotators; in the second, event 1 needs none.
HELP_TRACE = "Day 1, 8:00 PM|The user opens a browser tab and na"
QUIET_TRACE = "Day 1, 11:00 PM|The user opens a browser and navig"


@pytest.fixture(scope="module")
def built(bench_data: Path, module_state_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = tmp_path_factory.mktemp("train")
    test_trace = load_test_traces(bench_data)[0]
    gym = _gym_folder(root / "gym", test_trace.events[:GYM_EVENTS])
    all_rows = load_reward_rows(bench_data / "reward_data" / "train_data.jsonl")
    keys = list(dict.fromkeys(row_trace_key(r) for r in all_rows))
    help_key = next(k for k in keys if k.startswith(HELP_TRACE))
    quiet_key = next(k for k in keys if k.startswith(QUIET_TRACE))
    test_key = trace_key_of_events(test_trace.events)
    rows = (
        _pick_rows(all_rows, help_key, {1, 2})
        + _pick_rows(all_rows, quiet_key, {1})
        + _pick_rows(all_rows, test_key, {1})
    )
    rows_file = root / "rows.jsonl"
    raw = [json.loads(line) for line in (bench_data / "reward_data" / "train_data.jsonl").read_text().splitlines()]
    wanted = {(len(x.history), row_trace_key(x)) for x in rows}
    picked = [r for r in raw if (len(r["obs"]), _raw_key(r)) in wanted]
    rows_file.write_text("".join(json.dumps(r) + "\n" for r in picked))
    store = AssistStore(root / "assist.db")
    history = [Event(time="1717377997.0", text="The user opens budget.xlsx."),
               Event(time="1717378000.0", text="The user sorts column B.")]  # fmt: skip
    for task, answer in (("Chart the budget by month", "accepted"), ("Email the budget to the team", "dismissed")):
        store.record_answer(store.add_proposal(session="s", history=history, proposal=Proposal(task=task),
                                               reason="test"), answer)  # type: ignore[arg-type]  # fmt: skip
    store.export_kto(root / "assist_kto.jsonl")
    store.close()
    out = root / "out"
    options = BuildOptions(out=out, traces=gym, rows=rows_file, kto_rows=root / "assist_kto.jsonl", model=TEACHER,
                           judge="human-labels", max_retries=MAX_RETRIES, token_budget=300, data=bench_data,
                           max_tokens=200)  # fmt: skip
    result = build(options, counter=chars)
    return Built(out, result, load_reward_rows(rows_file), test_key, test_trace.events[:GYM_EVENTS])


def _jsonl(path: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_only_judge_accepted_gym_targets_are_kept(built: Built, bench_data: Path) -> None:
    records = read_records(built.out / "work" / "gym" / "scene-0000.jsonl")
    assert [r.event_index for r in records] == list(range(GYM_EVENTS))
    for record in records:
        verdicts = [a.accepted for a in record.attempts]
        if record.kept:  # accepted on the last try, rejected (or invalid) on every earlier one
            assert verdicts[-1] is True and True not in verdicts[:-1]
        else:  # dropped after the first answer and MAX_RETRIES regenerations
            assert len(record.attempts) == MAX_RETRIES + 1 and True not in verdicts
    assert any(not r.kept for r in records), "the judge rejected nothing: the filter was not exercised"
    assert any(len(r.attempts) > 1 for r in records), "no rejected answer was regenerated"
    gym_meta = [m for m in _jsonl(built.out / "examples.meta.jsonl") if m["source"] == "gym"]
    assert [m["event_index"] for m in gym_meta] == [r.event_index for r in records if r.kept]
    assert [m["attempts"] for m in gym_meta] == [len(r.attempts) for r in records if r.kept]
    counts = built.result.manifest.counts
    assert counts["gym_kept"] == len(gym_meta) and counts["gym_dropped_rejected"] == GYM_EVENTS - len(gym_meta)
    # Each kept target, judged again by the same judge on the same history, is accepted.
    judge = get_judge("human-labels", data=bench_data)
    sft = _jsonl(built.out / "sft.jsonl")
    gym_examples = [row for row, meta in zip(sft, _jsonl(built.out / "examples.meta.jsonl"), strict=True)
                    if meta["source"] == "gym"]  # fmt: skip
    import asyncio

    for example, meta in zip(gym_examples, gym_meta, strict=True):
        answer = json.loads(example["messages"][-1]["content"])
        proposal = Proposal(task=answer["task"], purpose=answer["purpose"], thoughts=answer["thoughts"])
        verdict = asyncio.run(judge(built.gym_events[: meta["event_index"] + 1], proposal))
        assert verdict.accepted, meta


def test_gym_conversation_is_what_the_agent_sends(built: Built) -> None:
    records = read_records(built.out / "work" / "gym" / "scene-0000.jsonl")
    kept = [r for r in records if r.kept]
    pairs = zip(_jsonl(built.out / "sft.jsonl"), _jsonl(built.out / "examples.meta.jsonl"), strict=True)
    gym = [(row, meta) for row, meta in pairs if meta["source"] == "gym"]
    assert any(meta["cut_pairs"] for _, meta in gym), "the budget of 300 should cut a long conversation"
    for record, (example, meta) in zip(kept, gym, strict=True):
        index = record.event_index
        # Earlier turns: the kept answer of each earlier event, else the teacher's last answer there.
        answers = [r.context_answer for r in records[:index]]
        assert all(r.context_answer == r.attempts[-1].text for r in records[:index] if r.kept)
        expected = conversation(system_prompt(), built.gym_events[: index + 1], answers)
        cut = meta["cut_pairs"]  # the oldest whole (event, answer) pairs, after the system prompt
        assert example["messages"][:-1] == [expected[0], *expected[1 + 2 * cut :]]
        assert sum(chars(m) for m in example["messages"]) <= 300 or len(example["messages"]) == 3
        assert example["messages"][-1] == {"role": "assistant", "content": record.attempts[-1].text}


def test_every_judged_answer_is_a_kto_row(built: Built) -> None:
    records = read_records(built.out / "work" / "gym" / "scene-0000.jsonl")
    judged = [(a.text, a.accepted) for r in records for a in r.attempts if a.accepted is not None]
    kto = _jsonl(built.out / "kto.jsonl")
    gym_rows = [(row["completion"][0]["content"], row["label"]) for row in kto[: len(judged)]]
    assert gym_rows == judged


def test_reward_row_targets(built: Built) -> None:
    sft = _jsonl(built.out / "sft.jsonl")
    meta = _jsonl(built.out / "examples.meta.jsonl")
    targets = {(m["trace_key"], m["event_index"]): json.loads(r["messages"][-1]["content"])
               for r, m in zip(sft, meta, strict=True) if m["source"] == "rows"}  # fmt: skip
    by_event: dict[tuple[str, int], list[AnnotatedRow]] = defaultdict(list)
    for row in built.rows:
        by_event[(row_trace_key(row), len(row.history) - 1)].append(row)
    help_event = next(k for k in by_event if k[0].startswith(HELP_TRACE) and k[1] == 0)
    quiet_event = next(k for k in by_event if k[0].startswith(QUIET_TRACE))
    # Help needed: the valid candidate with the most accepting annotators (3 here; the first valid one has 2).
    chosen = targets[help_event]["task"]
    valid = [r for r in by_event[help_event] if r.valid and r.task]
    assert sum(valid[0].annotations) < max(sum(r.annotations) for r in valid)
    assert chosen in {r.task for r in valid if sum(r.annotations) == max(sum(v.annotations) for v in valid)}
    assert targets[quiet_event]["task"] is None  # no help needed: silence
    # The teacher wrote the words around the fixed decision (or the failure is counted).
    counts = built.result.manifest.counts
    filled = [t for t in targets.values() if t["purpose"] or t["thoughts"]]
    assert len(filled) + counts["rows_fill_failed"] == len(targets)
    # The test trace's rows were excluded and counted; the non-test traces are recorded.
    assert (built.test_key, 0) not in targets
    test_rows = sum(1 for r in built.rows if row_trace_key(r) == built.test_key)
    assert test_rows > 0 and built.result.manifest.excluded_test_rows == test_rows
    assert {help_event[0], quiet_event[0]} <= set(built.result.manifest.trace_keys)


def test_manifest_records_every_trace_seen(built: Built, bench_data: Path) -> None:
    manifest = load_dataset_manifest(built.out)
    assert manifest == built.result.manifest
    test_keys = set(trace_keys_by_id(load_test_traces(bench_data)).values())
    # The human-labels judge *is* the test traces' labels: all 12 count as seen.
    assert set(manifest.judge_training_traces) == test_keys
    assert set(manifest.training_traces) == set(manifest.trace_keys) | test_keys
    assert trace_key_of_events(built.gym_events) in manifest.trace_keys
    assert [s.kind for s in manifest.sources] == ["gym-traces", "reward-rows", "kto-rows"]
    assert manifest.teacher == TEACHER and manifest.token_budget == 300


def test_exports_load_with_datasets(built: Built) -> None:
    import datasets

    sft = datasets.load_dataset("json", data_files=str(built.out / "sft.jsonl"), split="train")
    assert sft.column_names == ["messages"] and sft.num_rows == built.result.examples
    kto = datasets.load_dataset("json", data_files=str(built.out / "kto.jsonl"), split="train")
    assert set(kto.column_names) == {"prompt", "completion", "label"} and kto.num_rows == built.result.kto_rows
    assert all(len(c) == 1 and c[0]["role"] == "assistant" for c in kto["completion"])
    # The assistant's rows: the agent's system prompt, JSON answers, a silent answer between events.
    assist = [row for row in _jsonl(built.out / "kto.jsonl") if "budget" in row["completion"][0]["content"]]
    assert [(json.loads(r["completion"][0]["content"])["task"], r["label"]) for r in assist] == [
        ("Chart the budget by month", True), ("Email the budget to the team", False)]  # fmt: skip
    assert assist[0]["prompt"][0]["content"] == system_prompt()
    roles = [m["role"] for m in assist[0]["prompt"][1:]]
    assert roles[-1] == "user" and assist[0]["prompt"][-1]["content"].endswith("The user sorts column B.")
    # Read whole (before cutting): a silent answer stands between the two events.
    uncut = read_kto_rows(Path(built.result.manifest.sources[2].path))
    assert [m["role"] for m in uncut[0].prompt] == ["system", "user", "assistant", "user"]
    assert json.loads(uncut[0].prompt[2]["content"])["task"] is None


def test_sharegpt_matches_sft_and_the_card_states_the_counts(built: Built) -> None:
    sft = _jsonl(built.out / "sft.jsonl")
    sharegpt = json.loads((built.out / "sharegpt.json").read_text())
    info = json.loads((built.out / "dataset_info.json").read_text())
    entry = info["proactive_sft"]
    assert entry["file_name"] == "sharegpt.json" and entry["formatting"] == "sharegpt"
    assert entry["columns"] == {"messages": "conversations", "system": "system"}
    tags = entry["tags"]
    assert len(sharegpt) == len(sft)
    for row, example in zip(sharegpt, sft, strict=True):
        messages = example["messages"]
        assert row["system"] == messages[0]["content"]
        assert [(t[tags["role_tag"]], t[tags["content_tag"]]) for t in row["conversations"]] == [
            ({"user": tags["user_tag"], "assistant": tags["assistant_tag"]}[m["role"]], m["content"])
            for m in messages[1:]
        ]
    card = (built.out / "README.md").read_text()
    counts = built.result.manifest.counts
    assert f"SFT examples: {len(sft)} (" in card and f"KTO rows: {built.result.kto_rows} (" in card
    assert f"gym_dropped_rejected: {counts['gym_dropped_rejected']}" in card
    assert f"excluded ({built.result.manifest.excluded_test_rows} rows)" in card
    assert all(f"`{key}`" in card for key in built.result.manifest.training_traces)


def test_a_rerun_resumes_from_the_work_file(built: Built, bench_data: Path) -> None:
    work = built.out / "work" / "gym" / "scene-0000.jsonl"
    before = work.read_text()
    sft_before = (built.out / "sft.jsonl").read_text()
    lines = before.splitlines(keepends=True)
    work.write_text(lines[0] + lines[1][:25])  # the second event torn mid-write, the third never written
    options = BuildOptions(out=built.out, traces=Path(load_dataset_manifest(built.out).sources[0].path),
                           model=TEACHER, judge="human-labels", max_retries=MAX_RETRIES, token_budget=300,
                           data=bench_data, max_tokens=200)  # fmt: skip
    seen: list[int] = []
    build(options, advance=seen.append, counter=chars)
    assert seen[0] == 1  # one finished event reused, then the rest redone one by one
    assert work.read_text() == before  # same answers (temperature 0, response cache)
    gym_sft = [line for line in sft_before.splitlines() if line]
    assert (built.out / "sft.jsonl").read_text().splitlines() == gym_sft[: built.result.manifest.counts["gym_kept"]]
    with pytest.raises(UserError, match="max_retries"):
        build(options.model_copy(update={"max_retries": MAX_RETRIES + 1}), counter=chars)


# -- rows without a teacher; the test traces kept on request --------------------------------------


def test_keep_test_traces_records_them_as_seen(bench_data: Path, tmp_path: Path, module_state_home: Path) -> None:
    rows_file = bench_data / "reward_data" / "train_data.jsonl"
    test_keys = set(trace_keys_by_id(load_test_traces(bench_data)).values())
    default = build(BuildOptions(out=tmp_path / "a", rows=rows_file, data=bench_data), counter=chars)
    assert default.manifest.excluded_test_rows > 0 and not test_keys & set(default.manifest.training_traces)
    kept = build(BuildOptions(out=tmp_path / "b", rows=rows_file, data=bench_data, keep_test_traces=True),
                 counter=chars)  # fmt: skip
    assert kept.manifest.excluded_test_rows == 0
    assert test_keys <= set(kept.manifest.training_traces) and test_keys <= set(kept.manifest.trace_keys)
    assert kept.examples > default.examples
    # Without a teacher the words are empty and the decision is the annotators'.
    answer = json.loads(_jsonl(tmp_path / "a" / "sft.jsonl")[0]["messages"][-1]["content"])
    assert (answer["purpose"], answer["thoughts"]) == ("", "")


def test_a_target_prefers_a_task_the_agent_can_write() -> None:
    history = [Event(time="1.0", text="The user opens a.py.")]

    def row(task: str | None, accepts: list[bool], valid: bool = True, needed: bool = True) -> AnnotatedRow:
        return AnnotatedRow(history=history, task=task, valid=valid, help_needed=needed, annotations=accepts,
                            category="CD" if needed else "FA")  # fmt: skip

    long, short, best = "x" * (TASK_CAP + 1), "Run the tests", "Explain the error " + "y" * TASK_CAP
    assert (
        decide("k", [row(None, [False, False], valid=False), row(long, [True, True]), row(short, [True, True])]).task
        == short
    )
    # More accepting annotators win even over the cap (the annotators' choice is kept, and counted).
    assert decide("k", [row(short, [True, True, False]), row(best, [True, True, True])]).task == best
    assert decide("k", [row(short, [True, True], needed=False)] * 2).task is None  # no help needed: silence
    dropped = decide("k", [row(short, [False, False], valid=False), row(None, [True, True])])
    assert dropped.dropped and dropped.task is None  # help needed, no valid task


# -- bad input: one line, exit 2 -----------------------------------------------------------------


def _cli(args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    from proactive.cli.main import run

    monkeypatch.setattr(sys, "argv", ["proactive", "train", "build", *args])
    with pytest.raises(SystemExit) as exit_info:
        run()
    return int(exit_info.value.code or 0), capsys.readouterr().err


def test_cli_bad_input_is_one_line(
    tmp_path: Path, bench_data: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = str(tmp_path / "out")
    bad_rows = tmp_path / "bad.jsonl"
    bad_rows.write_text('{"obs": [], "pred_task": null}\n')
    gym = _gym_folder(tmp_path / "gym", [Event(time="1.0", text="The user opens a.py.")])
    cases = [
        ([], "nothing to build from"),
        (["--traces", str(tmp_path / "missing")], "not a folder"),
        (["--traces", str(gym), "--judge", "human-labels"], "pass --model"),
        (["--traces", str(gym), "--model", TEACHER, "--judge", "no-such-judge"], "unknown judge 'no-such-judge'"),
        (["--rows", str(bad_rows)], f"{bad_rows}:line 1: field 'obs'"),
        (["--rows", str(tmp_path / "nope.jsonl")], "file not found"),
        (["--kto-rows", str(tmp_path / "nope.jsonl")], "file not found"),
        (["--max-retries", "-1", "--rows", str(bad_rows)], "--max-retries -1"),
    ]
    for args, expected in cases:
        code, err = _cli(["--out", out, "--data", str(bench_data), *args], capsys, monkeypatch)
        assert code == 2, (args, err)
        assert err.count("\n") == 1 and err.startswith("error: ") and expected in err, (args, err)
        assert "Traceback" not in err
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_an_empty_result_is_one_line(tmp_path: Path, bench_data: Path) -> None:
    rows_file = tmp_path / "rows.jsonl"
    test_trace = load_test_traces(bench_data)[0]
    key = trace_key_of_events(test_trace.events)
    lines = (bench_data / "reward_data" / "train_data.jsonl").read_text().splitlines()
    raw = [line for line in lines if _raw_key(json.loads(line)) == key]
    rows_file.write_text("\n".join(raw[:5]) + "\n")  # only test-trace rows: all excluded
    with pytest.raises(UserError, match="no SFT example kept"):
        build(BuildOptions(out=tmp_path / "out", rows=rows_file, data=bench_data), counter=chars)


def test_a_missing_or_bad_manifest_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"manifest\.json: missing"):
        load_dataset_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text('{"kind": "agent-sft+kto"}')
    with pytest.raises(UserError, match="field 'created'"):
        load_dataset_manifest(tmp_path)
