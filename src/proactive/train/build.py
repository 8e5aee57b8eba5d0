"""`proactive train build`: agent SFT and KTO data from gym traces, annotated rows and assistant feedback.

The steps: check every input (before any model loads), write judge-filtered teacher
targets for gym traces (resumable, `gym_source`), targets from annotated rows with the
test traces left out (`rows_source`), merge the assistant's KTO rows, cut long
conversations to the token budget, and write the exports and the manifest (`exports`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import BaseModel, Field

from proactive.agent.base import AgentConfig
from proactive.data.labels import row_trace_key, trace_keys_by_id
from proactive.data.loaders import load_reward_rows, load_test_traces
from proactive.errors import DataError, UserError
from proactive.fileio import read_jsonl, write_atomic
from proactive.judge.base import Judge, get_judge
from proactive.provenance import code_version, file_sha256, now_utc
from proactive.settings import data_dir
from proactive.train.conversation import (
    DEFAULT_TOKENIZER,
    KtoRow,
    SftExample,
    TokenCounter,
    cut_to_budget,
    fixed_answer,
    silence_answer,
    tokenizer_counter,
)
from proactive.train.exports import write_exports
from proactive.train.gym_source import GymTargets, gym_outputs, read_gym_trace, records_summary, trace_files
from proactive.train.manifest import DatasetManifest, SourceRef
from proactive.train.rows_source import TASK_CAP, row_events, rows_outputs
from proactive.types import AnnotatedRow

WORK_DIR = "work"
SETTINGS_FILE = "settings.json"
Advance = Callable[[int], None]


class BuildOptions(BaseModel):
    """What `proactive train build` was asked to do."""

    out: Path
    traces: Path | None = None
    rows: Path | None = None
    kto_rows: Path | None = None
    model: str | None = Field(default=None, description="Teacher model spec.")
    judge: str | None = Field(default=None, description="Judge name or trained-judge folder.")
    max_retries: int = 2
    token_budget: int = 2048
    tokenizer: str = DEFAULT_TOKENIZER
    keep_test_traces: bool = False
    data: Path | None = None
    max_tokens: int = 320


class BuildResult(BaseModel):
    """What a build produced."""

    manifest: DatasetManifest
    examples: int
    kto_rows: int
    notes: list[str]


def check_options(options: BuildOptions) -> None:
    """Refuse what cannot work before any model loads or any file is written."""
    if options.traces is None and options.rows is None and options.kto_rows is None:
        raise UserError("train build: nothing to build from; pass --traces DIR, --rows FILE and/or --kto-rows FILE")
    if options.traces is not None:
        trace_files(options.traces)
        if options.model is None:
            raise UserError(
                "train build --traces: the teacher writes the targets; pass --model, e.g. local/qwen2.5-coder-1.5b"
            )
        if options.judge is None:
            raise UserError(
                "train build --traces: targets are kept only when a judge accepts them; pass --judge NAME|DIR"
            )
    for option, path in (("--rows", options.rows), ("--kto-rows", options.kto_rows)):
        if path is not None and not path.is_file():
            raise UserError(f"{option} {path}: file not found; pass an existing JSONL file")
    if options.model is not None:
        from proactive.models.base import check_spec

        check_spec(options.model)


def judge_traces(judge: Judge, data: Path | None) -> list[str]:
    """Trace keys whose labels shaped the judge's verdicts (what a model filtered by it has seen)."""
    if judge.name == "human-labels":  # it *is* the test traces' labels
        return sorted(trace_keys_by_id(load_test_traces(data_dir(data))).values())
    traces = set(getattr(judge, "training_traces", set()))
    bank = getattr(judge, "bank", None)
    if bank is not None:  # an llm judge's few-shot examples come from these rows
        traces |= {str(key) for key in bank.keys}
    return sorted(traces)


