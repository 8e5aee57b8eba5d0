"""The allowlist of tools an accepted proposal may run, and the one place each one acts.

Nothing here decides *whether* a tool runs: that is `assist.consent.Consent`, the only
caller of `ToolBox.run` in the live loop. This module decides *what* runs and keeps each
tool inside its fence:

- ``open_url`` / ``web_search``: only ``http``/``https`` URLs reach the browser (no
  ``file:``, ``javascript:``, ``data:``...), opened through the `webbrowser` module, so
  ``$BROWSER`` is honoured (read at each call, not only at the first one in the process).
- ``ask_to_clipboard``: the model's answer goes on the clipboard through a real command
  (``xclip -selection clipboard`` unless `clipboard_cmd` says otherwise).
- ``write_draft``: the model's draft goes to a *new* file, named from the task, directly
  inside the allowed folder. The allowed folder itself may be a symlink: it is what the
  person named, so it is resolved once and everything is confined to its target. Below
  it, a name with ``..``, an absolute name, or a path whose symlinks lead outside is
  refused, and the file is created with ``O_CREAT | O_EXCL | O_NOFOLLOW`` (mode 0600):
  an existing file or symlink of that name is never written through or overwritten; the
  next free name ``<slug>-2.md``, ``<slug>-3.md``... is used instead.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shlex
import tempfile
import webbrowser
from pathlib import Path, PurePath
from typing import Literal
from urllib.parse import quote_plus, urlsplit

from pydantic import BaseModel, ConfigDict, Field

from proactive.errors import UserError
from proactive.models.base import ChatModel, Message, get_model
from proactive.prompts import render
from proactive.sense.redact import TAG, redact
from proactive.types import Proposal

log = logging.getLogger(__name__)

ToolName = Literal["open_url", "web_search", "ask_to_clipboard", "write_draft"]

#: Where a web search goes; the query is URL-encoded into it.
SEARCH_URL = "https://duckduckgo.com/?q={query}"
#: The clipboard command when none is given (X11; the tests' desktop fixture runs Xvfb).
XCLIP = ("xclip", "-selection", "clipboard")
CLIPBOARD_TIMEOUT_S = 10.0
#: Longest slug in a draft's file name; longer tasks are cut at a word boundary.
SLUG_CHARS = 60
#: How many `-N` suffixes are tried before giving up (a folder full of same-named drafts).
MAX_SUFFIX = 999

_URL = re.compile(r"\bhttps?://[^\s<>\"']+", re.IGNORECASE)
_SEARCH = re.compile(r"\b(search(es|ed|ing)?|look(s|ed|ing)?\s+up|google)\b", re.IGNORECASE)
_DRAFT = re.compile(r"\b(draft(s|ed|ing)?|writ(e|es|ing))\b", re.IGNORECASE)
_TAG_AT_END = re.compile(TAG.pattern + "$")
_SEARCH_LEAD = re.compile(r"^\s*(please\s+)?(search(\s+the\s+web)?(\s+for)?|look\s+up|google)\s*:?\s*", re.IGNORECASE)


class ToolCall(BaseModel):
    """One tool and its argument (a URL, a search query, or the task text)."""

    model_config = ConfigDict(frozen=True)

    tool: ToolName = Field(description="Which allowlisted tool runs.")
    argument: str = Field(description="open_url: the URL; web_search: the query; the others: the task text.")


class ToolResult(BaseModel):
    """What a tool did: ok, one line (or the answer) for the person and the log, the file written."""

    ok: bool
    detail: str
    path: Path | None = None
    dry_run: bool = Field(default=False, description="Nothing ran: a replay without --run-tools.")


#: Tools that send their argument to a third party (the browser fetches a page, a search engine
#: reads the query): refused under --local-only.
REMOTE_TOOLS: frozenset[str] = frozenset({"open_url", "web_search"})


def plan_tool(proposal: Proposal, local_only: bool = False) -> ToolCall:
    """The tool for a proposal, chosen from its task text alone (deterministic, no model).

    A URL in the task -> open_url; "search"/"look up" -> web_search; "draft"/"write" ->
    write_draft; anything else -> ask_to_clipboard. Under `local_only` nothing goes to a
    third party: a URL or a search becomes a question to the (local) model instead.
    The live loop plans from the *redacted* task, so the call it shows is the call it runs.
    """
    task = (proposal.task or "").strip()
    if proposal.is_silence or not task:
        raise UserError("plan_tool: the proposal offers no task (silence); only a proposal with a task can run a tool")
    url = _URL.search(task)
    if url and not local_only:
        return ToolCall(tool="open_url", argument=_trim_url(url.group(0)))
    if _SEARCH.search(task) and not local_only:
        query = _SEARCH_LEAD.sub("", task).strip() or task
        return ToolCall(tool="web_search", argument=query)
    if _DRAFT.search(task):
        return ToolCall(tool="write_draft", argument=task)
    return ToolCall(tool="ask_to_clipboard", argument=task)


def _trim_url(link: str) -> str:
    """A URL without the sentence's trailing punctuation; a redaction tag's closing ']' stays."""
    while link and link[-1] in ".,;:!?)]}":
        if _TAG_AT_END.search(link):
            break
        link = link[:-1]
    return link


def describe(call: ToolCall) -> str:
    """What Accept will do, in the words the notification shows (the argument as it will run)."""
    if call.tool == "open_url":
        return f"open {call.argument} in your browser"
    if call.tool == "web_search":
        return f"search DuckDuckGo for '{call.argument}'"
    if call.tool == "write_draft":
        return "ask the model for a draft and save it as a new file in your drafts folder"
    return "ask the model and put its answer on your clipboard"


def check_web_url(url: str) -> str:
    """`url` if it is an absolute http(s) URL with a host and no whitespace; else UserError."""
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise UserError(f"open_url: {url!r} holds whitespace or control characters; give one http(s) URL")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise UserError(f"open_url: {url!r} is not an http(s) URL; only http:// and https:// links are opened")
    return url


def slug(text: str) -> str:
    """A file-name-safe slug of `text`: lowercase ASCII words joined by '-', never empty."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    out = ""
    for word in words:
        candidate = f"{out}-{word}" if out else word
        if len(candidate) > SLUG_CHARS:
            break
        out = candidate
    return out or (words[0][:SLUG_CHARS] if words else "draft")


