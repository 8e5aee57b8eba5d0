"""The response cache key holds the model file's identity and the options that change answers."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from proactive.errors import UserError
from proactive.models import store
from proactive.models.base import Message, get_model
from proactive.models.cache import CachedModel, request_key
from proactive.models.llama import DECODING, LlamaModel, LlamaOptions

pytestmark = pytest.mark.llm
SMALL = "smollm2-135m"
PROMPT: list[Message] = [{"role": "user", "content": "Name one colour."}]


@pytest.fixture(scope="module")
def small_path() -> Path:
    return store.pull(SMALL)


def _rename_model(path: Path) -> None:
    """Change one byte of the GGUF's `general.name` value: a valid file with another sha256."""
    data = bytearray(path.read_bytes())
    at = data.index(b"general.name") + len(b"general.name") + 4 + 8  # key, value type (u32), length (u64)
    data[at] = ord("X") if data[at] != ord("X") else ord("Y")
    path.write_bytes(bytes(data))


def _ask(path: Path) -> tuple[CachedModel, bool, str]:
    model = get_model(f"local/{path}", n_ctx=512)
    assert isinstance(model, CachedModel)
    result = asyncio.run(model.generate(PROMPT, max_tokens=8))
    return model, result.cached, result.text


def test_a_gguf_replaced_at_the_same_path_is_not_served_from_the_cache(
    state_home: Path, small_path: Path, tmp_path: Path
) -> None:
    path = tmp_path / "model.gguf"
    shutil.copyfile(small_path, path)
    _, cached, first = _ask(path)
    assert not cached
    again, cached, text = _ask(path)
    assert cached and text == first and isinstance(again.inner, LlamaModel) and again.inner._pool == []

    before = store.file_identity(path)
    replacement = tmp_path / "replacement.gguf"
    shutil.copyfile(small_path, replacement)
    _rename_model(replacement)
    os.replace(replacement, path)  # same path, other content, new mtime
    assert store.file_identity(path) != before
    fresh, cached, _ = _ask(path)
    assert not cached, "a stale answer of the replaced file was served"
    assert isinstance(fresh.inner, LlamaModel) and len(fresh.inner._pool) == 1  # the new file was really run
    _, cached, _ = _ask(path)
    assert cached  # the new file's answer is cached in turn

    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # touched: same bytes, new mtime
    _, cached, _ = _ask(path)
    assert not cached


def test_identity_covers_the_options_that_change_answers(small_path: Path) -> None:
    base = LlamaModel(SMALL, LlamaOptions())
    assert base.cache_identity()["file"] == f"sha256:{store.source_for(SMALL).sha256}"
    assert store.file_identity(small_path) == base.cache_identity()["file"]
    changed = [
        LlamaModel(SMALL, LlamaOptions(n_ctx=4096)),
        LlamaModel(SMALL, LlamaOptions(n_batch=64)),
        LlamaModel(SMALL, LlamaOptions(seed=7)),
        LlamaModel(SMALL, LlamaOptions(max_string_length=50)),
    ]
    keys = {request_key(PROMPT, spec=base.spec, identity=m.cache_identity()) for m in [base, *changed]}
    assert len(keys) == 1 + len(changed)
    # Speed-only options share the key, so a run with more threads still finds its answers.
    same = LlamaModel(SMALL, LlamaOptions(n_threads=2, instances=2, verbose=True))
    assert request_key(PROMPT, spec=same.spec, identity=same.cache_identity()) == request_key(
        PROMPT, spec=base.spec, identity=base.cache_identity()
    )
    # Replay files are keyed without spec and identity: their keys must not move.
    assert request_key(PROMPT) == request_key(PROMPT, identity=None)


def test_a_file_changed_between_open_and_load_is_refused(state_home: Path, small_path: Path, tmp_path: Path) -> None:
    path = tmp_path / "model.gguf"
    shutil.copyfile(small_path, path)
    model = LlamaModel(str(path), LlamaOptions(n_ctx=512))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    with pytest.raises(UserError, match="changed since"):
        asyncio.run(model.generate(PROMPT, max_tokens=4))


def test_answers_decoded_from_their_opening_are_keyed_apart() -> None:
    """A greedy one-text-field answer (the writer's) is decoded from its opening: its key says so;
    other answers (several fields, or sampled) keep the keys they had."""
    from pydantic import BaseModel

    from proactive.agent.writer import WriterOffer

    class Verdict(BaseModel):
        accepted: bool
        why: str

    llama = LlamaModel(SMALL, LlamaOptions())
    assert llama.answer_identity(WriterOffer, 0.0) == {"decoding": DECODING}
    assert llama.answer_identity(WriterOffer, 0.7) == {} and llama.answer_identity(None, 0.0) == {}
    assert llama.answer_identity(Verdict, 0.0) == {}
    cached = CachedModel(llama, None, None)
    whole = llama.cache_identity()
    for schema, temperature, identity in [
        (WriterOffer, 0.0, {**whole, "decoding": DECODING}),
        (WriterOffer, 0.7, whole),
        (Verdict, 0.0, whole),
    ]:
        expected = request_key(PROMPT, schema, temperature, 8, spec=llama.spec, identity=identity)
        assert cached.key_for(PROMPT, schema, temperature, 8) == expected
