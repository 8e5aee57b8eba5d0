"""The assistant's SQLite log, on real files: proposals, answers, tool runs, snooze, migrations,
privacy (file modes, redaction down to the raw bytes) and the KTO export."""

from __future__ import annotations

import json
import sqlite3
import stat
import threading
import time
from pathlib import Path

import pytest

from proactive.assist.store import DB_NAME, KTO_SYSTEM, MIGRATIONS, SCHEMA_VERSION, AssistStore
from proactive.errors import UserError
from proactive.sense.redact import redact
from proactive.types import Event, Proposal

#: A GitHub token shape, built here so the test file itself holds no token-looking string.
SECRET = "ghp_" + "Zq7Xw2Lk9Pm4" * 3

#: The v1 schema exactly as the first release wrote it (a shipped migration must never change).
V1_SQL = (
    "CREATE TABLE proposals (id INTEGER PRIMARY KEY AUTOINCREMENT, session TEXT NOT NULL, "
    "created REAL NOT NULL, history TEXT NOT NULL, task TEXT NOT NULL, reason TEXT NOT NULL, "
    "gate_probability REAL)",
    "CREATE TABLE answers (proposal_id INTEGER PRIMARY KEY REFERENCES proposals(id) ON DELETE CASCADE, "
    "answer TEXT NOT NULL CHECK (answer IN ('accepted', 'dismissed', 'ignored')), answered_at REAL NOT NULL)",
    "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)


def _history(*texts: str) -> list[Event]:
    start = 1_717_377_997.0
    return [Event(time=str(start + 5 * i), text=text, source="activitywatch") for i, text in enumerate(texts)]


def _proposal(task: str, probability: float | None = None) -> Proposal:
    return Proposal(task=task, message=task, gate_probability=probability)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_default_path_is_in_the_state_dir_and_private(state_home: Path) -> None:
    with AssistStore() as store:
        history = _history("The user opens main.py.")
        store.add_proposal(session="s", history=history, proposal=_proposal("Open the docs"), reason="r")
        path = state_home / DB_NAME
        assert store.path == path
        assert _mode(path) == 0o600
        sidecars = [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm")]
        assert any(p.exists() for p in sidecars), "WAL mode should leave a -wal / -shm file while open"
        for sidecar in sidecars:
            if sidecar.exists():
                assert _mode(sidecar) == 0o600, sidecar


def test_an_existing_wider_file_is_closed_to_0600(state_home: Path) -> None:
    path = state_home / DB_NAME
    path.touch(mode=0o644)
    path.chmod(0o644)
    AssistStore(path).close()
    assert _mode(path) == 0o600


def test_proposals_and_answers_round_trip(state_home: Path) -> None:
    store = AssistStore()
    history = _history("The user opens report.docx in LibreOffice.", "The user types the introduction.")
    first = store.add_proposal(
        session="day-1", history=history, proposal=_proposal("Draft the summary", 0.81), reason="after a save"
    )
    second = store.add_proposal(
        session="day-2", history=history[:1], proposal=_proposal("Search for a template"), reason="new file"
    )
    assert first != second
    before = time.time()
    store.record_answer(first, "accepted", at=1234.5)
    store.record_answer(second, "dismissed")
    store.close()

    reopened = AssistStore()  # a fresh connection reads what the first one wrote
    stored = reopened.proposals()
    assert [p.id for p in stored] == [first, second]
    one, two = stored
    assert one.session == "day-1" and one.history == history and one.task == "Draft the summary"
    assert one.reason == "after a save" and one.gate_probability == pytest.approx(0.81)
    assert one.answer == "accepted" and one.answered_at == 1234.5 and one.status == "accepted"
    assert two.gate_probability is None and two.answer == "dismissed" and two.answered_at is not None
    assert two.answered_at >= before
    assert [p.id for p in reopened.proposals("day-2")] == [second]
    assert reopened.proposals("no-such-session") == []
    reopened.close()


def test_a_new_proposal_is_shown_until_answered(state_home: Path) -> None:
    with AssistStore() as store:
        pid = store.add_proposal(session="s", history=[], proposal=_proposal("Open the docs"), reason="r")
        (stored,) = store.proposals()
        assert stored.id == pid and stored.answer is None and stored.answered_at is None and stored.status == "shown"


def test_a_second_answer_is_refused_and_the_first_kept(state_home: Path) -> None:
    with AssistStore() as store:
        pid = store.add_proposal(session="s", history=[], proposal=_proposal("Open the docs"), reason="r")
        store.record_answer(pid, "ignored")
        with pytest.raises(UserError, match=rf"proposal {pid} was already answered \(ignored\)") as caught:
            store.record_answer(pid, "accepted")
        assert "\n" not in str(caught.value)
        assert store.proposals()[0].answer == "ignored"


def test_unknown_ids_and_bad_answers_are_refused(state_home: Path) -> None:
    with AssistStore() as store:
        pid = store.add_proposal(session="s", history=[], proposal=_proposal("Open the docs"), reason="r")
        with pytest.raises(UserError, match=f"proposal {pid + 1} does not exist"):
            store.record_answer(pid + 1, "accepted")
        with pytest.raises(UserError, match=f"proposal {pid + 7} does not exist"):
            store.record_tool_run(pid + 7, "open_url", True, "opened")
        with pytest.raises(UserError, match="is not one of accepted, dismissed, ignored"):
            store.record_answer(pid, "maybe")  # type: ignore[arg-type]
        assert store.tool_runs() == []
        assert store.proposals()[0].answer is None  # the refused answers left nothing behind


def test_a_silence_is_not_logged(state_home: Path) -> None:
    with AssistStore() as store:
        with pytest.raises(UserError, match="a silence is not a proposal"):
            store.add_proposal(session="s", history=[], proposal=Proposal(task="None."), reason="r")
        assert store.proposals() == []


def test_tool_runs_are_recorded(state_home: Path) -> None:
    with AssistStore() as store:
        first = store.add_proposal(session="s", history=[], proposal=_proposal("Open the docs"), reason="r")
        second = store.add_proposal(session="s", history=[], proposal=_proposal("Write a draft"), reason="r")
        store.record_answer(first, "accepted")
        store.record_tool_run(first, "open_url", True, "opened https://docs.python.org/3/")
        store.record_tool_run(second, "write_draft", False, "refused: ../outside.md leaves the allowed folder")
        runs = store.tool_runs()
        assert [(r.proposal_id, r.tool, r.ok) for r in runs] == [
            (first, "open_url", True),
            (second, "write_draft", False),
        ]
        assert runs[0].detail == "opened https://docs.python.org/3/"
        assert [r.tool for r in store.tool_runs(second)] == ["write_draft"]


def test_snooze_is_stored_and_cleared(state_home: Path) -> None:
    with AssistStore() as store:
        assert store.snooze_until() is None
        until = time.time() + 1800.25
        store.set_snooze(until)
    with AssistStore() as store:  # kept across connections
        assert store.snooze_until() == until
        store.set_snooze(until + 60)
        assert store.snooze_until() == until + 60
        with pytest.raises(UserError, match="not a finite number"):
            store.set_snooze(float("nan"))
        store.set_snooze(None)
        assert store.snooze_until() is None


def test_a_v1_database_is_migrated_with_its_data(state_home: Path) -> None:
    assert MIGRATIONS[0].statements == V1_SQL, "a shipped migration was edited; add a new step instead"
    assert SCHEMA_VERSION > 1, "this test needs a migration after v1"
    path = state_home / DB_NAME
    old = sqlite3.connect(path)
    with old:
        for statement in V1_SQL:
            old.execute(statement)
        old.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied REAL)")
        old.execute("INSERT INTO schema_migrations VALUES (1, 'proposals, answers, settings', 0)")
        event = {"time": "1717377997.0", "text": "The user runs pytest; 3 tests fail.", "source": "trace"}
        history = json.dumps([event])
        old.execute(
            "INSERT INTO proposals (session, created, history, task, reason, gate_probability) "
            "VALUES ('old', 100.0, ?, 'Explain the failing tests', 'a failed run', 0.7)",
            (history,),
        )
        old.execute("INSERT INTO answers VALUES (1, 'accepted', 101.0)")
        old.execute("INSERT INTO settings VALUES ('snooze_until', '5000.0')")
    old.close()

    with AssistStore(path) as store:
        assert store.schema_version() == SCHEMA_VERSION
        (kept,) = store.proposals()
        assert (kept.id, kept.session, kept.task, kept.answer, kept.answered_at) == (
            1, "old", "Explain the failing tests", "accepted", 101.0,
        )  # fmt: skip
        assert kept.history[0].text == "The user runs pytest; 3 tests fail."
        assert store.snooze_until() == 5000.0
        store.record_tool_run(1, "ask_to_clipboard", True, "answer copied")  # the v2 table exists
        assert len(store.tool_runs(1)) == 1
        new = store.add_proposal(session="new", history=[], proposal=_proposal("Open the log"), reason="r")
        assert new == 2
    versions = sqlite3.connect(path).execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    assert [v for (v,) in versions] == [m.version for m in MIGRATIONS]
    with AssistStore(path) as again:  # opening a current file applies nothing twice
        assert again.schema_version() == SCHEMA_VERSION and len(again.proposals()) == 2


def test_a_newer_database_is_refused_in_one_line(state_home: Path) -> None:
    path = state_home / DB_NAME
    with AssistStore(path) as store:
        store.add_proposal(session="s", history=[], proposal=_proposal("Open the docs"), reason="r")
    newer = SCHEMA_VERSION + 3
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO schema_migrations VALUES (?, 'from the future', 0)", (newer,))
    with pytest.raises(UserError) as caught:
        AssistStore(path)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message
    assert f"version {newer} is newer" in message and "upgrade proactive" in message
    check = sqlite3.connect(path)  # nothing was changed or lost
    assert check.execute("SELECT COUNT(*) FROM proposals").fetchone()[0] == 1
    assert check.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0] == newer
    check.close()


