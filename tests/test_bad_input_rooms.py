"""Bad input, room by room: one line, exit code 2, nothing lost (the rows tests/test_bad_input.py lacks).

One table per room (sense, assist, bench, the shared file readers, the command line itself).
Every row runs the real command in a child process (`python -m proactive.cli.main`), then
checks: exit code 2, nothing on stdout, exactly one non-empty line on stderr, starting with
"error:" and naming what is wrong, no traceback, and, where something existed before, that
it is still there byte for byte. The sense rows read a real aw-server fed with heartbeats.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import awserver
from awserver import Feeder
from oneline import assert_one_error_line
from proactive.assist.store import AssistStore
from proactive.data.loaders import REWARD_FILE
from proactive.types import Event, Proposal

# The aw-server fixtures live in tests/awserver.py (shared with the other sense tests).
aw_server, aw_home, feeder = awserver.aw_server, awserver.aw_home, awserver.feeder


@dataclass
class Ctx:
    """What a row may use: its scratch folder, the state dir, the shared data, a finished run."""

    tmp: Path
    home: Path
    bench: Path
    run: Path
    feeder: Feeder | None = None  # sense rows only: heartbeats into the aw-server at aw_url
    aw_url: str = ""


@dataclass
class Case:
    """A command, what its one line must name, and what must still be there afterwards."""

    args: list[str]
    needles: tuple[str, ...]
    after: Callable[[], None] | None = None
    env: dict[str, str] = field(default_factory=dict)


Table = dict[str, Callable[[Ctx], Case]]


def _cli(args: list[str], home: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PROACTIVE_HOME": str(home), "PROACTIVE_CONFIG_DIR": str(home / "config"),
                "HF_HUB_OFFLINE": "1", **(env or {})}  # fmt: skip
    return subprocess.run([sys.executable, "-m", "proactive.cli.main", *args], capture_output=True, text=True,
                          env=full_env, timeout=300, check=False)  # fmt: skip


def _unchanged(*paths: Path) -> Callable[[], None]:
    before = {path: path.read_bytes() for path in paths}

    def check() -> None:
        for path, data in before.items():
            assert path.is_file() and path.read_bytes() == data, f"{path} was changed"

    return check


def _nothing_at(path: Path) -> Callable[[], None]:
    def check() -> None:
        assert not path.exists(), f"{path} was created by a refused command"

    return check


def _check(built: Case, home: Path) -> None:
    done = _cli(built.args, home, built.env)
    assert done.stdout == "", done.stdout  # every row is refused before it prints anything
    assert_one_error_line(done, built.needles, built.after)


# -- sense: a real aw-server --------------------------------------------------------------------

SENSE: Table = {}


def _window(ctx: Ctx, minutes_ago: float, app_name: str, title: str) -> None:
    assert ctx.feeder is not None
    start = time.time() - minutes_ago * 60
    window = {"app": app_name, "title": title}
    ctx.feeder.beats("currentwindow", "aw-watcher-window_testhost", start, start + 30, window)
    ctx.feeder.beats("afkstatus", "aw-watcher-afk_testhost", start, start + 30, {"status": "not-afk"})


def _sense(ctx: Ctx, *extra: str) -> list[str]:
    return ["sense", "--aw-url", ctx.aw_url, *extra]


def _config_missing(ctx: Ctx) -> Case:
    # The password manager is excluded in the config the user meant; a typo in its name must not
    # silently run with no exclusions (and print the window).
    _window(ctx, 2, "KeePassXC", "Passwords.kdbx - KeePassXC")
    typo = ctx.tmp / "sense.tmol"
    return Case(_sense(ctx, "--since", "10", "--config", str(typo)), ("--config", str(typo), "not found"))


def _since_huge(ctx: Ctx) -> Case:
    return Case(_sense(ctx, "--since", "1e10"), ("--since 1e+10", "out of range", "ten years"))


def _regex_overflow(ctx: Ctx) -> Case:
    config = ctx.tmp / "sense.toml"
    config.write_text('[exclude]\ntitles = ["a{1,99999999999}"]\n', encoding="utf-8")
    needles = (str(config), "exclude.titles[0]", "a{1,99999999999}", "repetition number is too large")
    return Case(_sense(ctx, "--config", str(config)), needles, after=_unchanged(config))


def _record_quiet_window(ctx: Ctx) -> Case:
    # A first run records an hour-old session; run again over the last 5 quiet minutes, the
    # same --record must not be replaced by an empty trace.
    _window(ctx, 60, "Code", "CheckName.rb - myproject - Visual Studio Code")
    first = _cli(_sense(ctx, "--since", "90", "--record", "day.json"), ctx.home)
    assert first.returncode == 0, first.stderr
    recorded = ctx.home / "traces" / "day.json"
    assert json.loads(recorded.read_text(encoding="utf-8")), "the first run recorded nothing"
    needles = ("--record", str(recorded), "not overwritten")
    return Case(_sense(ctx, "--since", "5", "--record", "day.json"), needles, after=_unchanged(recorded))


SENSE.update({
    "sense-config-file-missing": _config_missing,
    "sense-since-beyond-datetime": _since_huge,
    "sense-regex-repeat-overflow": _regex_overflow,
    "sense-record-quiet-window-keeps-trace": _record_quiet_window,
})  # fmt: skip


# -- assist ---------------------------------------------------------------------------------------

ASSIST: Table = {}


def _answered(ctx: Ctx) -> None:
    """One accepted proposal in the assistant's log, so that an export has a row to write."""
    history = [Event(time="1717377997.0", text="The user opens budget.xlsx.", source="activitywatch")]
    with AssistStore(ctx.home / "assist.sqlite3") as store:
        pid = store.add_proposal(session="s", history=history, proposal=Proposal(task="Chart the budget"),
                                 reason="after a save")  # fmt: skip
        store.record_answer(pid, "accepted")


