#!/usr/bin/env python3
"""Does a position's logits depend on what else its pass holds? For each decoder graph
given, the logits of position 40 of a fixed token sequence are computed under several pass
schedules (one 41-position prefill; 40 + 1; 39 + 2; 40 + 4; 38 + 3 + 2; 20 + 10 + 10 + 1..;
passes of two) through Python onnxruntime with 2 threads, and compared bit for bit with the
one-pass prefill. Prompt lookup is exact when every schedule the generator uses gives 0.

What it shows (BENCHMARKS.md): without a spare attention row a one-position pass differs
(fp32 ~2e-5, q4 0.2-0.6: int8 activations turn the first last-bit difference, in
GroupQueryAttention's one-row path, into other roundings) while every schedule of passes
of two or more positions gives the same bits; models/convert's fused graphs give attention
a spare row (convert/fused.py), and on them every schedule, one-position passes included,
gives the same bits. The plain fp32 graphs (decoder.py) have no GroupQueryAttention: the
generator runs no one-position pass on them (src/generate/lookup.rs).

  .venv/bin/python scripts/check_row_independence.py models/real/*/onnx/model_q4.onnx
"""
import sys

import numpy as np
import onnxruntime as ort

POSITION = 40
SCHEDULES = {
    "one prefill of 41": [41],
    "40 + one-position pass": [40, 1],
    "39 + 2": [39, 2],
    "40 + 4": [40, 4],
    "38 + 3 + 2": [38, 3, 2],
    "20 + 10 + 10 + 3": [20, 10, 10, 3],
    "passes of 2": [2] * 21,
    "30 + passes of 1": [30] + [1] * 11,
}


def check(path, threads=2):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(path, options)
    keys = [i for i in session.get_inputs() if i.name.startswith("past_key_values") and i.name.endswith(".key")]
    layers, heads, head_dim = len(keys), keys[0].shape[1], keys[0].shape[3]
    names = [o.name for o in session.get_outputs()]
    inputs = {i.name for i in session.get_inputs()}
    ids = list(np.random.default_rng(1).integers(100, 5000, 80))

    def run(start, n, past):
        feed = {"input_ids": np.array([ids[start:start + n]], np.int64),
                "attention_mask": np.ones((1, start + n), np.int64), "num_logits_to_keep": np.array(n, np.int64)}
        if "position_ids" in inputs:  # the Optimum layout's (from 0: it takes the mask too)
            feed["position_ids"] = np.arange(start, start + n, dtype=np.int64)[None]
        feed = {k: v for k, v in feed.items() if k in inputs}
        for i in range(layers):
            for kv in ("key", "value"):
                feed[f"past_key_values.{i}.{kv}"] = past[i][kv][:, :, :start]
        out = dict(zip(names, session.run(None, feed)))
        # Graphs that return every position's logits: keep the last n.
        return out["logits"][0][-n:], [{kv: out[f"present.{i}.{kv}"] for kv in ("key", "value")} for i in range(layers)]

    def logits_at_position(schedule):
        past = [{kv: np.zeros((1, heads, 0, head_dim), np.float32) for kv in ("key", "value")} for _ in range(layers)]
        start, found = 0, None
        for n in schedule:
            logits, past = run(start, n, past)
            if start <= POSITION < start + n:
                found = logits[POSITION - start]
            start += n
        return found

    reference = logits_at_position(SCHEDULES["one prefill of 41"])
    print(path)
    for name, schedule in SCHEDULES.items():
        diff = float(np.abs(logits_at_position(schedule) - reference).max())
        print(f"  {name:28s} max |logit difference| {diff:.3g}")


if __name__ == "__main__":
    for graph in sys.argv[1:]:
        check(graph)
