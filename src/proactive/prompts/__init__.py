"""The one loader of prompt templates (`*.j2` in this folder), used by every role.

One Jinja environment for all prompts, so a template renders the same wherever it is
used: variables are strict (a missing one fails loudly instead of rendering as an empty
string), nothing is escaped (prompts are plain text, not HTML), and whitespace is
exactly what the template file says (no trim_blocks; templates place their block tags
so that no stray blank lines appear). Rendered text is part of the response-cache key,
so changing a template's whitespace invalidates cached and recorded answers.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jinja2

FOLDER = Path(__file__).resolve().parent


@cache
def environment() -> jinja2.Environment:
    """The shared environment (built once)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(FOLDER),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
        autoescape=False,
    )


def render(name: str, **variables: Any) -> str:
    """Template `name` (e.g. 'judge_user.j2') rendered with `variables`, unstripped."""
    return environment().get_template(name).render(**variables)
