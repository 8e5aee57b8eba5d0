"""`proactive train export-gguf`: a merged HF folder -> a GGUF that `local/<file.gguf>` runs.

llama.cpp's own converter (`convert_hf_to_gguf.py`, its `conversion/` package and
`gguf-py`) ships inside the llama-cpp-python source distribution. We fetch that sdist
once with pip (the ordinary registry client), keep only those files under the tools
folder, run the converter in a child process, then check that llama-cpp-python loads
the result and decodes a token (also in a child: a native crash must not take us down).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Literal

from proactive.errors import UserError
from proactive.provenance import now_utc as now
from proactive.settings import state_dir
from proactive.train.record import read_record, write_record

SDIST_VERSION = "0.3.36"  # the llama-cpp-python we run: its converter writes what it reads
SDIST_NAME = f"llama_cpp_python-{SDIST_VERSION}.tar.gz"
TOOLS_ENV = "PROACTIVE_TOOLS_DIR"
_VENDOR = "vendor/llama.cpp/"
_KEEP = ("convert_hf_to_gguf.py", "conversion/", "gguf-py/")
OutType = Literal["q8_0", "f16", "bf16", "f32"]

#: Loads the GGUF, evaluates a prompt and picks one token greedily; prints it as JSON.
DECODE_SNIPPET = """
import json, sys
from llama_cpp import Llama
llm = Llama(model_path=sys.argv[1], n_ctx=256, n_batch=64, n_threads=1, n_threads_batch=1, verbose=False)
tokens = llm.tokenize(b"The capital of France is", add_bos=True)
llm.eval(tokens)
token = int(llm.sample(temp=0.0))
print(json.dumps({"token": token, "text": llm.detokenize([token]).decode("utf-8", errors="replace")}))
"""


def tools_dir() -> Path:
    """Where fetched tools live: `$PROACTIVE_TOOLS_DIR`, else <state dir>/tools."""
    chosen = os.environ.get(TOOLS_ENV)
    path = Path(chosen).expanduser() if chosen else state_dir() / "tools"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _fetch_sdist(folder: Path) -> Path:
    """The sdist tarball in `folder`, downloaded with `pip download` when absent."""
    tarball = folder / SDIST_NAME
    if tarball.is_file():
        return tarball
    argv = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
            f"llama-cpp-python=={SDIST_VERSION}", "-d", str(folder)]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not tarball.is_file():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise UserError(
            f"could not download the llama-cpp-python {SDIST_VERSION} sdist for its GGUF converter ({last}); "
            f"put {SDIST_NAME} into {folder} by hand"
        )
    return tarball


def converter_dir() -> Path:
    """A folder holding convert_hf_to_gguf.py, conversion/ and gguf-py/ (extracted once, then reused)."""
    target = tools_dir() / f"llama-cpp-convert-{SDIST_VERSION}"
    if (target / ".complete").is_file():
        return target
    tarball = _fetch_sdist(tools_dir())
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    prefix = f"llama_cpp_python-{SDIST_VERSION}/{_VENDOR}"
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            members = [
                m for m in archive.getmembers() if m.name.startswith(prefix) and m.name[len(prefix) :].startswith(_KEEP)
            ]
            for member in members:
                member.name = member.name[len(prefix) :]
            archive.extractall(partial, members=members, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise UserError(f"{tarball}: cannot unpack ({exc}); delete it so it is downloaded again") from None
    if not (partial / "convert_hf_to_gguf.py").is_file():
        raise UserError(f"{tarball}: has no vendor/llama.cpp/convert_hf_to_gguf.py; delete it and retry")
    (partial / ".complete").write_text(SDIST_VERSION + "\n")
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target


def _tail(text: str, lines: int = 3) -> str:
    return " | ".join(text.strip().splitlines()[-lines:]) or "no output"


def convert(model: Path, out: Path, outtype: OutType) -> None:
    """Run llama.cpp's converter in a child process, writing `out`."""
    tool = converter_dir()
    model, out = model.resolve(), out.resolve()  # the converter runs in its own folder: relative paths would break
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tool / "gguf-py"), str(tool)])}
    env.pop("NO_LOCAL_GGUF", None)  # use the gguf-py that matches this converter, not a newer installed one
    argv = [sys.executable, str(tool / "convert_hf_to_gguf.py"), str(model), "--outfile", str(out),
            "--outtype", outtype]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=str(tool), check=False)
    if done.returncode != 0 or not out.is_file():
        raise UserError(f"{model}: llama.cpp's converter failed ({_tail(done.stderr)})")


def decode_one_token(path: Path, timeout: float = 300.0) -> str:
    """The greedy next token of a short prompt, decoded by llama-cpp-python in a child process."""
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    try:
        done = subprocess.run([sys.executable, "-c", DECODE_SNIPPET, str(path)], capture_output=True, text=True,
                              env=env, timeout=timeout, check=False)  # fmt: skip
    except subprocess.TimeoutExpired:
        raise UserError(f"{path}: llama-cpp-python gave no token within {timeout:.0f} s") from None
    if done.returncode != 0:
        raise UserError(f"{path}: llama-cpp-python cannot run this GGUF (exit {done.returncode}: {_tail(done.stderr)})")
    return str(json.loads(done.stdout.strip().splitlines()[-1])["text"])


def record_path(gguf: Path) -> Path:
    """Where the bench looks for a GGUF's training record: `<file.gguf>.training.json`."""
    return gguf.with_name(gguf.name + ".training.json")


def export_gguf(model: Path, out: Path, outtype: OutType = "q8_0") -> Path:
    """Convert a merged folder to `out`, check it decodes, then write `<out>.training.json`."""
    if not (model / "config.json").is_file():
        raise UserError(f"{model}: not a merged model folder (no config.json); run `proactive train merge` first")
    if out.suffix != ".gguf":
        raise UserError(f"{out}: --out must end in .gguf")
    if (model / "adapter_config.json").is_file():
        raise UserError(f"{model}: this is an adapter; merge it first with `proactive train merge`")
    record = read_record(model)  # no provenance, no export: the bench needs training_traces
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    partial.unlink(missing_ok=True)
    convert(model, partial, outtype)
    decode_one_token(partial)
    partial.replace(out)
    record.derived.append(f"export-gguf {model} -> {out.name} ({outtype}) at {now()}")
    write_record(record_path(out), record)
    return out