def test_a_file_that_is_not_a_database_is_one_line(state_home: Path) -> None:
    path = state_home / DB_NAME
    path.write_bytes(b"this is not sqlite, it is a note the person kept" * 40)
    with pytest.raises(UserError, match="cannot open the assistant's database") as caught:
        AssistStore(path)
    assert "\n" not in str(caught.value)
    assert path.read_bytes().startswith(b"this is not sqlite")  # the file was not overwritten


def test_a_secret_never_reaches_the_database_file(state_home: Path) -> None:
    leaky = f"The user runs `git push https://x:{SECRET}@github.com/a/b` with token {SECRET}."
    assert SECRET not in redact(leaky), "the redactor must catch this token for the test to mean anything"
    path = state_home / DB_NAME
    store = AssistStore(path)
    pid = store.add_proposal(
        session="s",
        history=_history("The user opens a terminal.", leaky),
        proposal=_proposal(f"Rotate the token {SECRET}"),
        reason=f"the token {SECRET} was shown on screen",
    )
    store.record_tool_run(pid, "web_search", True, f"searched for {SECRET}")
    raw = b"".join(p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists())
    assert SECRET.encode() not in raw
    assert b"[REDACTED:" in raw  # the rows are there, redacted
    (stored,) = store.proposals()
    assert SECRET not in stored.model_dump_json() and "[REDACTED:" in stored.history[1].text
    assert SECRET not in store.tool_runs()[0].detail
    store.close()
    assert SECRET.encode() not in path.read_bytes()  # after the checkpoint too


