"""A Python onnxruntime KV-cache greedy loop over a converted decoder: the converter's
``--check`` and the reference scripts use it to run a graph the way the runtime does."""

from __future__ import annotations

from typing import Sequence

import numpy as np

def empty_past(session, batch: int) -> dict[str, np.ndarray]:
    """Zero-length past tensors for every ``past_key_values.*`` input of ``session``."""
    feeds = {}
    for inp in session.get_inputs():
        if inp.name.startswith("past_key_values."):
            dtype = np.float16 if inp.type == "tensor(float16)" else np.float32
            feeds[inp.name] = np.zeros((batch, inp.shape[1], 0, inp.shape[3]), dtype=dtype)
    return feeds


def greedy_kv(session, prompts: Sequence[Sequence[int]], max_new_tokens: int, position_offset: int | None = None,
              eos_ids: Sequence[int] = ()) -> list[list[int]]:
    """Greedy decoding of a (left-padded) batch through ``session`` with its KV cache.

    The prompt is one step, every new token another. Rows that produced an EOS id keep
    decoding (their later tokens are dropped), so the batch stays rectangular. Returns
    the new ids of every prompt.
    """
    names = {i.name for i in session.get_inputs()}
    if position_offset is None:  # as the runtime tells it: from 1 only without an attention mask
        position_offset = int("position_ids" in names and "attention_mask" not in names)
    batch = len(prompts)
    width = max(len(p) for p in prompts)
    if "attention_mask" not in names and any(len(p) != width for p in prompts):
        raise ValueError("the graph has no attention_mask: prompts of different lengths cannot be batched")
    ids = np.zeros((batch, width), dtype=np.int64)
    mask = np.zeros((batch, width), dtype=np.int64)
    for b, p in enumerate(prompts):
        ids[b, width - len(p):] = p
        mask[b, width - len(p):] = 1
    past = empty_past(session, batch)
    # A spare attention row (convert/fused.py) leaves one position past the cache in present.
    spare = int(session.get_modelmeta().custom_metadata_map.get("attention_spare_row") == "1")
    out: list[list[int]] = [[] for _ in prompts]
    done = [False] * batch
    step_ids = ids
    for _ in range(max_new_tokens):
        feeds = {"input_ids": step_ids, **past}
        if "attention_mask" in names:
            feeds["attention_mask"] = mask
        if "num_logits_to_keep" in names:  # the fused graphs: logits of the last position
            feeds["num_logits_to_keep"] = np.array(1, np.int64)
        if "position_ids" in names:
            positions = np.cumsum(mask, axis=1) - 1 + position_offset
            positions = np.where(mask == 1, positions, 1)
            feeds["position_ids"] = np.ascontiguousarray(positions[:, -step_ids.shape[1]:])
        results = session.run(None, feeds)
        outputs = dict(zip([o.name for o in session.get_outputs()], results))
        nxt = outputs["logits"][:, -1, :].argmax(-1)
        for b in range(batch):
            if not done[b]:
                out[b].append(int(nxt[b]))
                done[b] = int(nxt[b]) in eos_ids
        if all(done):
            break
        past = {name.replace("present.", "past_key_values."): v[:, :, :v.shape[2] - spare] for name, v in outputs.items()
                if name.startswith("present.")}
        step_ids = nxt.astype(np.int64)[:, None]
        mask = np.concatenate([mask, np.ones((batch, 1), dtype=np.int64)], axis=1)
    return out
