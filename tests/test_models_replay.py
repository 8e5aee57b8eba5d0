"""Recording real exchanges and replaying them; the request key; the cache file."""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from proactive.errors import DataError, UserError
from proactive.models import store
from proactive.models.base import Message, get_model
from proactive.models.cache import RECORD_ENV, ResponseCache, request_key

pytestmark = pytest.mark.llm
SMALL = "smollm2-135m"


class Colour(BaseModel):
    """A structured answer."""

    name: str


PROMPT: list[Message] = [{"role": "user", "content": "Name one colour."}]


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, object]]]:
    """Real exchanges with the small model, recorded through $PROACTIVE_RECORD."""
    store.pull(SMALL)
    from proactive.settings import state_dir

    # The recorder writes only inside the state dir: a folder of its own for this run.
    path = state_dir() / "recordings" / f"test-replay-{uuid.uuid4().hex}" / "exchanges.jsonl"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(RECORD_ENV, str(path))
        model = get_model(f"local/{SMALL}", n_ctx=1024, cache=False)

        async def record() -> dict[str, object]:
            text = await model.generate(PROMPT, max_tokens=12)
            parsed = await model.generate(PROMPT, schema=Colour, max_tokens=40)
            choices = await model.choice_probabilities(PROMPT, ["red", "blue"])
            return {"text": text, "parsed": parsed, "choices": choices}

        answers = asyncio.run(record())
    yield path, answers
    shutil.rmtree(path.parent, ignore_errors=True)  # no litter in the state dir


def test_replay_answers_recorded_requests(recording: tuple[Path, dict[str, object]]) -> None:
    path, answers = recording
    assert len(path.read_text().splitlines()) == 3
    replay = get_model(f"replay/{path}")

    async def ask() -> None:
        text = await replay.generate(PROMPT, max_tokens=12)
        assert text.text == answers["text"].text and text.cached  # type: ignore[attr-defined]
        parsed = await replay.generate(PROMPT, schema=Colour, max_tokens=40)
        assert isinstance(parsed.parsed, Colour) and parsed.parsed == answers["parsed"].parsed  # type: ignore[attr-defined]
        assert await replay.choice_probabilities(PROMPT, ["red", "blue"]) == answers["choices"]

    asyncio.run(ask())


def test_replay_refuses_unknown_requests(recording: tuple[Path, dict[str, object]]) -> None:
    path, _ = recording
    replay = get_model(f"replay/{path}")
    with pytest.raises(UserError, match=f"{path.name}: no recorded answer"):
        asyncio.run(replay.generate(PROMPT, max_tokens=13))  # a different setting is a different request
    with pytest.raises(UserError, match="no recorded answer"):
        asyncio.run(replay.choice_probabilities(PROMPT, ["red", "green"]))


def test_replay_file_errors_name_the_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="replay file not found"):
        get_model(f"replay/{tmp_path / 'absent.jsonl'}")
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps({"key": "abc", "text": "ok"}) + "\n{not json\n")
    with pytest.raises(DataError, match=r"broken\.jsonl:line 2"):
        get_model(f"replay/{broken}")


def test_request_key_covers_every_setting() -> None:
    base = request_key(PROMPT)
    assert base == request_key([dict(m) for m in PROMPT])  # type: ignore[misc]
    variants = {
        request_key(PROMPT, temperature=0.5),
        request_key(PROMPT, max_tokens=10),
        request_key(PROMPT, schema=Colour),
        request_key(PROMPT, spec="local/x"),
        request_key(PROMPT, choices=["a", "b"]),
        request_key([{"role": "user", "content": "Name one colour!"}]),
    }
    assert base not in variants and len(variants) == 6


def test_an_unseeded_request_keeps_its_key_and_a_seed_changes_it() -> None:
    # Pinned: the key this request had before calls took a seed, so existing caches and
    # the recorded files in tests/data stay valid.
    assert request_key(PROMPT) == request_key(PROMPT, seed=None)
    assert request_key(PROMPT) == "24fce84aa46453bd84890b85daef88351e92c3f2cb62eebdcb20c69e15a1e716"
    assert len({request_key(PROMPT), request_key(PROMPT, seed=0), request_key(PROMPT, seed=1)}) == 3


def test_a_seeded_exchange_replays_under_its_seed_only(state_home: Path) -> None:
    store.pull(SMALL)
    path = state_home / "recordings" / "seeded.jsonl"
    model = get_model(f"local/{SMALL}", n_ctx=1024, cache=False, record=path)

    async def record() -> str:
        await model.generate(PROMPT, max_tokens=12)
        return (await model.generate(PROMPT, temperature=1.0, max_tokens=12, seed=5)).text

    text = asyncio.run(record())
    unseeded, seeded = (json.loads(line) for line in path.read_text(encoding="utf-8").splitlines())
    assert "seed" not in unseeded["request"] and seeded["request"]["seed"] == 5  # old lines look as they did
    replay = get_model(f"replay/{path}")
    assert asyncio.run(replay.generate(PROMPT, temperature=1.0, max_tokens=12, seed=5)).text == text
    for other in (6, None):
        with pytest.raises(UserError, match="no recorded answer"):
            asyncio.run(replay.generate(PROMPT, temperature=1.0, max_tokens=12, seed=other))


def test_response_cache_persists_across_connections(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    ResponseCache(path).put("k", "local/x", {"text": "hi"})
    reopened = ResponseCache(path)
    assert reopened.get("k") == {"text": "hi"} and reopened.get("other") is None and len(reopened) == 1