def draft_target(folder: Path, name: str) -> tuple[Path, str]:
    """(resolved folder to create in, final file name) for `name` under `folder`; UserError if it leaves it.

    `folder` (the allowed folder) is resolved, so a symlinked allowed folder is followed
    once; `name` must be relative, without `..`, and its parent folders must resolve to
    a place inside the allowed folder (a symlinked sub-folder pointing out is refused).
    """
    root = folder.expanduser().resolve()
    pure = PurePath(name)
    if not name or pure.is_absolute() or name.startswith("~"):
        raise UserError(f"write_draft: {name!r} is not a relative file name; drafts go inside {root}")
    if ".." in pure.parts or pure.name in ("", ".", ".."):
        raise UserError(f"write_draft: {name!r} climbs out with '..'; drafts go inside {root}")
    parent = (root / pure.parent).resolve()
    if not parent.is_relative_to(root):
        raise UserError(f"write_draft: {name!r} leads through a symlink to {parent}, outside {root}; refused")
    return parent, pure.name


def _create_exclusive(parent: Path, name: str, text: str) -> Path:
    """Write `text` to a new file `name` in `parent` (0600), never following or replacing anything.

    Tries name.md, name-2.md, ... ; O_EXCL fails on any existing entry, symlinks included
    (dangling ones too), and O_NOFOLLOW is a second lock on the same door.
    """
    stem, suffix = (name[: -len(".md")], ".md") if name.endswith(".md") else (name, "")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    for number in range(1, MAX_SUFFIX + 1):
        candidate = parent / (f"{stem}{suffix}" if number == 1 else f"{stem}-{number}{suffix}")
        try:
            descriptor = os.open(candidate, flags, 0o600)
        except FileExistsError:
            continue
        try:
            os.fchmod(descriptor, 0o600)  # the umask may have narrowed it; never widen beyond 0600
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(text if text.endswith("\n") else text + "\n")
        except BaseException:
            candidate.unlink(missing_ok=True)  # no half-written draft left behind
            raise
        return candidate
    raise UserError(f"write_draft: {parent} already holds {MAX_SUFFIX} drafts named {name}; tidy the folder")


def _browser_controller(browser: str | None) -> webbrowser.BaseBrowser:
    """The controller for `browser` (a name or a command line), else $BROWSER, else the default.

    `webbrowser` reads $BROWSER only once per process; reading it here at every call makes
    a later change (a test's recording script, a person's new choice) count. An entry
    without '%s' that `webbrowser` does not know is run as a command with the URL appended.
    """
    choice = browser or next((c for c in os.environ.get("BROWSER", "").split(os.pathsep) if c.strip()), None)
    if choice is None:
        return webbrowser.get()
    try:
        return webbrowser.get(choice)
    except webbrowser.Error:
        if "%s" in choice:
            raise
        return webbrowser.get(f"{choice} %s")


