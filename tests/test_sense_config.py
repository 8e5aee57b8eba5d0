"""The sensing policy: the user's TOML exclusions, private windows, --local-only, private files.

Real files in temporary folders; the modes are read back with os.stat.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from proactive.errors import DataError, UserError
from proactive.sense.config import (
    SenseConfig,
    append_private,
    check_local_only,
    config_path,
    is_excluded,
    is_private_window,
    load_sense_config,
    write_private,
)

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "docs" / "sense.example.toml"


# ---------------------------------------------------------------- config file


def test_config_path_follows_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROACTIVE_CONFIG_DIR", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config_path() == tmp_path / "xdg" / "proactive" / "sense.toml"
    monkeypatch.setenv("PROACTIVE_CONFIG_DIR", str(tmp_path / "mine"))
    assert config_path() == tmp_path / "mine" / "sense.toml"


def test_missing_file_gives_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROACTIVE_CONFIG_DIR", str(tmp_path))
    config = load_sense_config()
    assert config == SenseConfig()
    assert config.exclude_private is True
    assert config.local_only is False
    assert config.exclude_apps == [] and config.exclude_titles == [] and config.exclude_urls == []


def test_example_file_parses() -> None:
    config = load_sense_config(EXAMPLE)
    assert config.local_only is True
    assert config.exclude_private is True
    assert "KeePassXC" in config.exclude_apps
    assert config.exclude_titles and config.exclude_urls
    # The example's patterns do what its comments say.
    assert is_excluded(config, "keepassxc", "Passwords.kdbx", None)
    assert is_excluded(config, "firefox", "Inbox", "https://mail.google.com/mail/u/0/#inbox")
    assert not is_excluded(config, "code", "main.py - proactive - Visual Studio Code", None)


def test_full_file_sets_every_field(tmp_path: Path) -> None:
    path = tmp_path / "sense.toml"
    path.write_text(
        "[sense]\nlocal_only = true\n\n[exclude]\n"
        'apps = ["Signal"]\ntitles = ["(?i)payslip"]\nurls = ["bank\\\\.example"]\nprivate = false\n',
        encoding="utf-8",
    )
    config = load_sense_config(path)
    assert config == SenseConfig(
        exclude_apps=["Signal"], exclude_titles=["(?i)payslip"], exclude_urls=["bank\\.example"],
        exclude_private=False, local_only=True,
    )  # fmt: skip


BAD_FILES = [
    ("[exclude\napps = []\n", "", "not valid TOML"),
    ('[exclude]\napps = ["a",\n', "", "not valid TOML"),
    ('[exclude]\napp = ["KeePassXC"]\n', "exclude.app", "unknown key"),
    ("[sense]\nlocal-only = true\n", "sense.local-only", "unknown key"),
    ("[excludes]\napps = []\n", "excludes", "unknown table"),
    ("exclude = 3\n", "exclude", "expected a table"),
    ('[sense]\nlocal_only = "yes"\n', "sense.local_only", "true or false"),
    ("[exclude]\nprivate = 1\n", "exclude.private", "true or false"),
    ('[exclude]\napps = "KeePassXC"\n', "exclude.apps", "list of strings"),
    ('[exclude]\napps = ["KeePassXC", 3]\n', "exclude.apps[1]", "non-empty string"),
    ('[exclude]\ntitles = [""]\n', "exclude.titles[0]", "non-empty string"),
    ('[exclude]\ntitles = ["ok", "(unclosed"]\n', "exclude.titles[1]", "invalid regular expression"),
    ('[exclude]\nurls = ["*.bank.com"]\n', "exclude.urls[0]", "invalid regular expression"),
]


@pytest.mark.parametrize(("text", "field", "message"), BAD_FILES)
def test_bad_file_is_one_line_naming_file_and_field(tmp_path: Path, text: str, field: str, message: str) -> None:
    path = tmp_path / "sense.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError) as info:
        load_sense_config(path)
    line = str(info.value)
    assert "\n" not in line
    assert str(path) in line
    assert message in line
    if field:
        assert f"field '{field}'" in line
    # A fix is always suggested after the problem.
    assert ";" in line


def test_folder_in_place_of_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="is a folder"):
        load_sense_config(tmp_path)


def test_config_built_in_code_rejects_bad_regex() -> None:
    with pytest.raises(ValueError):
        SenseConfig(exclude_titles=["(broken"])


# ---------------------------------------------------------------- exclusion


def test_apps_match_case_insensitively_and_without_exe() -> None:
    config = SenseConfig(exclude_apps=["KeePassXC", "1Password.exe"])
    assert is_excluded(config, "KeePassXC", "Database", None)
    assert is_excluded(config, "keepassxc", None, None)
    assert is_excluded(config, "KeePassXC.exe", None, None)
    assert is_excluded(config, "1password", None, None)
    assert is_excluded(config, "1Password.EXE", None, None)
    assert not is_excluded(config, "KeePass", None, None)  # a different app, not a prefix match
    assert not is_excluded(config, None, "KeePassXC", None)  # apps match the app, not the title


def test_title_and_url_patterns_are_searched_case_insensitively() -> None:
    config = SenseConfig(
        exclude_titles=["bank statement", r"^Signal\b"], exclude_urls=[r"^https://[^/]*\.mybank\.com/"]
    )
    assert is_excluded(config, "evince", "Bank Statement March.pdf", None)
    assert is_excluded(config, "signal-desktop", "Signal - Alice", None)
    assert not is_excluded(config, "code", "signals.py - Visual Studio Code", None)
    assert is_excluded(config, "firefox", "Accounts", "https://online.MyBank.com/accounts")
    assert not is_excluded(config, "firefox", "Accounts", "https://example.com/?ref=online.mybank.com/")
    assert not is_excluded(config, "firefox", "Search", None)


PRIVATE_WINDOWS = [
    ("firefox", "Mozilla Firefox Private Browsing", None),
    ("firefox", "GitHub — Mozilla Firefox Private Browsing", None),
    ("firefox.exe", "Stack Overflow - Private Browsing", None),
    ("Google-chrome", "New Incognito Tab - Google Chrome (Incognito)", None),
    ("chrome.exe", "Inbox - Google Chrome Incognito", None),
    ("chromium", "Docs - Chromium (Incognito)", None),
    ("msedge.exe", "Bing - [InPrivate] - Microsoft\u200b Edge", None),
    ("Microsoft Edge", "New tab - InPrivate", None),
    ("Brave-browser", "New Private Tab - Brave Private", None),
    ("brave.exe", "Search - Brave (Private)", None),
    ("Safari", "Apple — Private Browsing", None),
    ("Tor Browser", "Explore. Privately.", None),
    (None, "Some page", True),  # aw-watcher-web's incognito flag on a tab event
    ("firefox", "Ordinary title", True),
]


@pytest.mark.parametrize(("app", "title", "incognito"), PRIVATE_WINDOWS)
def test_private_windows_are_excluded_by_default(app: str | None, title: str, incognito: bool | None) -> None:
    assert is_private_window(app, title, incognito)
    assert is_excluded(SenseConfig(), app, title, None, incognito)
    # The user may switch it off; then only their own exclusions apply.
    assert not is_excluded(SenseConfig(exclude_private=False), app, title, None, incognito)


NORMAL_WINDOWS = [
    ("Code", "private_notes.md - proactive - Visual Studio Code", None),
    ("code.exe", "private.py - Visual Studio Code", False),
    ("Code", "notes - private", None),  # ends with "private", but VS Code has no private mode
    ("gnome-terminal", "ssh private-server", None),
    ("firefox", "Private equity - Wikipedia — Mozilla Firefox", None),
    ("Google-chrome", "Incognito mode explained - Google Chrome", False),
    ("archive-manager", "backup - private", None),
]


@pytest.mark.parametrize(("app", "title", "incognito"), NORMAL_WINDOWS)
def test_normal_windows_mentioning_private_are_kept(app: str, title: str, incognito: bool | None) -> None:
    assert not is_private_window(app, title, incognito)
    assert not is_excluded(SenseConfig(), app, title, None, incognito)
    # ...unless the user says so.
    assert is_excluded(SenseConfig(exclude_titles=["private|incognito"]), app, title, None, incognito)


# ---------------------------------------------------------------- local only

LOCAL_ONLY = [
    ("local/qwen2.5-coder-1.5b", None, None, True),
    ("replay/recorded", None, None, True),
    ("openai/qwen", "http://127.0.0.1:8080/v1", None, True),
    ("openai/qwen", "http://127.5.6.7:8080/v1", None, True),
    ("openai/qwen", "http://localhost:11434/v1", None, True),
    ("openai/qwen", "http://[::1]:8000/v1", None, True),
    ("openai/qwen", "127.0.0.1:8080/v1", None, True),
    ("openai/qwen", None, "http://localhost:8080/v1", True),
    ("openai/qwen", "http://[::ffff:127.0.0.1]:8080/v1", None, True),
    ("openai/qwen", "http+unix://%2Frun%2Fllama.sock/v1", None, True),
    ("openai/qwen", None, "http://10.0.0.5:8080/v1", False),
    ("openai/qwen", "http://10.0.0.5:8080/v1", None, False),
    ("openai/gpt-4o", "https://api.openai.com/v1", None, False),
    ("openai/gpt-4o", None, None, False),
    ("openai/qwen", "http://localhost.evil.example/v1", None, False),
    ("openai/qwen", "http://127.0.0.1.nip.io/v1", None, False),
    ("openai/qwen", "http://10.0.0.5:8080/v1", "http://127.0.0.1:8080/v1", False),  # the option wins over $ENV
    ("anthropic/claude", None, None, False),
    ("qwen", None, None, False),
]


@pytest.mark.parametrize(("spec", "option", "env", "allowed"), LOCAL_ONLY)
def test_local_only_table(
    monkeypatch: pytest.MonkeyPatch, spec: str, option: str | None, env: str | None, allowed: bool
) -> None:
    if env is None:
        monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    else:
        monkeypatch.setenv("OPENAI_BASE_URL", env)
    if allowed:
        check_local_only(spec, base_url=option)
        return
    with pytest.raises(UserError) as info:
        check_local_only(spec, base_url=option)
    line = str(info.value)
    assert "\n" not in line and spec in line and "local" in line


def test_local_only_names_api_openai_when_no_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(UserError, match=r"api\.openai\.com"):
        check_local_only("openai/gpt-4o")


# ---------------------------------------------------------------- private files


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_write_private_is_user_only(state_home: Path) -> None:
    target = state_home / "sense" / "2024" / "trace.json"
    write_private(target, '{"events": []}\n')
    assert target.read_text(encoding="utf-8") == '{"events": []}\n'
    assert _mode(target) == 0o600
    assert _mode(state_home / "sense") == 0o700
    assert _mode(state_home / "sense" / "2024") == 0o700
    # Replacing keeps it private and leaves no temporary file behind.
    write_private(target, "second\n")
    assert target.read_text(encoding="utf-8") == "second\n"
    assert _mode(target) == 0o600
    assert sorted(p.name for p in target.parent.iterdir()) == ["trace.json"]


def test_write_private_closes_an_existing_open_folder(state_home: Path) -> None:
    folder = state_home / "sense"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    write_private(folder / "events.json", "[]")
    assert _mode(folder) == 0o700
    assert _mode(folder / "events.json") == 0o600


def test_write_private_refuses_outside_the_state_dir(state_home: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere" / "trace.json"
    with pytest.raises(UserError, match="only inside the state dir"):
        write_private(outside, "secret")
    assert not outside.exists() and not outside.parent.exists()
    with pytest.raises(UserError, match="only inside the state dir"):
        write_private(state_home / ".." / "escape.json", "secret")
    assert not (state_home.parent / "escape.json").exists()


def test_write_private_refuses_a_symlink_out_of_the_state_dir(state_home: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (state_home / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(UserError, match="only inside the state dir"):
        write_private(state_home / "link" / "trace.json", "secret")
    assert list(outside.iterdir()) == []


def test_append_private_writes_lines_user_only(state_home: Path, tmp_path: Path) -> None:
    log = state_home / "sense" / "events.jsonl"
    append_private(log, '{"text": "one"}')
    append_private(log, '{"text": "two"}\n')
    assert log.read_text(encoding="utf-8").splitlines() == ['{"text": "one"}', '{"text": "two"}']
    assert _mode(log) == 0o600 and _mode(log.parent) == 0o700
    log.chmod(0o644)  # a file widened by someone else is closed on the next append
    append_private(log, "{}")
    assert _mode(log) == 0o600
    with pytest.raises(UserError, match="one line"):
        append_private(log, "a\nb")
    assert len(log.read_text(encoding="utf-8").splitlines()) == 3
    with pytest.raises(UserError, match="only inside the state dir"):
        append_private(tmp_path / "log.jsonl", "{}")
