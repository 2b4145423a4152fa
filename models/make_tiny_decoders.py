#!/usr/bin/env python3
"""Write the tiny, deterministic decoder (text generation) models committed under models/tiny/.

Random weights (fixed seeds) in convert/decoder.py's graph: hidden 32, 2 layers,
4 query heads sharing 2 KV heads (head_dim 8), SiLU MLP 48, untied lm_head,
RoPE theta 10000, max_position_embeddings 128, a ~340-token byte-level BPE.
The numbers mean nothing, but every folder has the files and quirks of a real
model folder:

  gen-llama/       the Optimum layout as exported over 2 GB: the weights in ONNX external
                   data (onnx/model.onnx_data beside onnx/model.onnx); attention_mask and
                   0-based position_ids inputs, fp32 KV cache, ChatML chat template in
                   tokenizer_config.json (a default system prompt when the chat
                   has none, like SmolLM2; tools and tool calls in Qwen2.5's Hermes
                   form, compactly), generation_config eos_token_id 2; beside it
                   onnx/model_quantized.onnx, onnxruntime's dynamic int8 quantization
                   of it (Optimum's form: DynamicQuantizeLinear, one activation scale
                   per pass), on which prompt lookup stays off.
  gen-nopos/       no position_ids input (the graph derives positions from the
                   attention mask), eos_token_id [2, 0] (both stop).
  gen-fp16kv/      KV cache inputs/outputs in float16; generation_config asks for
                   sampling by default (do_sample, temperature, top_k, top_p).
  gen-gemma/       the onnx-community / transformers.js Gemma 3 layout: no
                   attention_mask input, position_ids counted from 1 (the graph
                   depends on the first position id, see ``absolute_positions``);
                   Gemma 3's own chat template in chat_template.jinja (bos_token,
                   system text folded into the first user turn, "model" role,
                   raise_exception on bad roles); the tokenizer adds <bos> to raw
                   prompts; eos [<eos>, <end_of_turn>].
  gen-gemma-optimum/  Optimum's Gemma 3 export layout: attention_mask and no
                   position_ids (the graph counts positions from the mask); Gemma 3's
                   own chat template, verbatim, in tokenizer_config.json, and a
                   multi-turn chat.
  gen-notemplate/  no chat template (raw prompts only), no generation_config.json:
                   EOS comes from config.json (<|endoftext|> = 0).
  gen-fused/       the fused contrib-op graph of convert/fused.py (GroupQueryAttention
                   with past/present buffer sharing, SkipSimplifiedLayerNormalization;
                   no position_ids input, logits of the last num_logits_to_keep positions), head_dim 16
                   (GroupQueryAttention's rotary needs a multiple of 16).
  gen-genai/       the same kind of fused graph laid out as onnxruntime-genai's model
                   builder writes a folder: model.onnx at the root, no metadata in the
                   graph, genai_config.json (with past_present_share_buffer) instead of
                   config.json and generation_config.json.

The lm_head is built so greedy decoding never picks a special token or a piece
of a UTF-8 character: the embeddings hold a constant in hidden dimension 0 that
no layer writes to (its rows of o_proj/down_proj are zero), so after the final
RMSNorm that dimension is a positive near-constant and the lm_head's column 0
acts as a per-token logit bias (-30 for special tokens, -8 for lone non-ASCII
bytes, control bytes and partial characters). Every reference therefore runs
the full 24 new tokens.

Each folder has ``expected.json``: for 3 raw prompts (and, where there is a
template, 3 chats of a user message with or without a system message, with the
rendered ``prompt_text``) the ``prompt_ids`` (Python ``tokenizers``; raw
prompts with the tokenizer's special tokens, rendered chats without, as
transformers' apply_chat_template) and the greedy ``generated_ids`` of 24 new
tokens from an *independent* numpy implementation of the llama math in float64
(full recompute at every step, no cache; fp16 rounding of K/V for gen-fp16kv,
1-based positions for gen-gemma). The script asserts that an onnxruntime
KV-cache loop over the ONNX graph gives the same ids, one prompt at a time and
as one left-padded batch (graphs with an attention mask), and that greedy never came close to a tie (smallest
top-2 logit gap per case is stored as ``min_top2_margin``).

Run: python3 models/make_tiny_decoders.py [--out models/tiny]
Re-running gives byte-identical files.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from script_helpers import bytes_to_unicode  # noqa: E402
from convert.decoder import GraphOptions, LlamaConfig, build_llama_graph  # noqa: E402
from convert.fused import build_fused_llama_graph  # noqa: E402
from convert.runner import greedy_kv  # noqa: E402
from convert.template import render_chat  # noqa: E402

HIDDEN = 32
LAYERS = 2
HEADS = 4
KV_HEADS = 2
HEAD_DIM = 8
INTERMEDIATE = 48
MAX_POS = 128
ROPE_THETA = 10000.0
RMS_EPS = 1e-5
NEW_TOKENS = 24
MIN_MARGIN = 0.02  # smallest allowed top-2 logit gap in the references
SIZE_LIMIT = 1_700_000  # all gen-* folders together

RAW_PROMPTS = [
    "hello world",
    "naïve café 東京 🍕 12345",
    "The quick brown fox\njumps over 3 lazy dogs.",
]
CHATS = [
    [{"role": "user", "content": "hello"}],
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "What is 2+2?"}],
    [{"role": "user", "content": "Tell me a story about a café in 東京."}],
]

# Words whose byte-level spellings become merge chains (deterministic merges; no trainer).
WORDS = [
    "hello", "Ġhello", "Ġworld", "Ġthe", "The", "Ġfox", "ing", "Ġand", "Ġyou", "Ġis", "Ġa",
    "Ġtest", "Ġmodel", "You", "Ġare", "system", "user", "assistant", "model", "Ġme", "ĊĊ", "ĠĠ",
    "er", "Ġcaf", "ĠWhat", "Hello",
]
# Whole multi-byte characters as single tokens (their byte-level spelling), and one
# character split in two tokens (🍕 = F0 9F | 8D 95) so prompts have a character
# spanning tokens.
WHOLE_CHARS = ["é", "ï", "東", "京"]
SPLIT_CHARS = [("ðŁ", "įķ")]

# ChatML, plus tools in the Hermes form Qwen2.5 uses (compact: the tiny context is 128
# tokens): the offered tools' names in a system turn, an assistant turn's calls as
# <tool_call>{...}</tool_call>, tool results as <tool_response> in a user turn. Without
# tools, the plain ChatML of earlier versions.
CHATML_TEMPLATE = (
    "{% if tools %}{{ '<|im_start|>system\\ntools:' }}"
    "{% for tool in tools %}{{ ' ' + tool.function.name }}{% endfor %}"
    "{{ ' <tool_call><|im_end|>\\n' }}{% endif %}"
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' and not tools %}"
    "{{ '<|im_start|>system\\nYou are a tiny test model.<|im_end|>\\n' }}"
    "{% endif %}"
    "{% if message['role'] == 'tool' %}"
    "{{ '<|im_start|>user\\n<tool_response>' + message['content'] + '</tool_response><|im_end|>\\n' }}"
    "{% elif message['tool_calls'] %}{{ '<|im_start|>assistant\\n' }}"
    "{% for call in message['tool_calls'] %}{{ '<tool_call>' + call['function'] | tojson + '</tool_call>' }}{% endfor %}"
    "{{ '<|im_end|>\\n' }}"
    "{% else %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# Gemma 3's own chat template, verbatim from google/gemma-3-*-it's tokenizer_config.json:
# the system message folded into the first user turn, "model" for the assistant, the text
# parts of list contents, raise_exception on broken alternation.
GEMMA3_TEMPLATE = """{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- if messages[0]['content'] is string -%}
        {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}
    {%- else -%}
        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\n\n' -%}
    {%- endif -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else "") }}
    {%- if message['content'] is string -%}
        {{ message['content'] | trim }}
    {%- elif message['content'] is iterable -%}
        {%- for item in message['content'] -%}
            {%- if item['type'] == 'image' -%}
                {{ '<start_of_image>' }}
            {%- elif item['type'] == 'text' -%}
                {{ item['text'] | trim }}
            {%- endif -%}
        {%- endfor -%}
    {%- else -%}
        {{ raise_exception("Invalid content type") }}
    {%- endif -%}
    {{ '<end_of_turn>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model\n'}}
{%- endif -%}"""


# ---- tokenizers --------------------------------------------------------------------------


BYTE_CHARS = bytes_to_unicode()


def byte_level(text: str) -> str:
    return "".join(BYTE_CHARS[b] for b in text.encode("utf-8"))


def bpe_vocab(first_specials: list[str], last_specials: list[str]):
    """(vocab, merges, special tokens): specials, 256 bytes, merge results, more specials."""
    vocab: dict[str, int] = {}
    for s in first_specials:
        vocab[s] = len(vocab)
    for b in range(256):
        vocab[BYTE_CHARS[b]] = len(vocab)
    merges: list[tuple[str, str]] = []

    def merge(a: str, b: str) -> None:
        if (a, b) in merges:
            return
        assert a in vocab and b in vocab, (a, b)
        merges.append((a, b))
        vocab.setdefault(a + b, len(vocab))

    def chain(word: str) -> None:
        for k in range(2, len(word) + 1):
            merge(word[: k - 1], word[k - 1])

    for char in WHOLE_CHARS:
        chain(byte_level(char))
    for a, b in SPLIT_CHARS:
        chain(a)
        chain(b)
    for word in WORDS:
        chain(word)
    for s in last_specials:
        vocab[s] = len(vocab)
    return vocab, merges


def make_tokenizer(vocab: dict[str, int], merges, specials: list[str], bos: str | None) -> Tokenizer:
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, dropout=None, unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)]
    )
    if bos is None:
        tok.post_processor = processors.ByteLevel(add_prefix_space=True, trim_offsets=False, use_regex=True)
    else:
        # Raw prompts get <bos> (as Gemma's tokenizer); chat templates write it themselves.
        tok.post_processor = processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A $B:1", special_tokens=[(bos, vocab[bos])])
    tok.decoder = decoders.ByteLevel(add_prefix_space=True, trim_offsets=True, use_regex=True)
    tok.add_special_tokens([AddedToken(s, single_word=False, lstrip=False, rstrip=False, normalized=False, special=True) for s in specials])
    for s in specials:
        assert tok.token_to_id(s) == vocab[s]
    return tok


def logit_bias(vocab: dict[str, int], specials: list[str]) -> np.ndarray:
    """-30 for special tokens, -8 for tokens that are not whole printable UTF-8 text, else 0."""
    inverse = {v: k for k, v in BYTE_CHARS.items()}
    bias = np.zeros(len(vocab), dtype=np.float64)
    for token, i in vocab.items():
        if token in specials:
            bias[i] = -60.0
            continue
        raw = bytes(inverse[c] for c in token)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            bias[i] = -30.0
            continue
        if any(ord(c) < 0x20 and c != "\n" for c in text) or text == "\x7f":
            bias[i] = -30.0
    return bias


# ---- weights and the reference -----------------------------------------------------------


def make_weights(seed: int, vocab_size: int, bias: np.ndarray, absolute_positions: bool = False, scales: dict | None = None,
                 head_dim: int = HEAD_DIM) -> dict[str, np.ndarray]:
    # Small o_proj/down_proj keep the residual stream (and so the bias channel after the
    # final norm, 1 / rms(h) ~ 0.18..0.33) in a narrow range.
    sc = {"qk": 0.6, "v": 0.5, "o": 0.15, "mlp": 0.3, "down": 0.1, "head": 1.5, "bias_unit": 0.1}
    sc.update(scales or {})
    rng = np.random.default_rng(seed)

    def normal(shape, scale):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    def norm_weight():
        g = (1.0 + normal((HIDDEN,), 0.1)).astype(np.float32)
        g[0] = 0.0  # the layers do not read the bias channel
        return g

    w: dict[str, np.ndarray] = {}
    embed = normal((vocab_size, HIDDEN), 1.0)
    embed[:, 0] = 1.0  # the constant bias channel (see the module doc)
    w["model.embed_tokens.weight"] = embed
    for i in range(LAYERS):
        p = f"model.layers.{i}"
        w[f"{p}.input_layernorm.weight"] = norm_weight()
        w[f"{p}.self_attn.q_proj.weight"] = normal((HEADS * head_dim, HIDDEN), sc["qk"])
        w[f"{p}.self_attn.k_proj.weight"] = normal((KV_HEADS * head_dim, HIDDEN), sc["qk"])
        w[f"{p}.self_attn.v_proj.weight"] = normal((KV_HEADS * head_dim, HIDDEN), sc["v"])
        o = normal((HIDDEN, HEADS * head_dim), sc["o"])
        o[0, :] = 0.0  # ... and do not write it
        w[f"{p}.self_attn.o_proj.weight"] = o
        w[f"{p}.post_attention_layernorm.weight"] = norm_weight()
        w[f"{p}.mlp.gate_proj.weight"] = normal((INTERMEDIATE, HIDDEN), sc["mlp"])
        w[f"{p}.mlp.up_proj.weight"] = normal((INTERMEDIATE, HIDDEN), sc["mlp"])
        down = normal((HIDDEN, INTERMEDIATE), sc["down"])
        down[0, :] = 0.0
        w[f"{p}.mlp.down_proj.weight"] = down
    final = (1.0 + normal((HIDDEN,), 0.1)).astype(np.float32)
    final[0] = 1.0
    w["model.norm.weight"] = final
    head = normal((vocab_size, HIDDEN), sc["head"])
    # After the final norm the bias channel is 1 / rms(h) (about bias_unit): column 0 of the
    # lm_head turns it into a logit bias of roughly `bias`.
    head[:, 0] = (bias / sc["bias_unit"]).astype(np.float32)
    w["lm_head.weight"] = head
    if absolute_positions:
        table = normal((MAX_POS, HIDDEN), 0.5)
        table[:, 0] = 0.0
        w["model.embed_positions.weight"] = table
    return w


def reference_logits(w: dict[str, np.ndarray], ids: list[int], positions: np.ndarray, kv_fp16: bool, table_offset: int = 0) -> np.ndarray:
    """Logits [len(ids), vocab] of one sequence fed ``positions``: plain numpy llama math in
    float64, no cache. ``table_offset``: the first position id (of the absolute position
    table; the rotation counts from it)."""
    f = {k: v.astype(np.float64) for k, v in w.items()}
    n = len(ids)
    HEAD_DIM = w["model.layers.0.self_attn.k_proj.weight"].shape[0] // KV_HEADS  # noqa: N806

    def rms(x, weight):
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + RMS_EPS) * weight

    inv_freq = 1.0 / ROPE_THETA ** (np.arange(0, HEAD_DIM, 2, dtype=np.float64) / HEAD_DIM)
    angles = np.outer((positions - table_offset).astype(np.float64), inv_freq)  # [n, D/2], rotated from 0
    cos, sin = np.cos(angles), np.sin(angles)

    def rope(x):  # x [n, D]: (x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin)
        x1, x2 = x[:, : HEAD_DIM // 2], x[:, HEAD_DIM // 2:]
        return np.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)

    def kv_round(x):
        return x.astype(np.float32).astype(np.float16).astype(np.float64) if kv_fp16 else x

    h = f["model.embed_tokens.weight"][ids]
    if "model.embed_positions.weight" in f:
        h = h + f["model.embed_positions.weight"][positions - table_offset]
    causal = np.tril(np.ones((n, n), dtype=bool))
    for i in range(LAYERS):
        p = f"model.layers.{i}"
        x = rms(h, f[f"{p}.input_layernorm.weight"])
        q = x @ f[f"{p}.self_attn.q_proj.weight"].T
        k = x @ f[f"{p}.self_attn.k_proj.weight"].T
        v = x @ f[f"{p}.self_attn.v_proj.weight"].T
        heads_out = []
        for head in range(HEADS):
            kv = head // (HEADS // KV_HEADS)
            qh = rope(q[:, head * HEAD_DIM:(head + 1) * HEAD_DIM])
            kh = kv_round(rope(k[:, kv * HEAD_DIM:(kv + 1) * HEAD_DIM]))
            vh = kv_round(v[:, kv * HEAD_DIM:(kv + 1) * HEAD_DIM])
            scores = np.where(causal, qh @ kh.T / np.sqrt(HEAD_DIM), -np.inf)
            probs = np.exp(scores - scores.max(axis=-1, keepdims=True))
            probs /= probs.sum(axis=-1, keepdims=True)
            heads_out.append(probs @ vh)
        h = h + np.concatenate(heads_out, axis=-1) @ f[f"{p}.self_attn.o_proj.weight"].T
        x = rms(h, f[f"{p}.post_attention_layernorm.weight"])
        gate = x @ f[f"{p}.mlp.gate_proj.weight"].T
        up = x @ f[f"{p}.mlp.up_proj.weight"].T
        h = h + (gate / (1.0 + np.exp(-gate)) * up) @ f[f"{p}.mlp.down_proj.weight"].T
    return rms(h, f["model.norm.weight"]) @ f["lm_head.weight"].T


def reference_greedy(w, prompt_ids: list[int], offset: int, kv_fp16: bool, fed_offset: int | None = None,
                     frozen_positions: bool = False) -> tuple[list[int], float]:
    """24 greedy tokens (full recompute each step) and the smallest top-2 logit gap.

    The positions are ``offset, offset + 1, ...``; ``fed_offset`` / ``frozen_positions``
    simulate a runtime that starts them elsewhere / never advances them (to show that
    the references would catch it).
    """
    ids = list(prompt_ids)
    new, margin = [], np.inf
    start = offset if fed_offset is None else fed_offset
    for _ in range(NEW_TOKENS):
        positions = np.full(len(ids), start) if frozen_positions else np.arange(len(ids)) + start
        last = reference_logits(w, ids, positions, kv_fp16, table_offset=offset)[-1]
        top2 = np.sort(last)[-2:]
        margin = min(margin, float(top2[1] - top2[0]))
        nxt = int(np.argmax(last))
        new.append(nxt)
        ids.append(nxt)
    return new, margin


def greedy_shared_kv(session, prompt_ids: list[int], max_new_tokens: int, layers: int, kv_heads: int, head_dim: int,
                     capacity: int = MAX_POS) -> list[int]:
    """Greedy decoding with past and present bound to one preallocated buffer per layer
    (onnxruntime IoBinding), as the runtime does for graphs marked past_present_share_buffer."""
    binding = session.io_binding()
    buffers = []
    for i in range(layers):
        for part in ("key", "value"):
            buf = ort.OrtValue.ortvalue_from_numpy(np.zeros((1, kv_heads, capacity, head_dim), np.float32))
            buffers.append(buf)
            binding.bind_ortvalue_input(f"past_key_values.{i}.{part}", buf)
            binding.bind_ortvalue_output(f"present.{i}.{part}", buf)
    binding.bind_output("logits")
    binding.bind_cpu_input("num_logits_to_keep", np.array(1, np.int64))
    ids, total, out = list(prompt_ids), len(prompt_ids), []
    for _ in range(max_new_tokens):
        binding.bind_cpu_input("input_ids", np.array([ids], np.int64))
        binding.bind_cpu_input("attention_mask", np.ones((1, total), np.int64))
        session.run_with_iobinding(binding)
        nxt = int(binding.get_outputs()[-1].numpy()[0, -1].argmax())
        out.append(nxt)
        ids, total = [nxt], total + 1
    return out


def compact_json(obj) -> str:
    """indent=1 JSON with lists of numbers / short strings on one line (ids stay readable)."""
    text = json.dumps(obj, indent=1, ensure_ascii=False)
    item = r'(?:-?\d+(?:\.\d+)?(?:e-?\d+)?|"[^"\\\n]*")'
    text = re.sub(r"\[\n\s*(" + item + r"(?:,\n\s*" + item + r")*)\n\s*\]",
                  lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",\n")) + "]", text)
    assert json.loads(text) == obj
    return text + "\n"


# ---- folders -------------------------------------------------------------------------------

CHATML = {"first": ["<|endoftext|>", "<|im_start|>", "<|im_end|>"], "last": []}
GEMMA = {"first": ["<pad>", "<eos>", "<bos>", "<unk>"], "last": ["<start_of_turn>", "<end_of_turn>"]}

VARIANTS = {
    "gen-llama": dict(seed=1000, options=GraphOptions(), family="chatml", template="tokenizer_config",
                      generation={"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 2}, external_data=True,
                      dynamic_int8=True),
    "gen-nopos": dict(seed=2000, options=GraphOptions(position_ids_input=False), family="chatml", template="tokenizer_config",
                      generation={"bos_token_id": 1, "eos_token_id": [2, 0], "pad_token_id": 2}),
    "gen-fp16kv": dict(seed=3000, options=GraphOptions(kv_dtype="float16"), family="chatml", template="tokenizer_config",
                       generation={"bos_token_id": 1, "eos_token_id": [2], "pad_token_id": 2, "do_sample": True,
                                   "temperature": 0.7, "top_k": 20, "top_p": 0.9}),
    "gen-gemma": dict(seed=4000, options=GraphOptions(position_offset=1, absolute_positions=True, attention_mask_input=False), family="gemma", template="jinja",
                      generation={"bos_token_id": 2, "eos_token_id": [1, "<end_of_turn>"], "pad_token_id": 0}),
    "gen-gemma-optimum": dict(seed=8000, options=GraphOptions(position_ids_input=False), family="gemma", template="gemma3",
                              generation={"bos_token_id": 2, "eos_token_id": [1, "<end_of_turn>"], "pad_token_id": 0},
                              chats=[[{"role": "system", "content": "You are terse."}, {"role": "user", "content": "hello"},
                                      {"role": "assistant", "content": " The fox "}, {"role": "user", "content": "and you?"}]]),
    "gen-notemplate": dict(seed=5000, options=GraphOptions(), family="chatml", template=None, generation=None),
    "gen-fused": dict(seed=6000, options=GraphOptions(position_ids_input=False), family="chatml", template="tokenizer_config",
                      generation={"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 2}, fused=True, head_dim=16),
}
VARIANTS["gen-genai"] = dict(VARIANTS["gen-fused"], seed=7000, layout="genai")


def genai_config(config: dict, eos_ids: list[int], filename: str) -> dict:
    """The genai_config.json onnxruntime-genai's model builder writes (its keys, our values)."""
    return {
        "model": {
            "bos_token_id": config["bos_token_id"],
            "context_length": config["max_position_embeddings"],
            "decoder": {
                "session_options": {"log_id": "onnxruntime-genai", "provider_options": []},
                "filename": filename,
                "head_size": config["head_dim"],
                "hidden_size": config["hidden_size"],
                "inputs": {"input_ids": "input_ids", "attention_mask": "attention_mask",
                           "past_key_names": "past_key_values.%d.key", "past_value_names": "past_key_values.%d.value"},
                "outputs": {"logits": "logits", "present_key_names": "present.%d.key",
                            "present_value_names": "present.%d.value"},
                "num_attention_heads": config["num_attention_heads"],
                "num_hidden_layers": config["num_hidden_layers"],
                "num_key_value_heads": config["num_key_value_heads"],
            },
            "eos_token_id": eos_ids,
            "pad_token_id": config["pad_token_id"],
            "type": config["model_type"],
            "vocab_size": config["vocab_size"],
        },
        "search": {"do_sample": False, "max_length": config["max_position_embeddings"], "num_beams": 1,
                   "past_present_share_buffer": True, "repetition_penalty": 1.0, "temperature": 1.0,
                   "top_k": 50, "top_p": 1.0},
    }


