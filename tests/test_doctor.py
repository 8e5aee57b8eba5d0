"""`proactive doctor` and the llama.cpp build check shared with scripts/setup.sh, on the real install."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from proactive.doctor.build import check_build, compare, cpu_flags, parse_system_info
from proactive.models import store

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
SMALL = "smollm2-135m"
#: A decode child that succeeds without llama.cpp, so a test isolates another check.
QUIET_DECODE = f"{sys.executable} -c 'import json; print(json.dumps({{\"text\": \"x\", \"seconds\": 0.0}}))'"


def _doctor(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "COLUMNS": "250", **(env or {})}
    command = [sys.executable, "-m", "proactive.cli.main", "doctor", *args]
    return subprocess.run(command, capture_output=True, text=True, env=full_env, timeout=600, check=False)


def _checks(output: str) -> dict[str, dict[str, str]]:
    return {check["area"]: check for check in json.loads(output)["checks"]}


@pytest.fixture(scope="module")
def pulled() -> Path:
    return store.pull(SMALL)


@pytest.mark.llm
def test_doctor_passes_on_this_install_and_reports_the_build_features(pulled: Path, bench_data: Path) -> None:
    done = _doctor("--json", env={"PROACTIVEBENCH_DIR": str(bench_data)})
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    checks = _checks(done.stdout)
    assert checks["llama.cpp build"]["status"] in ("ok", "warn")
    assert checks["one-token decode"]["status"] == "ok" and SMALL in checks["one-token decode"]["detail"]
    assert checks[f"model {SMALL}"]["status"] == "ok"
    assert checks["data dir"]["status"] == "ok" and str(bench_data) in checks["data dir"]["detail"]
    features = set(report["build_features"])
    assert not any(name.startswith("AMX") for name in features)
    flags = cpu_flags()
    for feature, flag in (("AVX2", "avx2"), ("AVX512", "avx512f")):
        assert (feature in features) == (flag in flags), f"{feature} in the build vs {flag} in /proc/cpuinfo"


@pytest.mark.llm
def test_a_crashing_decode_is_one_line_naming_the_fix_and_exit_1(pulled: Path) -> None:
    crash = f"{sys.executable} -c 'import os, signal; os.kill(os.getpid(), signal.SIGSEGV)'"
    done = _doctor("--decode-command", crash)
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    line = next(line for line in done.stdout.splitlines() if "one-token decode" in line)
    assert "crashed with SIGSEGV" in line and "bash scripts/setup.sh" in line
    assert "install BROKEN" in done.stdout.splitlines()[-1] and "bash scripts/setup.sh" in done.stdout.splitlines()[-1]


@pytest.mark.llm
def test_an_invalid_gguf_fails_the_decode_without_killing_the_doctor(tmp_path: Path) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + bytes(range(256)) * 64)
    done = _doctor("--json", "--model", str(bad))
    assert done.returncode == 1
    decode = _checks(done.stdout)["one-token decode"]
    assert decode["status"] == "fail" and "bad.gguf" in decode["detail"] and "\n" not in decode["detail"]
    assert decode["fix"] == f"check that {bad} is a valid GGUF file"


def test_a_missing_data_dir_is_reported(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-bench"
    done = _doctor("--json", "--decode-command", QUIET_DECODE, env={"PROACTIVEBENCH_DIR": str(missing)})
    assert done.returncode == 1
    checks = _checks(done.stdout)
    assert checks["data dir"]["status"] == "fail" and str(missing) in checks["data dir"]["detail"]
    assert "PROACTIVEBENCH_DIR" in (checks["data dir"]["fix"] or "")
    assert [area for area, check in checks.items() if check["status"] == "fail"] == ["data dir"]


def test_build_check_refuses_amx_and_features_the_cpu_lacks() -> None:
    # System info of a real build made with -mamx-tile -mamx-int8 (notes: amx_demo.md).
    amx = parse_system_info((DATA / "llama_system_info_amx.txt").read_text())["CPU"]
    assert amx["AMX_INT8"] == "1"
    refused, unsupported, _ = compare(amx, {"avx", "avx2", "fma", "f16c", "avx512f", "amx_int8", "amx_tile"})
    assert refused == ["AMX_INT8"]  # even a CPU with AMX: llama.cpp 0.3.36's AMX path crashes
    real = check_build()  # this venv's build, on this CPU
    assert real.ok, real.summary()
    avx2_only = {flag for flag in real.cpu if not flag.startswith("avx512")}
    _, unsupported, _ = compare(real.features, avx2_only)
    assert ("AVX512" in unsupported) == ("AVX512" in real.enabled())


def test_build_check_turns_a_crashing_import_into_one_line(tmp_path: Path) -> None:
    python = tmp_path / "python"
    python.write_text("#!/bin/sh\nkill -ILL $$\n")  # a build that dies on an instruction the CPU lacks
    python.chmod(0o755)
    done = subprocess.run(
        [sys.executable, "-m", "proactive.doctor", "--build-check", "--python", str(python)],
        capture_output=True, text=True, timeout=60, check=False, env={**os.environ, "PYTHONPATH": str(REPO / "src")},
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stdout.count("\n") == 1 and "crashed with SIGILL" in done.stdout and "scripts/setup.sh" in done.stdout
