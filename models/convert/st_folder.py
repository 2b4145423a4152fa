"""The converter's stages for a sentence-transformers folder of safetensors (EmbeddingGemma:
a bidirectional Gemma 3, mean pooling, two Dense layers).

  the folder's own files, copied as they are: config.json, tokenizer.json,
  tokenizer_config.json, special_tokens_map.json, modules.json, 1_Pooling/config.json,
  2_Dense/config.json, 3_Dense/config.json, sentence_bert_config.json;
  config_sentence_transformers.json with nodespace's Matryoshka keys added (the sizes
  the model card lists; truncate, then normalize: no layer norm);
  onnx/model.onnx: decoder.py's gemma3 layers as an encoder (bidirectional, no KV cache),
  then the sentence-transformers modules after the Transformer, in the graph: mean pooling
  over attention_mask (prompt and special tokens included, as ``include_prompt`` says) and
  each Dense's matrix. Output ``sentence_embedding`` f32 [batch_size, 768], before the
  Normalize module (the runtime normalizes, after a Matryoshka cut).

Same interface as ``pipeline.Converter`` (tokenizer, graph, check), so the command line
treats both alike.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from script_helpers import log, sha256

from .decoder import GraphOptions, LlamaConfig, build_llama_graph
from .hf_folder import json_bytes, read_json, write_if_changed

COPIED = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "modules.json",
          "1_Pooling/config.json", "sentence_bert_config.json")
# Matryoshka sizes per model (sentence-transformers' folders do not list them; the cards do).
MATRYOSHKA = {"google/embeddinggemma-300m": (768, 512, 256, 128)}


class SentenceTransformersConverter:
    def __init__(self, folder: Path, dest: Path, source, graph_prefix: str) -> None:
        self.folder, self.dest, self.source, self.graph_prefix = folder, dest, source, graph_prefix
        self.config = read_json(folder / "config.json")
        self.modules = read_json(folder / "modules.json") or []
        c = self.config
        if c.get("model_type") != "gemma3_text" or not c.get("use_bidirectional_attention"):
            raise ValueError(f"{folder}: only a bidirectional gemma3_text sentence-transformers folder is known "
                             f"(model_type {c.get('model_type')!r})")
        kinds = [m["type"].rsplit(".", 1)[-1] for m in self.modules]
        if kinds[:2] != ["Transformer", "Pooling"] or any(k not in ("Dense", "Normalize") for k in kinds[2:]):
            raise ValueError(f"{folder}/modules.json: modules {kinds}; expected Transformer, Pooling, Dense..., Normalize")
        pooling = read_json(folder / "1_Pooling" / "config.json")
        if not pooling.get("pooling_mode_mean_tokens") or not pooling.get("include_prompt", True):
            raise ValueError(f"{folder}/1_Pooling/config.json: only mean pooling over every token is supported")
        self.dense = [m["path"] for m in self.modules if m["type"].endswith("Dense")]
        self.family = self  # the command line asks conv.family.encoder
        self.encoder = True
        log(f"  architecture  {c['model_type']} bidirectional encoder: {c['num_hidden_layers']} layers, width "
            f"{c['hidden_size']}, {c['num_attention_heads']}/{c['num_key_value_heads']} heads, vocab {c['vocab_size']}, "
            f"context {c['max_position_embeddings']}; modules {' -> '.join(kinds)}")

    def tokenizer(self) -> None:
        files = {name: (self.folder / name).read_bytes() for name in COPIED}
        for path in self.dense:
            files[f"{path}/config.json"] = (self.folder / path / "config.json").read_bytes()
        st = read_json(self.folder / "config_sentence_transformers.json")
        # matryoshka_*: nodespace's keys (sentence-transformers has none): the sizes
        # output_dimension accepts, and whether a layer norm precedes truncation.
        dims = MATRYOSHKA.get(self.source.upstream if self.source else "", ())
        st.update(matryoshka_dimensions=list(dims), matryoshka_layer_norm=False)
        files["config_sentence_transformers.json"] = json_bytes(st)
        for name, data in files.items():
            log(f"  {'wrote' if write_if_changed(self.dest / name, data) else 'same '}         {name}")
        log(f"  prompts       {len(st.get('prompts', {}))} named, e.g. query {st['prompts'].get('query')!r}; "
            f"Matryoshka {list(dims) or 'not listed'}")

    def weights(self) -> dict[str, np.ndarray]:
        from safetensors.numpy import load_file

        # Gemma3TextModel's names lack the "model." prefix of the causal LM decoder.py reads.
        weights = {f"model.{k}": v for k, v in load_file(self.folder / "model.safetensors").items()}
        for path in self.dense:
            config = read_json(self.folder / path / "config.json")
            if config.get("bias") or not config.get("activation_function", "").endswith("Identity"):
                raise ValueError(f"{path}: only Dense layers without bias and activation are supported ({config})")
            weights[f"{path}.linear.weight"] = load_file(self.folder / path / "model.safetensors")["linear.weight"]
        return weights

    def graph(self, variant: str, force: bool) -> None:
        from .pipeline import converter_hash, save_graph

        if variant != "model":
            raise ValueError(f"{variant}: an encoder has only the fp32 graph")
        path = self.dest / "onnx" / "model.onnx"
        stamp_path = self.dest / ".nodespace-source.json"
        stamps = read_json(stamp_path) or {}
        kind = "decoder.py (gemma3, bidirectional) + mean pooling + Dense, fp32 weights as the safetensors hold them"
        weights_sha = self.source.sha256 if self.source else sha256(self.folder / "model.safetensors")
        stamp = {"source_sha256": weights_sha, "converter_sha256": converter_hash(), "graph": kind}
        if path.is_file() and stamps.get(path.name) == stamp and not force:
            log(f"  up to date    onnx/{path.name} ({path.stat().st_size / 1e6:.1f} MB)")
            return
        t0 = time.time()
        log("  reading       model.safetensors" + "".join(f", {p}/model.safetensors" for p in self.dense))
        weights = self.weights()
        log(f"  building      onnx/{path.name}")
        what = self.source.upstream if self.source else str(self.folder)
        model = build_llama_graph(LlamaConfig.from_hf(self.config), weights,
                                  GraphOptions(position_ids_input=False), self.graph_prefix,
                                  f"{what}, {kind}; converted by models/convert")
        add_sentence_head(model, [weights[f"{p}.linear.weight"] for p in self.dense])
        model.metadata_props.add(key="quantization", value="fp32, from safetensors F32")
        nodes = len(model.graph.node)
        save_graph(model, path, check=True)
        del model, weights
        stamps[path.name] = stamp
        stamps["source"] = self.source.description if self.source else str(self.folder)
        write_if_changed(stamp_path, json_bytes(stamps))
        log(f"  wrote         onnx/{path.name} ({path.stat().st_size / 1e6:.1f} MB, {nodes} nodes, "
            f"sha256 {sha256(path)[:16]}…, {time.time() - t0:.0f} s)")

    def check(self, variant: str) -> None:
        from .encoder_folder import check_related_note_first

        check_related_note_first(self.dest, read_json(self.dest / "config_sentence_transformers.json")["prompts"])


def add_sentence_head(model, dense: list[np.ndarray]) -> None:
    """Turn the encoder's ``last_hidden_state`` output into ``sentence_embedding``: the mean
    over the tokens attention_mask marks (sentence-transformers' Pooling; its clamp of the
    count to 1e-9 kept), then each Dense matrix ([out, in], no bias, identity activation)."""
    graph = model.graph
    (hidden,) = [o for o in graph.output if o.name == "last_hidden_state"]
    graph.output.remove(hidden)

    def const(name: str, array: np.ndarray) -> str:
        graph.initializer.append(numpy_helper.from_array(array, name))
        return name

    def node(op: str, inputs: list[str], output: str, **attrs) -> str:
        graph.node.append(helper.make_node(op, inputs, [output], name=f"node/{output}", **attrs))
        return output

    mask = node("Unsqueeze", [node("Cast", ["attention_mask"], "pool.mask_f32", to=TensorProto.FLOAT),
                              const("pool.axis_2", np.array([2], np.int64))], "pool.mask")  # [B, S, 1]
    axis = const("pool.axis_1", np.array([1], np.int64))
    summed = node("ReduceSum", [node("Mul", ["last_hidden_state", mask], "pool.masked"), axis], "pool.sum", keepdims=0)
    count = node("Max", [node("ReduceSum", [mask, axis], "pool.count_raw", keepdims=0),
                         const("pool.min_count", np.array(1e-9, np.float32))], "pool.count")
    x = node("Div", [summed, count], "pool.mean")  # [B, hidden]
    for i, matrix in enumerate(dense):
        x = node("MatMul", [x, const(f"dense{i}.weight_t", np.ascontiguousarray(matrix.T, np.float32))], f"dense{i}")
    node("Identity", [x], "sentence_embedding")
    width = int(dense[-1].shape[0]) if dense else hidden.type.tensor_type.shape.dim[2].dim_value
    graph.output.append(helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch_size", width]))