def _export_nothing(ctx: Ctx) -> Case:
    earlier = ctx.tmp / "prev.jsonl"
    earlier.write_text('{"prompt": [], "completion": [], "label": true}\n', encoding="utf-8")
    needles = (str(earlier), "no accepted or dismissed proposals", "left as it was")
    return Case(["assist", "export", "--out", str(earlier)], needles, after=_unchanged(earlier))


def _export_to_folder(ctx: Ctx) -> Case:
    _answered(ctx)
    folder = ctx.tmp / "exports"
    folder.mkdir()
    kept = folder / "kto.jsonl"
    kept.write_text("earlier export\n", encoding="utf-8")
    return Case(["assist", "export", "--out", str(folder)], ("--out", str(folder), "is a folder"),
                after=_unchanged(kept))  # fmt: skip


def _snooze_not_saved(ctx: Ctx) -> Callable[[], None]:
    def check() -> None:
        with AssistStore(ctx.home / "assist.sqlite3") as store:
            assert store.snooze_until() is None, "a refused snooze was saved"

    return check


def _snooze(duration: str) -> Callable[[Ctx], Case]:
    def build(ctx: Ctx) -> Case:
        return Case(["assist", "snooze", duration], (duration, "30 days"), after=_snooze_not_saved(ctx))

    return build


def _simulate_negative_cap(ctx: Ctx) -> Case:
    args = ["assist", "simulate", "--traces", str(ctx.bench / "test_data"), "--gate", str(ctx.tmp / "gate"),
            "--max-per-hour", "-3"]  # fmt: skip
    return Case(args, ("--max-per-hour -3", "at least 0"))


ASSIST.update({
    "assist-export-nothing-answered-keeps-file": _export_nothing,
    "assist-export-out-is-a-folder": _export_to_folder,
    "assist-snooze-overflows-the-clock": _snooze("999999999999999999999h"),
    "assist-snooze-years": _snooze("99999h"),
    "assist-simulate-negative-cap": _simulate_negative_cap,
})  # fmt: skip


# -- bench -----------------------------------------------------------------------------------------

BENCH: Table = {}


def _score_damaged(ctx: Ctx) -> Case:
    import shutil

    run = ctx.tmp / "run"
    shutil.copytree(ctx.run, run)
    scored = _cli(["bench", "score", str(run), "--data", str(ctx.bench), "--samples", "20"], ctx.home)
    assert scored.returncode == 0, scored.stderr
    damaged = run / "predictions" / "code_12.json"
    damaged.write_bytes(damaged.read_bytes()[:300])  # torn, as by a full disk or a bad copy
    kept = [run / name for name in ("metrics.json", "metrics.csv", "run.json")]
    needles = (str(damaged), "invalid JSON at line", "damaged", "nothing was scored")
    return Case(["bench", "score", str(run), "--data", str(ctx.bench), "--samples", "20"], needles,
                after=_unchanged(*kept, damaged))  # fmt: skip


BENCH["bench-score-damaged-prediction-file"] = _score_damaged


# -- the shared readers: a file that is not UTF-8 -------------------------------------------------

READERS: Table = {}


def _latin1_rows(ctx: Ctx) -> tuple[Path, str]:
    """Two good reward rows, then one saved as Latin-1; returns the file and 'byte N (line 3)'."""
    good = "\n".join((ctx.bench / REWARD_FILE).read_text(encoding="utf-8").splitlines()[:2]) + "\n"
    third = json.loads(good.splitlines()[0])
    third["pred_task"] = "Open the café menu"
    bad = json.dumps(third, ensure_ascii=False).encode("latin-1") + b"\n"
    path = ctx.tmp / "rows.jsonl"
    path.write_bytes(good.encode("utf-8") + bad)
    offset = len(good.encode("utf-8")) + bad.index(b"\xe9")
    return path, f"byte {offset} (line 3)"


def _rows_case(command: Callable[[Ctx, Path], list[str]], makes: str | None = None) -> Callable[[Ctx], Case]:
    def build(ctx: Ctx) -> Case:
        path, where = _latin1_rows(ctx)
        after = _nothing_at(ctx.tmp / makes) if makes else _unchanged(path)
        return Case(command(ctx, path), (str(path), where, "not UTF-8"), after=after)

    return build


