"""Where an `openai/` model sends its requests: one answer for every part that asks.

The client, the response cache's identity, error messages and the --local-only check
must all name the same server, or the check could pass a URL the client never uses.
"""

from __future__ import annotations

import os

#: The environment variable the OpenAI SDK (and so every OpenAI-compatible setup) reads.
BASE_URL_ENV = "OPENAI_BASE_URL"
#: The SDK's own default when no base URL is set anywhere.
OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"


def openai_base_url(option: str | None = None) -> str:
    """The effective base URL: the `base_url` option, else $OPENAI_BASE_URL, else api.openai.com.

    A blank value counts as unset. The SDK itself would take an empty $OPENAI_BASE_URL
    as a URL and fail on every call, so callers pass this result on, never None.
    """
    for candidate in (option, os.environ.get(BASE_URL_ENV)):
        if candidate and candidate.strip():
            return candidate.strip()
    return OPENAI_DEFAULT_BASE_URL
