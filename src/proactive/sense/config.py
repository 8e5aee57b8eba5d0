"""What `proactive sense` may see, and where what it saw may go.

The user's exclusions live in a TOML file (`config_path()`, see docs/sense.md):

    [sense]
    local_only = false            # true: refuse any remote model (same as --local-only)

    [exclude]
    apps = ["KeePassXC", "1Password"]        # app names, case-insensitive, ".exe" ignored
    titles = ['(?i)bank', 'Signal']          # regexes searched in window and tab titles
    urls = ['^https://mail\\.google\\.com/']  # regexes searched in URLs
    private = true                # private / incognito windows and tabs (default true)

Excluded activity is dropped before any sentence is made from it (never blurred).
Title and URL patterns are searched case-insensitively anywhere in the text.

Private windows: a window whose title ends with a browser's private-mode marker
("Private Browsing", "(Incognito)", "(Private)", "[InPrivate]"...) is private whatever
the app; the bare words "Incognito", "InPrivate" and "Private" at the end of a title count
only when the app is a browser (or unknown, as for web-tab events), so that a normal
window such as "private_notes.md - VS Code" is kept unless the user excludes it.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, field_validator

from proactive.errors import DataError, UserError
from proactive.fileio import write_atomic
from proactive.models.base_url import openai_base_url
from proactive.settings import state_dir

CONFIG_ENV = "PROACTIVE_CONFIG_DIR"
CONFIG_NAME = "sense.toml"


def regex_problem(pattern: str) -> str | None:
    """Why `pattern` does not compile, or None when it does.

    `re` raises OverflowError, not re.error, for a repeat count above its limit
    ("a{1,99999999999}"); both are a typo in the user's file, not a crash.
    """
    try:
        re.compile(pattern)
    except (re.error, OverflowError) as exc:
        return str(exc)
    return None


class SenseConfig(BaseModel):
    """The user's sensing policy: what is dropped, and whether models must be local."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    exclude_apps: list[str] = []
    exclude_titles: list[str] = []
    exclude_urls: list[str] = []
    exclude_private: bool = True
    local_only: bool = False

    @field_validator("exclude_titles", "exclude_urls")
    @classmethod
    def _patterns_compile(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            problem = regex_problem(pattern)
            if problem is not None:  # a ValueError, so that pydantic reports it as invalid input
                raise ValueError(f"invalid regular expression {pattern!r} ({problem})")
        return patterns


def config_path() -> Path:
    """`$PROACTIVE_CONFIG_DIR/sense.toml`, else `$XDG_CONFIG_HOME/proactive/sense.toml`,
    else `~/.config/proactive/sense.toml`."""
    chosen = os.environ.get(CONFIG_ENV)
    if chosen:
        return Path(chosen).expanduser() / CONFIG_NAME
    base = os.environ.get("XDG_CONFIG_HOME")
    return (Path(base) if base else Path.home() / ".config") / "proactive" / CONFIG_NAME


# ---------------------------------------------------------------- loading the file

#: TOML table -> key -> (SenseConfig field, expected type name).
_LAYOUT: dict[str, dict[str, tuple[str, str]]] = {
    "sense": {"local_only": ("local_only", "bool")},
    "exclude": {
        "apps": ("exclude_apps", "list"),
        "titles": ("exclude_titles", "list"),
        "urls": ("exclude_urls", "list"),
        "private": ("exclude_private", "bool"),
    },
}
_FIXES = {"bool": "write true or false", "list": 'write a list of strings, e.g. ["one", "two"]'}


def _check_value(path: Path, table: str, key: str, kind: str, value: Any) -> None:
    """One-line DataError for a value of the wrong type or an invalid regex."""
    field = f"{table}.{key}"
    if kind == "bool" and not isinstance(value, bool):
        raise DataError(path, f"[{table}]", field, f"expected true or false, got {value!r}; {_FIXES[kind]}")
    if kind != "list":
        return
    if not isinstance(value, list):
        raise DataError(path, f"[{table}]", field, f"expected a list of strings, got {value!r}; {_FIXES[kind]}")
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise DataError(
                path, f"[{table}]", f"{field}[{index}]", f"expected a non-empty string, got {item!r}; {_FIXES[kind]}"
            )
        if key in ("titles", "urls"):
            problem = regex_problem(item)
            if problem is not None:
                raise DataError(
                    path, f"[{table}]", f"{field}[{index}]",
                    f"invalid regular expression {item!r} ({problem}); fix it (a backslash escapes special characters)",
                )  # fmt: skip


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as stream:
            return tomllib.load(stream)
    except tomllib.TOMLDecodeError as exc:
        raise DataError(path, "", "", f"not valid TOML ({exc}); fix the syntax (see docs/sense.md)") from None
    except UnicodeDecodeError:
        raise DataError(path, "", "", "not valid UTF-8 text; save the file as UTF-8") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read the sense config ({exc.strerror}); fix its permissions") from None


def load_sense_config(path: Path | None = None) -> SenseConfig:
    """The policy in `path` (default `config_path()`); a missing default file means the defaults.

    Unknown tables or keys, wrong types and invalid regexes are one-line DataErrors that
    name the file, the field and the fix: a typo must never silently disable an exclusion.
    For the same reason a file named by the user (--config) must exist: a mistyped name
    would otherwise run with no exclusions at all.
    """
    if path is not None and not path.exists():
        raise UserError(
            f"--config {path}: file not found; pass your sense.toml (without --config: {config_path()})"
        )
    path = path or config_path()
    if not path.exists():
        return SenseConfig()
    if path.is_dir():
        raise UserError(f"{path}: is a folder; the sense config is a TOML file (see docs/sense.md)")
    document = _read_toml(path)
    values: dict[str, Any] = {}
    for table, content in document.items():
        layout = _LAYOUT.get(table)
        if layout is None:
            tables = ", ".join(f"[{name}]" for name in _LAYOUT)
            raise DataError(path, "", table, f"unknown table [{table}]; the tables are {tables}")
        if not isinstance(content, dict):
            raise DataError(path, "", table, f"expected a table; write it as [{table}] followed by its keys")
        for key, value in content.items():
            if key not in layout:
                known = ", ".join(layout)
                raise DataError(path, f"[{table}]", f"{table}.{key}", f"unknown key; the keys of [{table}] are {known}")
            field, kind = layout[key]
            _check_value(path, table, key, kind, value)
            values[field] = value
    return SenseConfig(**values)


# ---------------------------------------------------------------- exclusion

#: Apps that are browsers (normalised names contain one of these); their windows may be private.
_BROWSERS = (
    "firefox", "chrome", "chromium", "brave", "msedge", "microsoft edge", "edge", "safari", "opera",
    "vivaldi", "librewolf", "waterfox", "tor browser", "navigator", "arc", "zen", "epiphany", "falkon",
)  # fmt: skip
#: Private-mode markers at the end of a title that no ordinary window carries, whatever the app.
_STRONG_PRIVATE = re.compile(
    r"(private browsing|\(incognito\)|\(private\)|\[inprivate\]|\binprivate\s*-\s*microsoft\W*edge)\s*$"
    r"|\[inprivate\]",
    re.IGNORECASE,
)
#: Bare private-mode words at the end of a browser's title (Chrome "… Incognito", Edge "… InPrivate",
#: Brave "… Private"); only trusted when the app is a browser or unknown.
_WEAK_PRIVATE = re.compile(r"(^|[\s\-—–|:(\[])(incognito|inprivate|private)[\])]?\s*$", re.IGNORECASE)


def _app_key(app: str) -> str:
    """Case-insensitive app name with a Windows ".exe" suffix removed."""
    key = app.strip().casefold()
    return key.removesuffix(".exe").strip()


def _is_browser(app: str | None) -> bool:
    if not app:
        return False
    key = _app_key(app)
    words = set(re.split(r"[\s\-._]+", key))
    # Whole names or whole words only: "arc" must not match "archive-manager".
    return key in _BROWSERS or not words.isdisjoint(_BROWSERS)


def is_private_window(app: str | None, title: str | None, incognito: bool | None) -> bool:
    """True for a private / incognito browser window or tab.

    `incognito` is the flag aw-watcher-web sets on `web.tab.current` events; titles are
    checked for the markers browsers add to private windows (module docstring).
    """
    if incognito:
        return True
    if app and _app_key(app).startswith("tor browser"):
        return True  # every Tor Browser window is a private-browsing window
    if not title:
        return False
    if _STRONG_PRIVATE.search(title):
        return True
    return (app is None or _is_browser(app)) and _WEAK_PRIVATE.search(title) is not None


@lru_cache(maxsize=64)
def _compiled(patterns: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(pattern, re.IGNORECASE) for pattern in patterns)


@lru_cache(maxsize=64)
def _app_keys(apps: tuple[str, ...]) -> frozenset[str]:
    return frozenset(_app_key(app) for app in apps)


def is_excluded(
    config: SenseConfig, app: str | None, title: str | None, url: str | None, incognito: bool | None = None
) -> bool:
    """True when this activity must be dropped entirely (before any sentence is made of it)."""
    if config.exclude_private and is_private_window(app, title, incognito):
        return True
    if app and config.exclude_apps and _app_key(app) in _app_keys(tuple(config.exclude_apps)):
        return True
    if title and any(p.search(title) for p in _compiled(tuple(config.exclude_titles))):
        return True
    return bool(url) and any(p.search(url or "") for p in _compiled(tuple(config.exclude_urls)))


# ---------------------------------------------------------------- local only

#: Providers that never leave the machine.
_LOCAL_PROVIDERS = frozenset({"local", "replay"})


def _is_loopback(base_url: str) -> bool:
    """True for a URL whose host is localhost, 127.0.0.0/8 or ::1, or a unix socket."""
    text = base_url.strip()
    if "://" not in text:
        text = "http://" + text  # "127.0.0.1:8080/v1" written without a scheme
    parts = urlsplit(text)
    if parts.scheme.startswith("unix") or parts.scheme.endswith("+unix"):
        return True
    try:
        host = parts.hostname
    except ValueError:
        return False
    if not host:
        return False
    if host.rstrip(".") == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # any other name may resolve anywhere
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def check_local_only(spec: str, base_url: str | None = None) -> None:
    """Refuse (UserError) a model spec that could send data off this machine.

    `local/` and `replay/` run here; `openai/` is accepted only when its effective base URL
    (`models.base_url.openai_base_url`: the one the client will use) is loopback.
    Unknown providers are refused, since we cannot tell where they send data.
    """
    provider, sep, _ = spec.partition("/")
    if sep and provider in _LOCAL_PROVIDERS:
        return
    fix = "use a local/ model, or an openai/ model whose base URL is on localhost (OPENAI_BASE_URL)"
    if not sep or provider != "openai":
        raise UserError(f"model '{spec}': --local-only refuses models of unknown location; {fix}")
    effective = openai_base_url(base_url)  # with none set, api.openai.com: remote like any other
    if not _is_loopback(effective):
        raise UserError(f"model '{spec}': --local-only refuses the remote base URL {effective}; {fix}")


# ---------------------------------------------------------------- writing sensed data


def _private_target(path: Path) -> Path:
    """`path` resolved, checked to be inside the state dir, its folders made 0700."""
    root = state_dir().resolve()
    target = path.expanduser().resolve()
    if target == root or not target.is_relative_to(root):
        raise UserError(f"{path}: sensed data is written only inside the state dir {root}; choose a path under it")
    folder = root
    for part in target.parent.relative_to(root).parts:
        folder = folder / part
        folder.mkdir(mode=0o700, exist_ok=True)
        # chmod even when it existed: a folder made earlier with the umask's 0755 must close too.
        folder.chmod(0o700)
    return target


def write_private(path: Path, text: str) -> None:
    """Write sensed data to `path` (inside the state dir) atomically, readable by the user only.

    `write_atomic` writes to a `tempfile.mkstemp` file, which is created 0600, and
    `os.replace` keeps that mode: the data is never world-readable, even for an instant.
    """
    target = _private_target(path)
    write_atomic(target, text)
    if target.stat().st_mode & 0o077:  # defensive: only if fileio ever stops using mkstemp
        target.chmod(0o600)


def append_private(path: Path, line: str) -> None:
    """Append one line (a JSONL record) to `path` inside the state dir; the file is 0600."""
    body = line.removesuffix("\n")
    if "\n" in body:
        raise UserError(f"{path}: append_private writes one line; the text holds a newline (encode it as JSON)")
    target = _private_target(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0)
    descriptor = os.open(target, flags, 0o600)
    try:
        os.fchmod(descriptor, 0o600)  # an older file with a wider mode is closed as well
        os.write(descriptor, (body + "\n").encode("utf-8"))
    finally:
        os.close(descriptor)
