"""Is this llama.cpp build safe on this CPU? Shared by `scripts/setup.sh` and `proactive doctor`.

Standard library only: set-up runs it with `PYTHONPATH=src` in a venv that may hold
nothing but llama-cpp-python. Everything that touches llama.cpp runs in a child
process, so a build that dies on import (SIGILL: an instruction this CPU lacks) is
reported as a signal name instead of killing the checker.

A build is refused when llama.cpp reports:
- an AMX feature (`AMX_INT8 = 1`): llama-cpp-python 0.3.36's AMX path crashes on the
  first decode (`ggml_backend_amx_mul_mat`) even on CPUs that have AMX;
- a SIMD feature the CPU does not have (a wheel built on another machine, e.g. from
  pip's wheel cache): the first such instruction is a SIGILL.
A build that lacks a feature the CPU has works, only slower: a warning.
"""

from __future__ import annotations

import os
import platform
import re
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

FIX = "rebuild: bash scripts/setup.sh"

#: llama.cpp feature name -> the /proc/cpuinfo flag the CPU needs for it (x86).
CPU_FLAG_FOR: dict[str, str] = {
    "SSE3": "pni",
    "SSSE3": "ssse3",
    "AVX": "avx",
    "AVX_VNNI": "avx_vnni",
    "AVX2": "avx2",
    "F16C": "f16c",
    "FMA": "fma",
    "BMI2": "bmi2",
    "AVX512": "avx512f",
    "AVX512_VBMI": "avx512vbmi",
    "AVX512_VNNI": "avx512_vnni",
    "AVX512_BF16": "avx512_bf16",
    "AMX_INT8": "amx_int8",
}

#: Features refused whatever the CPU: the AMX path of llama-cpp-python 0.3.36 crashes.
REFUSED_PREFIX = "AMX"

SYSTEM_INFO_SNIPPET = (
    "import sys, llama_cpp; "
    "sys.stdout.write(llama_cpp.__version__ + '\\n' + llama_cpp.llama_print_system_info().decode())"
)


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The CPU's feature flags (first `flags` line of /proc/cpuinfo; empty where there is none)."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.partition(":")[2].split())
    return set()


def cpu_kind(flags: set[str]) -> str:
    """A short name for the SIMD level that matters to llama.cpp: AMX, AVX-512, AVX2 or other."""
    if "amx_int8" in flags:
        return "AVX-512 + AMX"
    if "avx512f" in flags:
        return "AVX-512 (no AMX)"
    if "avx2" in flags:
        return "AVX2 (no AVX-512)"
    return platform.machine() or "unknown"


def parse_system_info(text: str) -> dict[str, dict[str, str]]:
    """`llama_print_system_info()` -> {backend: {feature: value}}.

    The text looks like `CPU : SSE3 = 1 | AVX2 = 1 | ... | ` (one such section per backend).
    """
    sections: dict[str, dict[str, str]] = {}
    for match in re.finditer(r"([A-Za-z0-9_\-]+) : ((?:[A-Za-z0-9_]+ = [^|]*\| ?)*)", text):
        pairs = re.findall(r"([A-Za-z0-9_]+) = ([^|]*?) *\|", match.group(2))
        sections[match.group(1)] = dict(pairs)
    return sections


def signal_name(returncode: int) -> str | None:
    """'SIGSEGV' for a child killed by signal 11 (return code -11); None for a normal exit."""
    if returncode >= 0:
        return None
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


def child_failure(returncode: int, stderr: str) -> str:
    """One line saying how a child process failed: its signal, else its last error line."""
    name = signal_name(returncode)
    if name is not None:
        return f"crashed with {name}"
    last = next((line.strip() for line in reversed(stderr.splitlines()) if line.strip()), "no error output")
    return f"exited with code {returncode}: {last[:300]}"


@dataclass
class BuildCheck:
    """What the build reports about itself, compared with the CPU."""

    python: str
    version: str | None = None
    features: dict[str, str] = field(default_factory=dict)  # the CPU backend's features
    cpu: set[str] = field(default_factory=set)
    error: str | None = None  # import failed or crashed
    refused: list[str] = field(default_factory=list)  # AMX features
    unsupported: list[str] = field(default_factory=list)  # built for, but the CPU lacks
    unused: list[str] = field(default_factory=list)  # the CPU has, the build does not use

    @property
    def ok(self) -> bool:
        return self.error is None and not self.refused and not self.unsupported

    def enabled(self) -> list[str]:
        return [name for name, value in self.features.items() if value not in ("0", "")]

    def summary(self, for_setup: bool = True) -> str:
        """One line: what is wrong, or the features in use; for set-up also the interpreter and the fix."""
        head = f"llama-cpp-python {self.version or '?'}" + (f" ({self.python})" if for_setup else "")
        fix = f"; {FIX}" if for_setup else ""
        if self.error is not None:
            return f"{head}: import {self.error}{fix}"
        problems = []
        if self.refused:
            problems.append(f"built with {', '.join(self.refused)} (llama.cpp's AMX path crashes on decode)")
        if self.unsupported:
            problems.append(f"built for {', '.join(self.unsupported)}, which this CPU lacks (SIGILL)")
        if problems:
            return f"{head}: {'; '.join(problems)}{fix}"
        slower = f"; not using {', '.join(self.unused)} (slower{fix})" if self.unused else ""
        return f"{head}: ok, uses {' '.join(self.enabled()) or 'no SIMD features'}{slower}"


def compare(features: dict[str, str], flags: set[str]) -> tuple[list[str], list[str], list[str]]:
    """(refused, unsupported, unused) feature names of a build on a CPU with these flags."""
    enabled = {name for name, value in features.items() if value not in ("0", "")}
    refused = sorted(name for name in enabled if name.startswith(REFUSED_PREFIX))
    known = bool(flags) and platform.machine() in ("x86_64", "AMD64", "i686")
    unsupported = sorted(
        name for name in enabled if known and name in CPU_FLAG_FOR and CPU_FLAG_FOR[name] not in flags
    )
    unused = sorted(
        name
        for name, flag in CPU_FLAG_FOR.items()
        if known and flag in flags and name not in enabled and not name.startswith(REFUSED_PREFIX)
    )
    return refused, [n for n in unsupported if n not in refused], unused


def check_build(python: str = sys.executable, timeout: float = 120.0) -> BuildCheck:
    """Import llama_cpp in a child `python` and compare its system info with this CPU."""
    result = BuildCheck(python=python, cpu=cpu_flags())
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    try:
        done = subprocess.run(
            [python, "-c", SYSTEM_INFO_SNIPPET], capture_output=True, text=True, timeout=timeout, env=env, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        result.error = f"could not run: {exc}"
        return result
    if done.returncode != 0:
        result.error = child_failure(done.returncode, done.stderr)
        return result
    version, _, info = done.stdout.partition("\n")
    result.version = version.strip() or None
    result.features = parse_system_info(info).get("CPU", {})
    result.refused, result.unsupported, result.unused = compare(result.features, result.cpu)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m proactive.doctor --build-check [--python PATH]`: one line, exit 0 (ok) or 1."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m proactive.doctor", description=__doc__)
    parser.add_argument("--build-check", action="store_true", required=True, help="check the llama.cpp build")
    parser.add_argument("--python", default=sys.executable, help="interpreter whose llama_cpp to check")
    args = parser.parse_args(argv)
    check = check_build(args.python)
    print(("build check: " if check.ok else "build check FAILED: ") + check.summary(), flush=True)
    return 0 if check.ok else 1
