"""The converter's stages for an encoder GGUF (nomic-bert): a sentence-transformers folder.

  config.json, vocab.txt, tokenizer.json (tokenizer_wordpiece.py), tokenizer_config.json,
  special_tokens_map.json, modules.json (Transformer -> Pooling -> Normalize),
  1_Pooling/config.json (the GGUF's pooling type), sentence_bert_config.json (max length:
  the context length), config_sentence_transformers.json (the family's named prompts),
  onnx/model.onnx (encoder.py, fp32, exact from the GGUF's f16/f32 tensors).

Same interface as ``pipeline.Converter`` (tokenizer, graph, check), so the command line
treats both alike.
"""

from __future__ import annotations

import time
from pathlib import Path

from script_helpers import log, sha256

from .families import family_for
from .gguf_file import GGUFFile
from .hf_folder import json_bytes, read_json, write_if_changed
from .tokenizer_wordpiece import build_wordpiece_tokenizer, check_wordpiece_tokenizer
from .weights import read_weights


class EncoderConverter:
    def __init__(self, gguf_path: Path, dest: Path, source, graph_prefix: str) -> None:
        self.dest, self.source, self.graph_prefix = dest, source, graph_prefix
        log(f"  reading       {gguf_path.name}")
        self.g = GGUFFile(gguf_path)
        self.gguf_sha256 = source.sha256 if source else sha256(gguf_path)
        self.family = family_for(self.g.arch)
        self.config = self.family.config(self.g)
        c = self.config
        log(f"  architecture  {self.g.arch} encoder: {c['n_layer']} layers, width {c['n_embd']}, {c['n_head']} heads, "
            f"vocab {c['vocab_size']}, context {c['n_positions']}; tensors {self.g.type_counts()}")

    def tokenizer(self) -> None:
        tok, vocab = build_wordpiece_tokenizer(self.g)
        check_wordpiece_tokenizer(tok, vocab, self.source.known_ids if self.source else {})
        log(f"  tokenizer     WordPiece, {len(vocab)} tokens, uncased; known ids OK; whole words are single tokens")
        for name, data in self.folder_files(vocab).items():
            data = data if isinstance(data, bytes) else json_bytes(data)
            log(f"  {'wrote' if write_if_changed(self.dest / name, data) else 'same '}         {name}")
        tokenizer_json = (tok.to_str(pretty=True) + "\n").encode("utf-8")
        log(f"  {'wrote' if write_if_changed(self.dest / 'tokenizer.json', tokenizer_json) else 'same '}         tokenizer.json")

    def folder_files(self, vocab: list[str]) -> dict:
        c, g = self.config, self.g
        token = {key: vocab[int(g.require(f"tokenizer.ggml.{field}_token_id"))]
                 for key, field in [("cls_token", "bos"), ("sep_token", "seperator"), ("unk_token", "unknown"),
                                    ("pad_token", "padding")]}
        token["mask_token"] = "[MASK]" if "[MASK]" in vocab else token["unk_token"]
        pooling = {mode: False for mode in ("pooling_mode_cls_token", "pooling_mode_mean_tokens",
                                            "pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens")}
        pooling[self.family.pooling_mode(g)] = True
        return {
            "config.json": c,
            "vocab.txt": ("\n".join(vocab) + "\n").encode("utf-8"),
            "tokenizer_config.json": {**token, "do_lower_case": True, "tokenize_chinese_chars": True,
                                      "strip_accents": None, "model_max_length": c["n_positions"],
                                      "tokenizer_class": "BertTokenizer", "clean_up_tokenization_spaces": True},
            "special_tokens_map.json": token,
            "modules.json": [
                {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
                {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
            ],
            "1_Pooling/config.json": {"word_embedding_dimension": c["n_embd"], **pooling},
            "sentence_bert_config.json": {"max_seq_length": c["n_positions"], "do_lower_case": False},
            # matryoshka_*: nodespace's keys (sentence-transformers has none): the sizes
            # output_dimension accepts, and whether a layer norm precedes truncation.
            "config_sentence_transformers.json": {"prompts": dict(self.family.PROMPTS), "default_prompt_name": None,
                                                  "similarity_fn_name": "cosine",
                                                  "matryoshka_dimensions": list(self.family.MATRYOSHKA_DIMENSIONS),
                                                  "matryoshka_layer_norm": self.family.MATRYOSHKA_LAYER_NORM},
        }

    def graph(self, variant: str, force: bool) -> None:
        from .encoder import build_nomic_bert_graph
        from .pipeline import converter_hash, save_graph

        if variant != "model":
            raise ValueError(f"{variant}: an encoder has only the fp32 graph")
        path = self.dest / "onnx" / "model.onnx"
        stamp_path = self.dest / ".nodespace-source.json"
        stamps = read_json(stamp_path) or {}
        kind = "encoder.py, fp32 weights (exact from the GGUF's f16/f32 tensors)"
        stamp = {"gguf_sha256": self.gguf_sha256, "converter_sha256": converter_hash(), "graph": kind}
        if path.is_file() and stamps.get(path.name) == stamp and not force:
            log(f"  up to date    onnx/{path.name} ({path.stat().st_size / 1e6:.1f} MB)")
            return
        t0 = time.time()
        log("  reading       GGUF -> fp32 (gguf.quants)")
        weights = read_weights(self.g, self.family, self.config)
        log(f"  building      onnx/{path.name}")
        what = self.source.upstream if self.source else self.g.path.name
        model = build_nomic_bert_graph(self.config, weights, self.graph_prefix,
                                       f"{what}, {kind}; converted from {self.g.path.name} by models/convert")
        model.metadata_props.add(key="quantization", value=f"fp32, from GGUF {', '.join(self.g.type_counts())} tensors")
        nodes = len(model.graph.node)
        save_graph(model, path, check=True)
        del model, weights
        stamps[path.name] = stamp
        stamps["source"] = self.source.description if self.source else str(self.g.path)
        write_if_changed(stamp_path, json_bytes(stamps))
        log(f"  wrote         onnx/{path.name} ({path.stat().st_size / 1e6:.1f} MB, {nodes} nodes, "
            f"sha256 {sha256(path)[:16]}…, {time.time() - t0:.0f} s)")

    def check(self, variant: str) -> None:
        check_related_note_first(self.dest, self.family.PROMPTS)


def check_related_note_first(folder: Path, prompts: dict) -> None:
    """Embed a query and two notes (with the folder's query / document prompts) with
    onnxruntime; the related note must rank first. Reads the inputs the graph has, and its
    pooled ``sentence_embedding`` where it has one (else the mean of the tokens)."""
    import numpy as np
    import onnxruntime as ort
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    session = ort.InferenceSession(str(folder / "onnx" / "model.onnx"), so, providers=["CPUExecutionProvider"])
    inputs = {i.name for i in session.get_inputs()}
    pooled = "sentence_embedding" in {o.name for o in session.get_outputs()}

    def embed(text: str) -> np.ndarray:
        ids = np.array([tok.encode(text).ids], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        if "token_type_ids" in inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        if pooled:
            v = session.run(["sentence_embedding"], feed)[0][0]
        else:
            v = session.run(None, feed)[0][0].mean(0)
        return v / np.linalg.norm(v)

    query = embed(prompts["query"] + "when is the budget review?")
    scores = [float(embed(prompts["document"] + d) @ query)
              for d in ("Budget review moved to Friday 10:00.", "Buy milk, eggs and coffee.")]
    log(f"  check model.onnx: query vs related / unrelated note {scores[0]:.3f} / {scores[1]:.3f}")
    if not scores[0] > scores[1]:
        raise AssertionError("the related note does not rank first")
