"""Re-record tests/data/writer_qwen15.jsonl: real qwen2.5-coder-1.5b offer-writer answers.

Run from the repository root with the model pulled (`proactive models pull qwen2.5-coder-1.5b`):

    PROACTIVE_HOME=$(mktemp -d) .venv/bin/python tests/data/record_writer_answers.py

The writer (`agent/writer.py`) is asked at every moment of need of the hand-written traces
in tests/data/writer_traces/ (an error, a formula that keeps returning 0, a search typed in
Chinese, an upload the form keeps refusing) and of our new traces' dev set
(data/new_traces/dev), with no earlier offers.
tests/test_offer_writer.py replays these answers: the offers at the errors must name them,
and no run of five words of the writer's prompt may appear in more than 2% of the tasks.
Re-record whenever the writer's prompt templates (offer_*.j2) change.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
TARGET = HERE / "writer_qwen15.jsonl"
MODEL = "local/qwen2.5-coder-1.5b"


async def main() -> None:
    from proactive.agent.writer import OfferWriter
    from proactive.data.labelled import load_labelled_traces
    from proactive.models.base import get_model
    from proactive.types import Observation

    writer = OfferWriter(get_model(MODEL, cache=False))
    folders = [HERE / "writer_traces", ROOT / "data" / "new_traces" / "dev"]
    for labelled in (t for folder in folders for t in load_labelled_traces(folder)):
        for index, need in enumerate(labelled.help_needed):
            if need:
                offer = await writer.write(Observation(history=labelled.trace.events[: index + 1]))
                print(labelled.trace.id, index, offer.task or f"(declined: {offer.declined}: {offer.candidate})")


if __name__ == "__main__":
    # The recorder writes only inside the state dir (raw prompts); the file is moved here after.
    from proactive.settings import state_dir

    scratch = state_dir() / "recordings" / TARGET.name
    scratch.unlink(missing_ok=True)
    os.environ["PROACTIVE_RECORD"] = str(scratch)
    asyncio.run(main())
    shutil.move(scratch, TARGET)