def _replay_latin1(ctx: Ctx) -> Case:
    trace = ctx.tmp / "day.json"
    step = {"observation": {"time": "1717377997.0", "event": "The user opens café.txt."}}
    body = json.dumps([step], ensure_ascii=False)
    data = body.encode("latin-1")
    trace.write_bytes(data)
    where = f"byte {data.index(0xE9)} (line 1)"
    return Case(["assist", "--replay", str(trace), "--agent", "always"], (str(trace), where, "not UTF-8"),
                after=_unchanged(trace))  # fmt: skip


def _answers_latin1(ctx: Ctx) -> Case:
    answers = ctx.tmp / "answers.txt"
    answers.write_bytes("accept\n# café\n".encode("latin-1"))
    command = ["assist", "--replay", str(ctx.bench / "test_data" / "code_11.json"), "--answers", str(answers),
               "--agent", "always"]  # fmt: skip
    return Case(command, (str(answers), "byte 12 (line 2)", "not UTF-8"), after=_unchanged(answers))


READERS.update({
    "assist-replay-not-utf8": _replay_latin1,
    "assist-answers-not-utf8": _answers_latin1,
    "judge-eval-data-not-utf8": _rows_case(
        lambda ctx, rows: ["judge", "eval", "--data", str(rows), "--judge", "human-labels"]),
    "judge-eval-loto-train-not-utf8": _rows_case(
        lambda ctx, rows: ["judge", "eval", "--data", str(ctx.bench / REWARD_FILE), "--loto-train", str(rows)]),
    "train-build-rows-not-utf8": _rows_case(
        lambda ctx, rows: ["train", "build", "--out", str(ctx.tmp / "set"), "--rows", str(rows),
                           "--judge", "human-labels"], makes="set"),
    "train-build-kto-rows-not-utf8": _rows_case(
        lambda ctx, rows: ["train", "build", "--out", str(ctx.tmp / "set"), "--kto-rows", str(rows),
                           "--judge", "human-labels"], makes="set"),
    "annotate-agreement-rows-not-utf8": _rows_case(lambda ctx, rows: ["annotate", "agreement", "--rows", str(rows)]),
})  # fmt: skip


# -- the command line: values click cannot parse, a missing argument ------------------------------

USAGE: Table = {
    "usage-since-not-a-number": lambda ctx: Case(["sense", "--since", "abc"], ("--since 'abc'", "valid number",
                                                                               "proactive sense --help")),
    "usage-port-not-a-number": lambda ctx: Case(["annotate", "serve", "--port=abc"], ("--port 'abc'", "integer")),
    "usage-missing-argument": lambda ctx: Case(["assist", "snooze"], ("missing argument DURATION", "30m")),
    "usage-missing-option": lambda ctx: Case(["assist", "export"], ("missing option --out", "JSONL")),
    "usage-option-without-value": lambda ctx: Case(["bench", "run", "--traces"],
                                                   ("--traces", "requires an argument", "proactive bench run --help")),
}  # fmt: skip


# -- fixtures and the tests -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def finished_run(bench_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run (always agent, two traces, three events each) for `bench score`."""
    out = tmp_path_factory.mktemp("runs") / "run"
    args = ["bench", "run", "--data", str(bench_data), "--out", str(out), "--agent", "always", "--traces",
            "code_11,code_12", "--limit", "3", "--judge", "none", "--no-baselines", "--no-report"]  # fmt: skip
    done = _cli(args, tmp_path_factory.mktemp("home"))
    assert done.returncode == 0, done.stderr
    return out


@pytest.mark.parametrize("name", sorted(SENSE))
def test_sense_bad_input(name: str, tmp_path: Path, state_home: Path, bench_data: Path, aw_server: str,
                         feeder: Feeder) -> None:  # fmt: skip
    _check(SENSE[name](Ctx(tmp_path, state_home, bench_data, tmp_path, feeder, aw_server)), state_home)


@pytest.mark.parametrize("name", sorted(ASSIST | BENCH | READERS | USAGE))
def test_bad_input_is_one_line_and_loses_nothing(
    name: str, tmp_path: Path, state_home: Path, bench_data: Path, finished_run: Path
) -> None:
    table = next(t for t in (ASSIST, BENCH, READERS, USAGE) if name in t)
    _check(table[name](Ctx(tmp_path, state_home, bench_data, finished_run)), state_home)


def test_snooze_names_the_day_when_it_is_not_today(state_home: Path) -> None:
    done = _cli(["assist", "snooze", "2d"], state_home)
    assert done.returncode == 0, done.stderr
    with AssistStore(state_home / "assist.sqlite3") as store:
        until = store.snooze_until()
    assert until is not None and abs(until - (time.time() + 2 * 86400)) < 60
    assert done.stdout.strip() == f"snooze: quiet until {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(until))}"
