"""One effective OpenAI base URL: the client, the cache identity, the error line and --local-only agree.

Each row sets the `base_url` option and $OPENAI_BASE_URL, then asks the four places that
need the URL: the SDK client the model really sends with, the response cache's identity,
the server named in the empty-'choices' error, and the --local-only check. Before they
shared `proactive.models.base_url`, an empty $OPENAI_BASE_URL gave the SDK an empty URL,
the cache "default" and the check "no base URL", and padded values were used unstripped.
"""

from __future__ import annotations

import pytest
from openai.types.chat import ChatCompletion

from proactive.errors import UserError
from proactive.models.base_url import BASE_URL_ENV, OPENAI_DEFAULT_BASE_URL, openai_base_url
from proactive.models.openai_compat import OpenAICompatModel, OpenAIOptions, _LoopState
from proactive.sense.config import check_local_only

REMOTE = "http://10.0.0.5:8080/v1"
LOOPBACK = "http://127.0.0.1:8080/v1"

#: (base_url option, $OPENAI_BASE_URL or None for unset, the URL every caller must use)
ROWS = [
    (None, None, OPENAI_DEFAULT_BASE_URL),
    (None, "", OPENAI_DEFAULT_BASE_URL),
    (None, "   ", OPENAI_DEFAULT_BASE_URL),
    (None, f" {REMOTE} ", REMOTE),
    ("", REMOTE, REMOTE),
    (LOOPBACK, REMOTE, LOOPBACK),  # the option wins over the environment
    (f"{REMOTE}\n", None, REMOTE),
    (None, LOOPBACK, LOOPBACK),
]


def _local_only_url(spec: str, option: str | None) -> str:
    """The URL --local-only judged: the one it refused, or the loopback one it let through."""
    try:
        check_local_only(spec, base_url=option)
    except UserError as exc:
        return str(exc).split("remote base URL ", 1)[1].split(";", 1)[0]
    return LOOPBACK


@pytest.mark.parametrize(("option", "env", "expected"), ROWS)
def test_the_four_callers_agree(monkeypatch: pytest.MonkeyPatch, option: str | None, env: str | None,
                                expected: str) -> None:  # fmt: skip
    if env is None:
        monkeypatch.delenv(BASE_URL_ENV, raising=False)
    else:
        monkeypatch.setenv(BASE_URL_ENV, env)
    assert openai_base_url(option) == expected
    options = OpenAIOptions(base_url=option, api_key="none")
    model = OpenAICompatModel("m", options)
    client_url = str(_LoopState(options).client.base_url).rstrip("/")
    empty = ChatCompletion(id="x", choices=[], created=0, model="m", object="chat.completion")
    with pytest.raises(UserError) as named:
        model._first_choice(empty)
    error_url = str(named.value).split(": ", 1)[1].split(" answered", 1)[0]
    seen = {
        "client": client_url,
        "cache identity": model.cache_identity()["base_url"],
        "empty-choices error": error_url,
        "--local-only": _local_only_url("openai/m", option),
    }
    assert seen == dict.fromkeys(seen, expected)