def json_bytes(obj) -> bytes:
    return compact_json(obj).encode("utf-8")


def choose_weights(name: str, seed: int, vocab_size: int, bias: np.ndarray, prompts: list[list[int]], options: GraphOptions,
                   head_dim: int = HEAD_DIM):
    """The first seed from ``seed`` on whose greedy references are clear-cut.

    Accepted when, for every prompt, the 24 tokens hold no token with a negative bias
    (special tokens, EOS, broken UTF-8), at least 8 different tokens, and no step whose
    best and second-best logits are closer than MIN_MARGIN (so float differences between
    implementations cannot flip a token). Deterministic: same seeds tried in the same order.
    """
    for candidate in range(seed, seed + 200):
        weights = make_weights(candidate, vocab_size, bias, options.absolute_positions, head_dim=head_dim)
        refs = []
        for ids in prompts:
            generated, margin = reference_greedy(weights, ids, options.position_offset, options.kv_dtype == "float16")
            if margin < MIN_MARGIN or (bias[generated] < 0).any() or len(set(generated)) < 8:
                break
            refs.append((generated, margin))
        else:
            return candidate, weights, refs
    raise RuntimeError(f"{name}: no seed in {seed}..{seed + 199} gives clear-cut references")


def build_folder(name: str, spec: dict, out: Path) -> dict:
    gemma = spec["family"] == "gemma"
    family = GEMMA if gemma else CHATML
    specials = family["first"] + family["last"]
    vocab, merges = bpe_vocab(family["first"], family["last"])
    bos = "<bos>" if gemma else "<|im_start|>"
    tok = make_tokenizer(vocab, merges, specials, bos if gemma else None)
    ids = {s: vocab[s] for s in specials}
    options: GraphOptions = spec["options"]
    kv_fp16 = options.kv_dtype == "float16"

    # ---- generation settings and EOS ids ---------------------------------------------------
    generation = None
    if spec["generation"] is not None:
        generation = dict(spec["generation"])
        eos = generation["eos_token_id"]
        if isinstance(eos, list):
            generation["eos_token_id"] = [ids[e] if isinstance(e, str) else e for e in eos]
    if generation is None:
        config_eos = ids["<|endoftext|>"]  # no generation_config.json: config.json decides
        eos_ids = [config_eos]
    else:
        eos = generation["eos_token_id"]
        eos_ids = eos if isinstance(eos, list) else [eos]
        config_eos = eos if gemma else ids["<|im_end|>"]

    # ---- chat template ---------------------------------------------------------------------
    # spec["template"]: which template, and where the folder keeps it ("jinja": chat_template.jinja).
    template = {"tokenizer_config": CHATML_TEMPLATE, "jinja": GEMMA3_TEMPLATE, "gemma3": GEMMA3_TEMPLATE}.get(spec["template"])

    # ---- prompts -> ids --------------------------------------------------------------------
    cases: list[dict] = [{"prompt": p} for p in RAW_PROMPTS]
    if template is not None:
        cases += [{"messages": m} for m in CHATS + spec.get("chats", [])]
    for case in cases:
        if "prompt" in case:
            case["prompt_ids"] = tok.encode(case["prompt"], add_special_tokens=True).ids
        else:
            case["prompt_text"] = render_chat(template, case["messages"], bos_token=bos)
            case["prompt_ids"] = tok.encode(case["prompt_text"], add_special_tokens=False).ids

    # ---- weights and the numpy reference (no cache) ------------------------------------------
    bias = logit_bias(vocab, specials)
    assert (bias[eos_ids] < 0).all()
    head_dim = spec.get("head_dim", HEAD_DIM)
    fused = spec.get("fused", False)
    seed, weights, refs = choose_weights(name, spec["seed"], len(vocab), bias, [c["prompt_ids"] for c in cases], options, head_dim)
    for case, (generated, margin) in zip(cases, refs):
        case.update(generated_ids=generated, generated_text=tok.decode(generated, skip_special_tokens=False),
                    min_top2_margin=round(margin, 4))
        assert "\ufffd" not in case["generated_text"]
    # The ids depend on the positions: a runtime that gets them wrong fails some case.
    frozen = [reference_greedy(weights, c["prompt_ids"], options.position_offset, kv_fp16, frozen_positions=True)[0] for c in cases]
    assert any(a != c["generated_ids"] for a, c in zip(frozen, cases)), f"{name}: relative positions do not matter"
    if options.absolute_positions:
        shifted = [reference_greedy(weights, c["prompt_ids"], options.position_offset, kv_fp16, fed_offset=1 - options.position_offset)[0]
                   for c in cases]
        assert any(a != c["generated_ids"] for a, c in zip(shifted, cases)), f"{name}: the first position id does not matter"

    # ---- the graph, checked with onnxruntime's KV-cache loop ----------------------------------
    cfg = LlamaConfig(hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS, num_key_value_heads=KV_HEADS,
                      head_dim=head_dim, intermediate_size=INTERMEDIATE, vocab_size=len(vocab), rms_norm_eps=RMS_EPS,
                      rope_theta=ROPE_THETA, tie_word_embeddings=False)
    doc = f"nodespace tiny test decoder {name} (random weights, models/make_tiny_decoders.py)"
    genai_layout = spec.get("layout") == "genai"
    if fused:
        # genai's builder has no spare attention row, and says it shares the KV buffer in
        # genai_config.json, not in the graph.
        model = build_fused_llama_graph(cfg, weights, max_positions=MAX_POS, spare_row=not genai_layout,
                                        graph_name=name.replace("-", "_"), doc=doc)
        if genai_layout:
            del model.metadata_props[:]
    else:
        model = build_llama_graph(cfg, weights, options, graph_name=name.replace("-", "_"), doc=doc)
    if not fused:  # the checker does not know onnxruntime's contrib ops
        onnx.checker.check_model(model)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    for case in cases:
        kv = greedy_kv(session, [case["prompt_ids"]], NEW_TOKENS, position_offset=options.position_offset)[0]
        assert kv == case["generated_ids"], f"{name}: onnxruntime KV-cache loop {kv} != numpy reference {case['generated_ids']}"
    if fused:  # no left padding in the fused graph; check the in-place (shared buffer) cache instead
        for case in cases:
            shared = greedy_shared_kv(session, case["prompt_ids"], NEW_TOKENS, LAYERS, KV_HEADS, head_dim)
            assert shared == case["generated_ids"], f"{name}: shared-buffer KV loop {shared} != numpy reference"
    elif options.attention_mask_input:  # without a mask nothing can be padded
        batched = greedy_kv(session, [c["prompt_ids"] for c in cases], NEW_TOKENS, position_offset=options.position_offset)
        assert batched == [c["generated_ids"] for c in cases], f"{name}: left-padded batch differs from one prompt at a time"

    # ---- files -----------------------------------------------------------------------------
    config = {
        "architectures": ["Gemma3ForCausalLM" if gemma else "LlamaForCausalLM"],
        "model_type": "gemma3_text" if gemma else "llama",
        "hidden_size": HIDDEN,
        "intermediate_size": INTERMEDIATE,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "num_key_value_heads": KV_HEADS,
        "head_dim": head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": MAX_POS,
        "rms_norm_eps": RMS_EPS,
        "rope_theta": ROPE_THETA,
        "vocab_size": len(vocab),
        "tie_word_embeddings": False,
        "bos_token_id": ids[bos],
        "eos_token_id": config_eos,
        "pad_token_id": ids["<pad>"] if gemma else ids["<|im_end|>"],
        "torch_dtype": "float32",
    }
    if gemma:
        layout = ("Optimum's Gemma 3 layout (attention_mask, no position_ids)" if options.attention_mask_input
                  else "the transformers.js Gemma 3 layout (no attention_mask; position_ids start at 1)")
        config["_note"] = f"test model: llama math in {layout}"
    tokenizer_config = {
        "add_bos_token": gemma,
        "add_eos_token": False,
        "added_tokens_decoder": {str(ids[s]): {"content": s, "lstrip": False, "normalized": False, "rstrip": False,
                                               "single_word": False, "special": True} for s in specials},
        "additional_special_tokens": ["<start_of_turn>", "<end_of_turn>"] if gemma else ["<|im_start|>", "<|im_end|>"],
        "bos_token": bos,
        "clean_up_tokenization_spaces": False,
        "eos_token": "<eos>" if gemma else ("<|endoftext|>" if template is None else "<|im_end|>"),
        "model_max_length": MAX_POS,
        "pad_token": "<pad>" if gemma else "<|im_end|>",
        "tokenizer_class": "GemmaTokenizerFast" if gemma else "GPT2Tokenizer",
        "unk_token": "<unk>" if gemma else "<|endoftext|>",
    }
    if spec["template"] in ("tokenizer_config", "gemma3"):
        tokenizer_config["chat_template"] = template
    special_map = {k: tokenizer_config[k] for k in ("bos_token", "eos_token", "pad_token", "unk_token", "additional_special_tokens")}

    inputs = {i.name: {"type": i.type, "shape": i.shape} for i in session.get_inputs()}
    outputs = {o.name: {"type": o.type, "shape": o.shape} for o in session.get_outputs()}
    expected = {
        "model_file": "model.onnx" if genai_layout else "onnx/model.onnx",
        **({"external_data": "model.onnx_data"} if spec.get("external_data") else {}),
        "reference": "numpy float64 llama math, full recompute per step (no KV cache); an onnxruntime KV-cache loop gives the same ids, one prompt at a time and "
                     + ("with past/present in one shared buffer" if fused else "as one left-padded batch" if options.attention_mask_input
                        else "(no attention_mask: no padded batch)"),
        "seed": seed,
        "max_new_tokens": NEW_TOKENS,
        "eos_token_ids": eos_ids,
        "special_tokens": ids,
        "position_ids_input": options.position_ids_input,
        "position_offset": options.position_offset,
        "kv_dtype": options.kv_dtype,
        "inputs": {k: v for k, v in inputs.items() if not k.startswith("past_key_values.") or k.startswith("past_key_values.0.")},
        "outputs": {k: v for k, v in outputs.items() if not k.startswith("present.") or k.startswith("present.0.")},
        "layers": LAYERS,
        "note": "raw prompts are tokenized with the tokenizer's special tokens (add_special_tokens=True), rendered chats without; "
                "generated_ids never contain an EOS id, so every case runs the full max_new_tokens",
        "cases": cases,
    }

    folder = out / name
    if folder.is_symlink():  # a scratch link left in place of the folder: replace the link only
        folder.unlink()
    elif folder.exists():
        shutil.rmtree(folder)
    (folder / expected["model_file"]).parent.mkdir(parents=True)
    if spec.get("external_data"):
        # As Optimum exports models over 2 GB: the weights in a file beside the graph.
        onnx.save_model(model, str(folder / expected["model_file"]), save_as_external_data=True,
                        all_tensors_to_one_file=True, location=expected["external_data"], size_threshold=1024)
    else:
        (folder / expected["model_file"]).write_bytes(model.SerializeToString())
    if spec.get("dynamic_int8"):
        write_dynamic_int8(folder / expected["model_file"], folder / "onnx/model_quantized.onnx")
    (folder / "tokenizer.json").write_text(tok.to_str(pretty=True) + "\n", encoding="utf-8")
    (folder / "tokenizer_config.json").write_bytes(json_bytes(tokenizer_config))
    (folder / "special_tokens_map.json").write_bytes(json_bytes(special_map))
    if genai_layout:
        (folder / "genai_config.json").write_bytes(json_bytes(genai_config(config, eos_ids, expected["model_file"])))
    else:
        (folder / "config.json").write_bytes(json_bytes(config))
        if generation is not None:
            (folder / "generation_config.json").write_bytes(json_bytes(generation))
    if spec["template"] == "jinja":
        (folder / "chat_template.jinja").write_text(GEMMA3_TEMPLATE, encoding="utf-8")
    (folder / "expected.json").write_bytes(json_bytes(expected))

    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    print(f"{name}: seed {seed}, vocab {len(vocab)}, {len(cases)} cases x {NEW_TOKENS} tokens, "
          f"min top-2 margin {min(c['min_top2_margin'] for c in cases):.3f}, eos {eos_ids}, {size / 1024:.0f} KiB", flush=True)
    for c in cases:
        print(f"    {c.get('prompt', c.get('prompt_text', ''))[-36:]!r:40} -> {c['generated_text']!r}")
    return {"size": size}


def write_dynamic_int8(fp32: Path, out: Path) -> None:
    """Optimum's ``model_quantized.onnx`` form: int8 weights, activations quantized with one
    scale per pass (``DynamicQuantizeLinear``), so a position's logits depend on the other
    positions of its pass; the runtime keeps prompt lookup off on such graphs."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    with tempfile.TemporaryDirectory() as tmp:
        tmp_q = Path(tmp) / "q.onnx"
        quantize_dynamic(str(fp32), str(tmp_q), weight_type=QuantType.QInt8)
        q = onnx.load(str(tmp_q))
        q.producer_name, q.producer_version = "nodespace-models", "1"  # stable bytes
        assert any(n.op_type == "DynamicQuantizeLinear" for n in q.graph.node)
        out.write_bytes(q.SerializeToString())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=HERE / "tiny")
    args = ap.parse_args()
    total = 0
    for name, spec in VARIANTS.items():
        total += build_folder(name, spec, args.out)["size"]
    print(f"total {total / 1024:.0f} KiB for {len(VARIANTS)} folders")
    assert total < SIZE_LIMIT, f"tiny decoders take {total} bytes (limit {SIZE_LIMIT})"
    return 0


if __name__ == "__main__":
    sys.exit(main())