def folder_sha256(files: Sequence[Path]) -> str:
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _check_work_settings(work: Path, options: BuildOptions) -> None:
    """A resumed build must use the same teacher, judge and retries as the records it reuses."""
    wanted = {"teacher": options.model, "judge": options.judge, "max_retries": options.max_retries,
              "max_tokens": options.max_tokens,
              "traces": str(options.traces.resolve()) if options.traces else None}  # fmt: skip
    path = work / SETTINGS_FILE
    if path.is_file():
        try:
            found = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            raise DataError(path, "", "", "damaged; delete the work folder to rebuild from scratch") from None
        changed = [k for k, v in wanted.items() if found.get(k) != v]
        if changed:
            raise UserError(
                f"{path}: this --out was built with other {', '.join(changed)} ({found}); "
                "pass a new --out or the same options to resume"
            )
        return
    write_atomic(path, json.dumps(wanted, indent=2))


async def build_gym(
    options: BuildOptions, judge: Judge, advance: Advance, total: Callable[[int], None]
) -> tuple[list[SftExample], list[KtoRow], dict[str, int], list[str]]:
    """Teacher targets for every gym trace (records reused from the work folder)."""
    from proactive.agent.llm_agent import create

    assert options.traces is not None and options.model is not None
    work = options.out / WORK_DIR
    _check_work_settings(work, options)
    traces = [read_gym_trace(path) for path in trace_files(options.traces)]
    empty = [t for t in traces if not t.events]
    traces = [t for t in traces if t.events]
    total(sum(len(t.events) for t in traces))
    agent = create(AgentConfig(model=options.model, max_tokens=options.max_tokens, temperature=0.0))
    targets = GymTargets(agent, judge, options.max_retries, work / "gym")
    examples: list[SftExample] = []
    kto: list[KtoRow] = []
    records = []
    for trace in traces:
        trace_records = await targets.run_trace(trace, advance)
        more, rows = gym_outputs(trace, trace_records)
        examples += more
        kto += rows
        records += trace_records
    counts = records_summary(records) | {"gym_traces": len(traces), "gym_traces_without_events": len(empty)}
    return examples, kto, counts, [t.key for t in traces]


def split_test_rows(
    rows: list[AnnotatedRow], keep_test_traces: bool, data: Path | None
) -> tuple[list[AnnotatedRow], int]:
    """The rows to use and how many test-trace rows were excluded (none with --keep-test-traces)."""
    if keep_test_traces:
        return rows, 0
    test_keys = set(trace_keys_by_id(load_test_traces(data_dir(data))).values())
    kept = [r for r in rows if row_trace_key(r) not in test_keys]
    return kept, len(rows) - len(kept)


