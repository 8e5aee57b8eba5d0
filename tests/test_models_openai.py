"""OpenAI-compatible backend against a real llama.cpp server on 127.0.0.1 (small model)."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import BaseModel

from proactive.errors import UserError
from proactive.models import store
from proactive.models.base import Message, get_model
from proactive.models.openai_compat import OpenAICompatModel, OpenAIOptions

pytestmark = pytest.mark.llm


class Reply(BaseModel):
    """A structured answer."""

    answer: str
    confident: bool


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python -m llama_cpp.server` with smollm2-135m; yields its /v1 base URL."""
    model = store.pull("smollm2-135m")
    port = _free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
        "--port", str(port), "--n_threads", "1", "--n_threads_batch", "1", "--n_ctx", "1024",
        "--verbose", "false",
    ]  # fmt: skip
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, f"llama_cpp.server exited: {log.read_text()[-2000:]}"
            try:
                if httpx.get(f"{base}/models", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "llama_cpp.server did not start in 90 s"
            time.sleep(0.3)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def _model(base: str) -> OpenAICompatModel:
    return OpenAICompatModel("smollm2", OpenAIOptions(base_url=base, api_key="none", retries=1, backoff=0.05))


def test_text_answer_with_token_accounting(server: str) -> None:
    model = _model(server)
    result = asyncio.run(model.generate([{"role": "user", "content": "Say hi."}], max_tokens=12))
    assert result.text.strip()
    assert result.usage.prompt_tokens > 3 and 0 < result.usage.completion_tokens <= 12
    assert result.latency > 0


def test_structured_answer_parses_into_the_pydantic_type(server: str) -> None:
    model = _model(server)
    prompt: list[Message] = [{"role": "user", "content": "Is the sun hot? Reply as JSON."}]
    result = asyncio.run(model.generate(prompt, schema=Reply, max_tokens=120))
    assert isinstance(result.parsed, Reply)
    assert model.mode == "json_object"  # auto stepped down from json_schema, which llama.cpp refuses


def test_choice_probabilities_from_logprobs(server: str) -> None:
    model = _model(server)
    prompt: list[Message] = [{"role": "user", "content": "Is water wet? Answer yes or no."}]
    probabilities = asyncio.run(model.choice_probabilities(prompt, ["yes", "no"]))
    assert set(probabilities) == {"yes", "no"}
    assert abs(sum(probabilities.values()) - 1) < 1e-9


def test_the_seed_goes_with_the_request(server: str) -> None:
    model = _model(server)
    prompt: list[Message] = [{"role": "user", "content": "Invent a name for a pet."}]

    def sample(seed: int) -> str:
        return asyncio.run(model.generate(prompt, temperature=1.2, max_tokens=12, seed=seed)).text

    first, others = sample(1), {sample(2), sample(3)}
    assert len({first, *others}) > 1  # the server sampled under each call's seed
    assert sample(1) == first


def test_cached_through_get_model(server: str, state_home: Path) -> None:
    prompt: list[Message] = [{"role": "user", "content": "Name a planet."}]
    first = asyncio.run(get_model("openai/smollm2", base_url=server).generate(prompt, max_tokens=10))
    second = asyncio.run(get_model("openai/smollm2", base_url=server).generate(prompt, max_tokens=10))
    assert not first.cached and second.cached and second.text == first.text


def test_the_cache_does_not_answer_for_another_server(server: str, state_home: Path) -> None:
    # The same model name behind another URL is another model: the cached answer of the
    # running server must not be served for a server that is down.
    prompt: list[Message] = [{"role": "user", "content": "Name a moon."}]
    asyncio.run(get_model("openai/smollm2", base_url=server).generate(prompt, max_tokens=10))
    elsewhere = get_model("openai/smollm2", base_url=f"http://127.0.0.1:{_free_port()}/v1", retries=0)
    with pytest.raises(UserError, match="failed after 1 attempts"):
        asyncio.run(elsewhere.generate(prompt, max_tokens=10))


def test_refused_connection_fails_clearly_after_retries() -> None:
    port = _free_port()  # nothing listens there
    model = OpenAICompatModel(
        "any", OpenAIOptions(base_url=f"http://127.0.0.1:{port}/v1", retries=2, backoff=0.05, timeout=5)
    )
    started = time.monotonic()
    with pytest.raises(UserError, match=r"failed after 3 attempts \(APIConnectionError"):
        asyncio.run(model.generate([{"role": "user", "content": "hi"}]))
    assert model.attempts == 3 and model.retries == 2
    assert time.monotonic() - started >= 0.05 + 0.1  # the backoff waits happened
