"""The writer's answer decoded whole vs from its opening (a benchmark script, not a test).

For one-text-field answers (the offer writer's `{"task": ...}`) the embedded backend puts the
fixed opening `{"task":` at the start of the model's turn and stops as soon as the value
closes (`models/greedy_grammar.py`). This script asks the same writer prompts both ways, each
from an empty KV cache so both evaluate the same prompt, and prints how many answers are the
same, the tokens generated, and the seconds per answer (as a ratio: same process, same load).

    .venv/bin/python bench/opening_decoding.py                      # 12 prompts, the 1.5B
    .venv/bin/python bench/opening_decoding.py --model smollm2-135m --prompts 4
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from proactive.agent.writer import WriterOffer, writer_messages
from proactive.data.labelled import load_labelled_traces
from proactive.models import structured
from proactive.models.llama import LlamaModel, LlamaOptions, _Instance
from proactive.types import Observation

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="qwen2.5-coder-1.5b", help="Alias or .gguf path of the writer.")
    parser.add_argument("--prompts", type=int, default=12)
    args = parser.parse_args()
    traces = load_labelled_traces(ROOT / "data" / "new_traces" / "held")
    prompts = [writer_messages(Observation(history=t.trace.events[: i + 1])) for t in traces for i in (2, 5, 8)]
    model = LlamaModel(args.model, LlamaOptions())
    inst = _Instance(llama=model._load())
    schema = structured.capped_schema(WriterOffer, model.options.max_string_length)
    same, whole_s, opening_s, whole_tokens, opening_tokens = 0, [], [], [], []
    for messages in prompts[: args.prompts]:
        inst.llama.reset()
        started = time.perf_counter()
        whole, usage = model._complete_greedy_schema(
            inst, messages, schema, from_opening=False, temperature=0.0, max_tokens=48
        )
        whole_s.append(time.perf_counter() - started)
        inst.llama.reset()
        started = time.perf_counter()
        opened, opened_usage = model._complete_greedy_schema(inst, messages, schema, temperature=0.0, max_tokens=48)
        opening_s.append(time.perf_counter() - started)
        whole_tokens.append(usage.completion_tokens)
        opening_tokens.append(opened_usage.completion_tokens)
        whole_parsed = structured.validate(WriterOffer, whole)[0]
        opened_parsed = structured.validate(WriterOffer, opened)[0]
        agree = whole_parsed == opened_parsed if whole_parsed is not None else whole == opened
        same += agree
        print(f"{'same' if agree else 'DIFF'}  whole {usage.completion_tokens:2d} tok {whole}")
        print(f"      opening {opened_usage.completion_tokens:2d} tok {opened}")
    count = len(whole_s)
    print(f"\nmodel {args.model}, {count} writer prompts of our held new traces, each from an empty KV cache")
    print(f"same answer: {same} of {count}")
    print(f"tokens generated, median: whole {statistics.median(whole_tokens)}, "
          f"from the opening {statistics.median(opening_tokens)}")  # fmt: skip
    saved = (sum(whole_s) - sum(opening_s)) / count
    ratio = sum(opening_s) / sum(whole_s)
    print(f"seconds per answer (prompt + answer), mean: whole {sum(whole_s) / count:.2f}, "
          f"from the opening {sum(opening_s) / count:.2f} ({saved:.2f} s less; ratio {ratio:.3f})")  # fmt: skip


if __name__ == "__main__":
    main()
