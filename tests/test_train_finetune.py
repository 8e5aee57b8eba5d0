"""`proactive train sft|kto` on the real SmolLM2-135M GGUF (dequantized by transformers), a tiny dataset, few steps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import TrainerCallback

from fitdata import SYSTEM, TRACES, write_dataset
from proactive.errors import DataError, UserError
from proactive.train.finetune import FitOptions, build_sft_trainer, check_options, run_sft, train_and_save
from proactive.train.kto import run_kto
from proactive.train.record import read_record

SMALL = "smollm2-135m"
TARGET = '{"task": "Summarise report{i}.txt"}'


@dataclass
class Trained:
    options: FitOptions
    trainer: Any
    batch: dict[str, Any]
    before: float
    after: float


def _options(data: Path, out: Path, **changes: Any) -> FitOptions:
    base: dict[str, Any] = {"base": SMALL, "data": [data], "out": out, "max_steps": 2, "save_steps": 2, "batch_size": 2,
            "grad_accum": 1, "max_length": 256, "lr": 5e-3, "seed": 0}  # fmt: skip
    return FitOptions(**(base | changes))


def _loss(trainer: Any, batch: dict[str, Any]) -> float:
    model = trainer.model
    model.eval()
    with torch.no_grad():
        inputs = {key: batch[key].to(model.device) for key in ("input_ids", "attention_mask", "labels")}
        return float(model(**inputs).loss)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, smollm2_folder: Path) -> Trained:
    """Two SFT steps on a fixed batch, its loss measured before and after."""
    root = tmp_path_factory.mktemp("sft")
    options = _options(write_dataset(root / "data", TARGET), root / "run", base=str(smollm2_folder))
    trainer = build_sft_trainer(options)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(2)])
    before = _loss(trainer, batch)
    train_and_save(trainer, options, "sft", check_options(options))
    return Trained(options, trainer, batch, before, _loss(trainer, batch))


def test_training_loss_on_a_fixed_batch_goes_down(trained: Trained) -> None:
    assert trained.after < trained.before - 0.05, (trained.before, trained.after)


def test_loss_is_on_the_assistant_target_only(trained: Trained) -> None:
    tokenizer = trained.trainer.processing_class
    batch = trained.trainer.data_collator([trained.trainer.train_dataset[1]])  # has an earlier assistant turn
    ids, labels = batch["input_ids"][0], batch["labels"][0]
    supervised = labels != -100
    assert bool((labels[supervised] == ids[supervised]).all())
    assert 0 < int(supervised.sum()) < len(ids)
    first = int(supervised.nonzero()[0])
    assert bool(supervised[first:].all()), "the target must be one contiguous run at the end"
    prompt_text = tokenizer.decode(ids[:first])
    target_text = tokenizer.decode(ids[supervised], skip_special_tokens=True)
    assert target_text.strip() == TARGET.replace("{i}", "1")
    assert SYSTEM in prompt_text and "EARLIER ANSWER" in prompt_text


def test_adapter_and_training_record_are_saved(trained: Trained) -> None:
    adapter = trained.options.out / "adapter"
    assert (adapter / "adapter_model.safetensors").stat().st_size > 0
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["r"] == 16 and {"q_proj", "down_proj"} <= set(config["target_modules"])
    for place in (adapter, trained.options.out):
        record = read_record(place)
        assert record.training_traces == sorted(TRACES)
        assert record.steps == 2 and [point.step for point in record.losses] == [1, 2]
        assert record.kind == "sft" and record.base == trained.options.base and record.seconds_per_step
    assert (trained.options.out / "checkpoints" / "checkpoint-2").is_dir()


def test_resume_continues_the_step_count(trained: Trained) -> None:
    first = read_record(trained.options.out)
    # the second run reads a dataset touching another trace: the adapter must carry both runs' traces
    more = write_dataset(trained.options.out.parent / "more", TARGET)
    (more / "manifest.json").write_text(json.dumps({"training_traces": ["2024-02-02 08:00|other trace"]}))
    options = trained.options.model_copy(update={"max_steps": 4, "data": [more]})
    trainer = build_sft_trainer(options)
    seen: list[int] = []

    class FirstStep(TrainerCallback):  # type: ignore[misc]
        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            seen.append(int(state.global_step))

    trainer.add_callback(FirstStep())
    record = train_and_save(trainer, options, "sft", check_options(options))
    assert seen == [2, 3], "training must start after the checkpoint's step 2"
    assert record.steps == 4 and [point.step for point in record.losses] == [1, 2, 3, 4]
    assert record.losses[:2] == first.losses  # restored from the checkpoint, not retrained
    assert read_record(options.out / "adapter").training_traces == sorted([*TRACES, "2024-02-02 08:00|other trace"])
    with pytest.raises(UserError, match="holds checkpoints of an earlier run"):
        run_sft(options.model_copy(update={"resume": False}))


def test_kto_trains_a_few_steps_and_saves_an_adapter(tmp_path: Path, smollm2_folder: Path) -> None:
    options = _options(write_dataset(tmp_path / "data"), tmp_path / "kto", max_steps=1, save_steps=1, lr=1e-3,
                       base=str(smollm2_folder))  # fmt: skip
    record = run_kto(options)
    assert record.kind == "kto" and record.steps == 1 and len(record.losses) == 1
    assert (tmp_path / "kto" / "adapter" / "adapter_model.safetensors").is_file()
    assert read_record(tmp_path / "kto" / "adapter").training_traces == sorted(TRACES)


def test_kto_refuses_one_row_batches_and_one_sided_labels(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "data")
    with pytest.raises(UserError, match="--batch-size: KTO needs at least 2"):
        run_kto(_options(data, tmp_path / "out", batch_size=1))
    rows = [json.loads(line) | {"label": True} for line in (data / "kto.jsonl").read_text().splitlines()]
    (data / "kto.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    with pytest.raises(UserError, match="needs both desirable"):
        run_kto(_options(data, tmp_path / "out"))


def test_bad_rows_are_one_line_naming_file_line_and_field(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "data")
    lines = (data / "sft.jsonl").read_text().splitlines()
    broken = json.loads(lines[2])
    broken["messages"] = broken["messages"][:-1]  # ends on a user turn: no target
    (data / "sft.jsonl").write_text("\n".join([lines[0], lines[1], json.dumps(broken)]) + "\n")
    with pytest.raises(DataError) as caught:
        run_sft(_options(data, tmp_path / "out"))
    assert str(caught.value) == (
        f"{data / 'sft.jsonl'}:line 3: field 'messages': the last message must be the assistant's target"
    )
    (data / "manifest.json").write_text(json.dumps({"traces": []}))
    with pytest.raises(DataError, match="training_traces"):
        run_sft(_options(data, tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_cli_reports_a_missing_dataset_in_one_line(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "proactive.cli.main", "train", "sft", "--base", SMALL,
            "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "out")]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, env=os.environ, check=False, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'nope'}: dataset folder not found (--data); build one with `proactive train build`"
    ]