def _with_answer_turns(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """A silent answer between two user turns in a row.

    The assistant's log keeps proposals, not the agent's answer after every event; it was
    silent after most of them, and the agent's conversation always has an answer between
    events, so silence stands in for the unknown ones (and the row can be cut like the rest).
    """
    out: list[dict[str, str]] = []
    for message in messages:
        if out and out[-1]["role"] == "user" and message["role"] == "user":
            out.append({"role": "assistant", "content": silence_answer()})
        out.append(message)
    return out


def _is_writer_answer(answer: str) -> bool:
    """True for the offer writer's `{"task": ...}` answer (the `llm` agent's JSON has more fields)."""
    try:
        parsed = json.loads(answer)
    except ValueError:
        return False
    return isinstance(parsed, dict) and set(parsed) == {"task"}


def read_kto_rows(path: Path) -> list[KtoRow]:
    """The assistant's `assist export --format kto-llm` rows, in this data set's answer format.

    The default `--format kto` rows are the offer writer's own conversation (for fitting the
    writer); fed here they would be silently re-dressed as the `llm` agent's, so they are refused.

    Their system line is the assistant's own short one and their completion the bare task:
    both are replaced by what the `llm` agent sends and writes (its system prompt, its JSON
    answer), so every KTO row teaches the same conversation the fitted model will see.
    """
    from proactive.agent.llm_agent import system_prompt

    rows: list[KtoRow] = []
    for where, raw in read_jsonl(path):
        if not isinstance(raw, dict):
            fix = "expected a JSON object per line; export with `assist export --format kto-llm`"
            raise DataError(path, where, "", fix)
        prompt, completion, label = raw.get("prompt"), raw.get("completion"), raw.get("label")
        if not isinstance(prompt, list) or not all(
            isinstance(m, dict) and {"role", "content"} <= m.keys() for m in prompt
        ):
            fix = "expected a list of {role, content}; export with `assist export --format kto-llm`"
            raise DataError(path, where, "prompt", fix)
        if not isinstance(completion, list) or len(completion) != 1 or not isinstance(completion[0], dict):
            raise DataError(path, where, "completion", "expected one {role: assistant, content} message")
        if not isinstance(label, bool):
            raise DataError(path, where, "label", "expected true or false")
        messages = _with_answer_turns([{"role": str(m["role"]), "content": str(m["content"])} for m in prompt])
        if messages and messages[0]["role"] == "system":
            messages[0]["content"] = system_prompt()
        answer = str(completion[0].get("content", ""))
        if _is_writer_answer(answer):
            fix = "an `llm`-agent row, not an offer-writer row (`--format kto`): export with `--format kto-llm`"
            raise DataError(path, where, "completion", fix)
        if not answer.lstrip().startswith("{"):
            answer = fixed_answer(answer.strip() or None)
        key = raw.get("trace_key")
        rows.append(KtoRow(prompt=messages, completion=[{"role": "assistant", "content": answer}], label=label,
                           source="assist", trace_key=str(key) if key else None))  # fmt: skip
    return rows


def cut_examples(examples: list[SftExample], kto: list[KtoRow], budget: int, count: TokenCounter) -> dict[str, int]:
    """Cut every conversation to the budget in place; counts of cut and still-over-budget ones."""
    counts = {"sft_cut": 0, "sft_over_budget": 0, "kto_cut": 0, "kto_over_budget": 0, "kto_not_alternating": 0}
    for example in examples:
        kept, cut, over = cut_to_budget(example.messages, budget, count)  # type: ignore[arg-type]
        example.messages, example.cut_pairs, example.over_budget = kept, cut, over  # type: ignore[assignment]
        counts["sft_cut"] += cut > 0
        counts["sft_over_budget"] += over
    for row in kto:
        try:
            kept, cut, over = cut_to_budget([*row.prompt, *row.completion], budget, count)  # type: ignore[list-item]
        except ValueError:  # assistant-feedback rows: events without answers in between; left whole
            counts["kto_not_alternating"] += 1
            continue
        row.prompt = kept[:-1]  # type: ignore[assignment]
        counts["kto_cut"] += cut > 0
        counts["kto_over_budget"] += over
    return counts


async def _collect(
    options: BuildOptions, advance: Advance, total: Callable[[int], None]
) -> tuple[list[SftExample], list[KtoRow], dict[str, int], list[str], list[str], int, Judge | None]:
    examples: list[SftExample] = []
    kto: list[KtoRow] = []
    counts: dict[str, int] = {}
    keys: list[str] = []
    notes: list[str] = []
    excluded = 0
    judge = get_judge(options.judge, data=options.data) if options.judge else None
    if options.traces is not None and judge is not None:
        more, rows, gym_counts, gym_keys = await build_gym(options, judge, advance, total)
        examples, kto, keys = more, rows, gym_keys
        counts |= gym_counts
        notes.append(f"gym: a target is kept only when the judge accepts it; a rejected one is regenerated with "
                     f"the judge's reason up to {options.max_retries} times, else the event is dropped "
                     f"({gym_counts['gym_dropped_rejected']} dropped)")  # fmt: skip
    if options.rows is not None:
        annotated, excluded = split_test_rows(load_reward_rows(options.rows), options.keep_test_traces, options.data)
        events = row_events(annotated)
        total(len(events))
        teacher = None
        if options.model is not None:
            from proactive.models.base import get_model

            teacher = get_model(options.model)
        more, rows, row_counts = await rows_outputs(events, teacher, advance)
        examples, kto = examples + more, kto + rows
        counts |= row_counts | {"rows_used": len(annotated), "rows_excluded_test_traces": excluded}
        keys += [k for k in dict.fromkeys(e.trace_key for e in events) if k not in keys]
        test_note = "kept (--keep-test-traces)" if options.keep_test_traces else f"excluded ({excluded} rows)"
        notes.append(f"rows: rows of the 12 ProactiveBench test traces {test_note}")
        notes.append(
            f"rows: help needed but no valid candidate -> dropped ({row_counts['rows_dropped_no_valid_candidate']})"
        )
        notes.append(
            f"rows: {row_counts['rows_task_over_agent_cap']} target tasks are longer than the agent's {TASK_CAP}-"
            "character task cap (kept, the annotators' words; among equally accepted candidates one that fits wins)"
        )
        words = f"written by the teacher {options.model}" if options.model else "empty (no --model given)"
        notes.append(f"rows: the decision is the annotators'; purpose/thoughts/message {words}")
    if options.kto_rows is not None:
        assist = read_kto_rows(options.kto_rows)
        kto += assist
        counts["kto_assist_rows"] = len(assist)
        keys += [k for k in dict.fromkeys(r.trace_key for r in assist if r.trace_key) if k and k not in keys]
    return examples, kto, counts, keys, notes, excluded, judge


def build(
    options: BuildOptions,
    advance: Advance = lambda _: None,
    total: Callable[[int], None] = lambda _: None,
    counter: TokenCounter | None = None,
) -> BuildResult:
    """Build the data set into `options.out`; `counter` counts a message's tokens (default: the tokenizer)."""
    check_options(options)
    examples, kto, counts, keys, notes, excluded, judge = asyncio.run(_collect(options, advance, total))
    if not examples and (options.traces is not None or options.rows is not None):
        raise UserError(
            f"train build: no SFT example kept ({counts}); use a judge that accepts more, raise --max-retries, "
            f"or add --rows (finished work is kept in {options.out / WORK_DIR})"
        )
    if not examples and not kto:
        raise UserError(f"{options.kto_rows}: no rows; pass a non-empty `assist export --format kto` file")
    count = counter or tokenizer_counter(options.tokenizer)
    counts |= cut_examples(examples, kto, options.token_budget, count)
    cut, over = counts["sft_cut"], counts["sft_over_budget"]
    notes.append(
        f"conversations cut from the front to {options.token_budget} tokens ({options.tokenizer} tokenizer): "
        f"{cut} SFT examples cut, {over} still over (last turn + target kept)"
    )
    counts |= {"sft_examples": len(examples), "kto_rows": len(kto)}
    judge_keys = judge_traces(judge, options.data) if judge is not None else []
    manifest = DatasetManifest(
        created=now_utc(), code_version=code_version(), sources=_sources(options), counts=counts,
        judge=(str(getattr(judge, "provenance", judge.name)) if judge is not None else None),
        judge_training_traces=judge_keys, trace_keys=keys, training_traces=sorted(set(keys) | set(judge_keys)),
        teacher=options.model, token_budget=options.token_budget, excluded_test_rows=excluded,
    )  # fmt: skip
    write_exports(options.out, examples, kto, manifest, notes)
    return BuildResult(manifest=manifest, examples=len(examples), kto_rows=len(kto), notes=notes)


def _sources(options: BuildOptions) -> list[SourceRef]:
    sources = []
    if options.traces is not None:
        sources.append(
            SourceRef(kind="gym-traces", path=str(options.traces), sha256=folder_sha256(trace_files(options.traces)))
        )
    if options.rows is not None:
        sources.append(SourceRef(kind="reward-rows", path=str(options.rows), sha256=file_sha256(options.rows)))
    if options.kto_rows is not None:
        sources.append(SourceRef(kind="kto-rows", path=str(options.kto_rows), sha256=file_sha256(options.kto_rows)))
    return sources