def _answered_store(path: Path) -> tuple[AssistStore, list[Event]]:
    store = AssistStore(path)
    history = _history("The user opens budget.xlsx.", "The user sorts column B.", "The user saves the file.")
    for task, answer in (
        ("Chart the budget by month", "accepted"),
        ("Email the budget to the team", "dismissed"),
        ("Check the totals", "ignored"),
        ("Open the help page", None),
    ):
        pid = store.add_proposal(session="s", history=history, proposal=_proposal(task), reason="after a save")
        if answer is not None:
            store.record_answer(pid, answer)  # type: ignore[arg-type]
    return store, history


def test_kto_export_rows_and_labels(state_home: Path, tmp_path: Path) -> None:
    store, history = _answered_store(state_home / DB_NAME)
    out = tmp_path / "export" / "kto.jsonl"
    assert store.export_kto(out) == 2  # ignored and unanswered proposals are skipped
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(r["completion"][0]["content"], r["label"]) for r in rows] == [
        ("Chart the budget by month", True),
        ("Email the budget to the team", False),
    ]
    for row in rows:
        assert set(row) == {"prompt", "completion", "label"} and isinstance(row["label"], bool)
        prompt = row["prompt"]
        assert prompt[0] == {"role": "system", "content": KTO_SYSTEM}
        assert [m["role"] for m in prompt[1:]] == ["user"] * len(history)
        for message, event in zip(prompt[1:], history, strict=True):
            assert set(message) == {"role", "content"} and message["content"].endswith(event.text)
        assert len(row["completion"]) == 1 and row["completion"][0]["role"] == "assistant"
    assert _mode(out) == 0o600
    store.close()


def test_kto_export_loads_in_datasets(state_home: Path, tmp_path: Path) -> None:
    import datasets
    store, _ = _answered_store(state_home / DB_NAME)
    out = tmp_path / "kto.jsonl"
    store.export_kto(out)
    store.close()
    loaded = datasets.load_dataset("json", data_files=str(out), split="train")
    assert loaded.num_rows == 2 and set(loaded.column_names) == {"prompt", "completion", "label"}
    assert loaded[0]["label"] is True and loaded[0]["prompt"][0]["role"] == "system"


def test_two_stores_on_one_file_lose_no_row_across_threads(state_home: Path) -> None:
    path = state_home / DB_NAME
    stores = [AssistStore(path), AssistStore(path)]
    per_thread = 25
    errors: list[BaseException] = []

    def work(index: int) -> None:
        store = stores[index % 2]
        try:
            for n in range(per_thread):
                pid = store.add_proposal(
                    session=f"thread-{index}", history=_history(f"event {n}"), proposal=_proposal(f"task {index}-{n}"),
                    reason="r",
                )  # fmt: skip
                store.record_answer(pid, "accepted" if n % 2 else "dismissed")
                store.record_tool_run(pid, "open_url", True, f"run {index}-{n}")
        except BaseException as error:  # reported below: a thread's exception is otherwise lost
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    for store in stores:
        store.close()
    with AssistStore(path) as store:
        stored = store.proposals()
        assert len(stored) == 4 * per_thread and len({p.id for p in stored}) == 4 * per_thread
        assert all(p.answer is not None for p in stored)
        assert {p.task for p in stored} == {f"task {i}-{n}" for i in range(4) for n in range(per_thread)}
        assert len(store.tool_runs()) == 4 * per_thread
        for index in range(4):
            assert len(store.proposals(f"thread-{index}")) == per_thread