class ToolBox:
    """Runs one allowlisted tool call; every failure comes back as ToolResult(ok=False), never raised."""

    def __init__(
        self,
        allowed_folder: Path,
        model: str | None,
        browser: str | None = None,
        clipboard_cmd: list[str] | None = None,
        *,
        max_tokens: int = 400,
        local_only: bool = False,
        dry_run: bool = False,
    ) -> None:
        """`dry_run`: say what each call would do and run nothing (replays of model output)."""
        self.dry_run = dry_run
        self.allowed_folder = Path(allowed_folder)
        self.local_only = local_only
        self.model_spec = model
        self.browser = browser
        self.clipboard_cmd = list(clipboard_cmd) if clipboard_cmd else list(XCLIP)
        self.max_tokens = max_tokens
        self._model: ChatModel | None = None

    async def run(self, call: ToolCall) -> ToolResult:
        """Run `call`; a refusal or failure is a ToolResult with ok=False and a one-line reason."""
        if self.dry_run:
            return ToolResult(ok=False, dry_run=True, detail=f"dry run, nothing ran (pass --run-tools): would "
                                                             f"{describe(call)}")  # fmt: skip
        try:
            if self.local_only and call.tool in REMOTE_TOOLS:
                raise UserError(f"{call.tool} would send activity-derived text off this machine; refused under "
                                "--local-only")  # fmt: skip
            if call.tool == "open_url":
                return await self._open(check_web_url(call.argument.strip()))
            if call.tool == "web_search":
                query = call.argument.strip()
                if not query:
                    raise UserError("web_search: the query is empty")
                return await self._open(SEARCH_URL.format(query=quote_plus(query)))
            if call.tool == "ask_to_clipboard":
                return await self._ask_to_clipboard(call.argument)
            return await self._write_draft(call.argument)
        except (UserError, OSError, webbrowser.Error) as error:
            # Errors quote the URL or file name: the log gets them redacted, as the store does.
            log.warning("tool %s refused or failed: %s", call.tool, redact(str(error)))
            return ToolResult(ok=False, detail=redact(f"{call.tool}: {error}"))

    async def _open(self, url: str) -> ToolResult:
        controller = _browser_controller(self.browser)
        opened = await asyncio.to_thread(controller.open, url, 2)
        if not opened:
            return ToolResult(ok=False, detail=f"the browser did not open {url}")
        return ToolResult(ok=True, detail=f"opened {url}")

    async def _ask(self, system_template: str, task: str) -> str:
        if not self.model_spec:
            raise UserError("no model is configured for the assistant's tools; pass --model SPEC")
        if self._model is None:
            self._model = get_model(self.model_spec)
        messages: list[Message] = [
            {"role": "system", "content": render(system_template)},
            {"role": "user", "content": render("assist_task_user.j2", task=task.strip())},
        ]
        result = await self._model.generate(messages, max_tokens=self.max_tokens)
        text = result.text.strip()
        if not text:
            raise UserError(f"model {self.model_spec} gave an empty answer; nothing was done")
        return text

    async def _ask_to_clipboard(self, task: str) -> ToolResult:
        answer = await self._ask("assist_answer_system.j2", task)
        await self._copy(answer)
        return ToolResult(ok=True, detail=answer)

    async def _copy(self, text: str) -> None:
        """Put `text` on the clipboard with the clipboard command (stdin), waiting for it to exit.

        xclip forks a child that keeps serving the selection and inherits stdout/stderr:
        reading those pipes would wait for that child forever, so stdout is discarded and
        stderr goes to a temporary file read after the parent exits.
        """
        with tempfile.TemporaryFile() as errors:
            try:
                process = await asyncio.create_subprocess_exec(
                    *self.clipboard_cmd,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=errors,
                )
            except FileNotFoundError as error:
                raise UserError(
                    f"clipboard command {self.clipboard_cmd[0]!r} not found: install xclip or set clipboard_cmd"
                ) from error
            try:
                await asyncio.wait_for(process.communicate(text.encode("utf-8")), CLIPBOARD_TIMEOUT_S)
            except TimeoutError as error:
                process.kill()
                await process.wait()
                raise UserError(
                    f"clipboard command {shlex.join(self.clipboard_cmd)} hung; is a display set?"
                ) from error
            if process.returncode != 0:
                errors.seek(0)
                message = errors.read().decode("utf-8", "replace").strip().splitlines()
                reason = message[0] if message else f"exit status {process.returncode}"
                raise UserError(f"clipboard command {shlex.join(self.clipboard_cmd)} failed: {reason}")

    async def _write_draft(self, task: str) -> ToolResult:
        # The target is checked before the model runs: a refused place costs no model time.
        name = f"{slug(task)}.md"
        self.allowed_folder.expanduser().mkdir(parents=True, exist_ok=True, mode=0o700)
        parent, leaf = draft_target(self.allowed_folder, name)
        draft = await self._ask("assist_draft_system.j2", task)
        parent, leaf = draft_target(self.allowed_folder, name)  # again: the folder may have moved meanwhile
        path = await asyncio.to_thread(_create_exclusive, parent, leaf, draft)
        return ToolResult(ok=True, detail=f"wrote {path}", path=path)
