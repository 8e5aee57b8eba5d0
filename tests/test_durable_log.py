"""The one durable JSONL log (fileio.DurableLog) under bench records, gym traces and gym work files.

Real files in tmp_path; a crash mid-append is stood in for by writing a prefix of a line
without its newline, which is all a kill can leave (each line goes out in one write).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from proactive.bench.store import EventRecord, RecordLog
from proactive.errors import DataError
from proactive.fileio import DurableLog
from proactive.train.gym_source import Attempt, read_records
from proactive.train.gym_source import EventRecord as WorkRecord
from proactive.types import Proposal


def _index(line: bytes, index: int) -> int:
    value = json.loads(line)
    assert value["i"] == index
    return int(value["i"])


def _fill(log: DurableLog, count: int) -> None:
    for index in range(count):
        log.append(json.dumps({"i": index, "text": f"é{index}"}, ensure_ascii=False))


def test_appends_survive_reopening_byte_for_byte(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "log.jsonl"
    _fill(DurableLog(path), 3)
    expected = "".join(json.dumps({"i": i, "text": f"é{i}"}, ensure_ascii=False) + "\n" for i in range(3))
    assert path.read_text(encoding="utf-8") == expected
    reopened = DurableLog(path)
    assert reopened.load(_index) == [0, 1, 2]
    reopened.append(json.dumps({"i": 3}))
    assert DurableLog(path).load(_index) == [0, 1, 2, 3]


def test_a_torn_tail_is_cut_and_the_next_append_starts_a_fresh_line(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    log = DurableLog(path)
    _fill(log, 2)
    whole = path.read_bytes()
    with path.open("ab") as handle:
        handle.write(b'{"i": 2, "te')  # killed mid-write
    assert log.load(_index) == [0, 1]
    assert path.read_bytes() == whole  # the torn tail is gone from the file, not just skipped
    log.append(json.dumps({"i": 2}))
    assert log.load(_index) == [0, 1, 2]


def test_a_missing_file_is_an_empty_log_and_is_not_created(tmp_path: Path) -> None:
    log = DurableLog(tmp_path / "none.jsonl")
    assert log.load(_index) == [] and log.keep(3) == 0
    assert not log.path.exists()


def test_keep_cuts_back_to_a_checkpoint_and_reports_missing_lines(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    log = DurableLog(path)
    _fill(log, 4)
    with path.open("ab") as handle:
        handle.write(b'{"i": 4')
    assert log.keep(2) == 2
    assert log.load(_index) == [0, 1]
    assert log.keep(5) == 2  # fewer lines than asked: the caller refuses to resume
    assert log.load(_index) == [0, 1]


def test_lines_split_at_newline_only_so_a_raw_u2028_stays_inside_its_record(tmp_path: Path) -> None:
    # pydantic writes U+2028 raw; str.splitlines (the old work-file reader) cut the line there.
    path = tmp_path / "work.jsonl"
    record = WorkRecord(event_index=0, attempts=[Attempt(text="a\u2028b", accepted=True)])
    DurableLog(path).append(record.model_dump_json())
    assert "\u2028" in path.read_text(encoding="utf-8")
    assert read_records(path) == [record]


def test_a_line_holding_a_newline_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="newline"):
        DurableLog(tmp_path / "log.jsonl").append('{"a": 1}\n{"a": 2}')


def _bench_record(index: int) -> EventRecord:
    return EventRecord(index=index, time=str(index), event=f"e{index}", proposal=Proposal())


def test_a_damaged_middle_bench_record_is_one_line_and_the_file_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "run" / "records" / "t.jsonl"
    log = RecordLog(path)
    log.append(_bench_record(0))
    with path.open("ab") as handle:
        handle.write(b"not json\n")
    log.append(_bench_record(2))
    with path.open("ab") as handle:
        handle.write(b'{"index": 3')  # and a torn tail, which must stay for the person to see
    before = path.read_bytes()
    with pytest.raises(DataError) as caught:
        log.load()
    assert str(caught.value) == f"{path}:record 1: corrupt record line; delete the run folder"
    assert path.read_bytes() == before


def test_a_bench_record_out_of_order_names_the_index(tmp_path: Path) -> None:
    log = RecordLog(tmp_path / "t.jsonl")
    log.append(_bench_record(0))
    log.append(_bench_record(2))
    with pytest.raises(DataError) as caught:
        log.load()
    assert str(caught.value) == f"{log.path}:record 1: field 'index': expected 1, got 2"


def test_gym_work_file_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "work.jsonl"
    log = DurableLog(path)
    log.append(WorkRecord(event_index=0, attempts=[]).model_dump_json())
    log.append("{}")
    with pytest.raises(DataError) as caught:
        read_records(path)
    assert str(caught.value) == f"{path}:line 2: damaged work file; delete it to redo this trace"
    path.write_text(WorkRecord(event_index=1, attempts=[]).model_dump_json() + "\n", encoding="utf-8")
    with pytest.raises(DataError) as caught:
        read_records(path)
    assert str(caught.value) == f"{path}:line 1: field 'event_index': out of order; delete the file to redo this trace"


def test_gym_work_file_torn_tail_is_cut_before_resuming(tmp_path: Path) -> None:
    path = tmp_path / "work.jsonl"
    first = WorkRecord(event_index=0, attempts=[Attempt(text="x", accepted=False, reason="no")])
    DurableLog(path).append(first.model_dump_json())
    whole = path.read_bytes()
    with path.open("ab") as handle:
        handle.write(b'{"event_index": 1, "att')
    assert read_records(path) == [first]
    assert path.read_bytes() == whole
