"""What is sensed about a person stays theirs: a private state dir, private caches, a fenced recorder.

The state dir holds the response cache (live offers written from sensed activity), the
embeddings cache (sensed sentences) and the assistant's log. It is created 0700 and every
database in it 0600, whatever the umask; the exchange recorder ($PROACTIVE_RECORD), which
writes raw prompts, refuses any path outside it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from proactive.errors import UserError


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture()
def open_umask() -> object:
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_state_dir_and_its_caches_are_private_under_an_open_umask(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, open_umask: object
) -> None:
    from proactive.models.cache import ResponseCache
    from proactive.models.embeddings import EmbeddingCache
    from proactive.settings import state_dir

    home = tmp_path / "home" / "proactive"
    monkeypatch.setenv("PROACTIVE_HOME", str(home))
    assert state_dir() == home
    assert _mode(home) == 0o700
    cache = ResponseCache()
    cache.put("k", "local/x", {"text": "Summarise the email from Alice"})
    EmbeddingCache()
    for name in ("cache.sqlite", "embeddings-minilm-l6.sqlite"):
        assert _mode(home / name) == 0o600, name
    # WAL and shared-memory files take the database's mode.
    for extra in home.glob("cache.sqlite-*"):
        assert _mode(extra) & 0o077 == 0, extra


def test_an_existing_open_state_dir_and_cache_are_closed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from proactive.models.cache import ResponseCache
    from proactive.settings import state_dir

    home = tmp_path / "proactive"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    (home / "cache.sqlite").touch()
    (home / "cache.sqlite").chmod(0o644)
    monkeypatch.setenv("PROACTIVE_HOME", str(home))
    state_dir()
    ResponseCache()
    assert _mode(home) == 0o700
    assert _mode(home / "cache.sqlite") == 0o600


def test_the_recorder_refuses_paths_outside_the_state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from proactive.models.cache import RECORD_ENV, Recorder

    home = tmp_path / "state"
    monkeypatch.setenv("PROACTIVE_HOME", str(home))
    for outside in (tmp_path / "shared" / "log.jsonl", home / ".." / "escape.jsonl"):
        with pytest.raises(UserError, match=RECORD_ENV):
            Recorder(outside)
        assert not outside.exists()
    link = home / "link"
    home.mkdir(exist_ok=True)
    link.symlink_to(tmp_path)
    with pytest.raises(UserError, match="inside the state dir"):
        Recorder(link / "through-a-link.jsonl")
    inside = Recorder(home / "recordings" / "r.jsonl")
    inside.append({"key": "k", "answer": "ok"})
    assert _mode(inside.path) == 0o600
    assert inside.path.read_text().count("\n") == 1


def test_a_cli_run_with_the_recorder_outside_says_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess
    import sys

    env = {**os.environ, "PROACTIVE_HOME": str(tmp_path / "state"), "PROACTIVE_RECORD": str(tmp_path / "x.jsonl"),
           "OPENAI_API_KEY": "unused"}  # fmt: skip
    # The recorder is built with the model, before any request: nothing is sent anywhere.
    result = subprocess.run(
        [str(Path(sys.executable).parent / "proactive"), "bench", "run", "--agent", "llm", "--model",
         "openai/gpt-4o-mini", "--traces", "code_11", "--limit", "1", "--out", str(tmp_path / "run"),
         "--no-baselines", "--no-report"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr[-800:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "PROACTIVE_RECORD" in lines[0], result.stderr
    assert not (tmp_path / "x.jsonl").exists()
