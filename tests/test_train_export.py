"""`train merge` + `train export-gguf` on a real SmolLM2-135M adapter; the GGUF then runs as `local/<file>`.

The converter comes from the llama-cpp-python sdist, fetched once with pip into a tools
folder kept beside the pulled models (like the models, it outlives a test's state dir).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from fitdata import TRACES, write_dataset
from proactive.errors import UserError
from proactive.models import store
from proactive.models.base import get_model
from proactive.models.training_manifest import trained_on
from proactive.train.export_gguf import TOOLS_ENV, export_gguf, record_path
from proactive.train.finetune import FitOptions, run_sft
from proactive.train.merge import merge_adapter
from proactive.train.record import read_record

SMALL = "smollm2-135m"


@pytest.fixture(scope="module")
def tools() -> Iterator[Path]:
    folder = store.models_dir().parent / "tools"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(TOOLS_ENV, str(folder))
        yield folder


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, tools: Path, smollm2_folder: Path) -> tuple[Path, Path]:
    """(merged folder, GGUF file) of a one-step adapter."""
    root = tmp_path_factory.mktemp("export")
    options = FitOptions(base=str(smollm2_folder), data=[write_dataset(root / "data")], out=root / "run", max_steps=1,
                         save_steps=1, batch_size=2, grad_accum=1, max_length=256, lr=1e-3)  # fmt: skip
    run_sft(options)
    merged = merge_adapter(str(smollm2_folder), root / "run" / "adapter", root / "merged")
    return merged, export_gguf(merged, root / "gguf" / "tuned.gguf", "q8_0")


def test_merged_folder_is_a_plain_model_with_its_record(exported: tuple[Path, Path]) -> None:
    merged, _ = exported
    config = json.loads((merged / "config.json").read_text())
    assert "quantization_config" not in config  # plain weights, not a GGUF-quantized model
    assert (merged / "model.safetensors").stat().st_size > 100_000_000
    assert not (merged / "adapter_config.json").exists()
    template = merged / "chat_template.jinja"
    assert template.is_file() or "chat_template" in (merged / "tokenizer_config.json").read_text()
    record = read_record(merged)
    assert record.training_traces == sorted(TRACES) and record.derived and record.derived[0].startswith("merge ")


def test_exported_gguf_runs_in_llama_cpp_and_carries_its_training_traces(exported: tuple[Path, Path]) -> None:
    _, gguf = exported
    assert gguf.read_bytes()[:4] == b"GGUF"
    assert not gguf.with_name(gguf.name + ".partial").exists()
    assert read_record(record_path(gguf)).training_traces == sorted(TRACES)
    model = get_model(f"local/{gguf}", cache=False)
    answer = asyncio.run(model.generate([{"role": "user", "content": "Say hello."}], max_tokens=8))
    assert answer.text.strip() and answer.usage.completion_tokens > 0
    seen = trained_on(f"local/{gguf}")  # what the bench checks before scoring
    assert seen is not None and seen.training_traces == sorted(TRACES)


def test_export_refuses_adapters_and_folders_without_a_record(exported: tuple[Path, Path], tmp_path: Path) -> None:
    merged, _ = exported
    with pytest.raises(UserError, match=r"must end in \.gguf"):
        export_gguf(merged, tmp_path / "model.bin")
    (tmp_path / "adapter").mkdir()
    (tmp_path / "adapter" / "config.json").write_text("{}")
    (tmp_path / "adapter" / "adapter_config.json").write_text("{}")
    with pytest.raises(UserError, match="merge it first"):
        export_gguf(tmp_path / "adapter", tmp_path / "x.gguf")
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "config.json").write_text("{}")
    with pytest.raises(UserError, match="no training record"):
        export_gguf(tmp_path / "plain", tmp_path / "x.gguf")
    with pytest.raises(UserError, match="not empty"):
        merge_adapter(SMALL, merged, merged)
