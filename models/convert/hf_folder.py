"""Stage 6, folder: the small files of a Hugging Face model folder, written only when their
bytes change (so a re-run touches nothing), and the provenance stamps that decide when a
graph is rebuilt."""

from __future__ import annotations

import json
from pathlib import Path

from .families.base import DecoderFamily
from .gguf_file import GGUFFile
from .tokenizer import CONTROL, USER_DEFINED


def write_if_changed(path: Path, data: bytes) -> bool:
    if path.is_file() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    tmp.replace(path)
    return True


def json_bytes(obj) -> bytes:
    return (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def read_json(path: Path):
    return json.loads(path.read_text()) if path.is_file() else None


def folder_files(g: GGUFFile, family: DecoderFamily, config: dict, tokens: list[str], types: list[int]) -> dict[str, bytes]:
    """config.json, generation_config.json, tokenizer_config.json (with the GGUF's chat
    template, verbatim) and special_tokens_map.json."""
    bos = tokens[config["bos_token_id"]]
    eos = tokens[config["eos_token_id"]]
    pad = tokens[config["pad_token_id"]]
    unk = tokens[int(g.field("tokenizer.ggml.unknown_token_id", 0))]
    chatml = [t for t in ("<|im_start|>", "<|im_end|>") if t in tokens]
    added = {
        str(i): {"content": tokens[i], "lstrip": False, "normalized": False, "rstrip": False, "single_word": False,
                 "special": t == CONTROL}
        for i, t in enumerate(types)
        if t in (CONTROL, USER_DEFINED)
    }
    tokenizer_config = {
        "add_bos_token": bool(g.field("tokenizer.ggml.add_bos_token", False)),
        "add_eos_token": False,
        "add_prefix_space": False,
        "added_tokens_decoder": added,
        "additional_special_tokens": chatml,
        "bos_token": bos,
        "chat_template": g.field("tokenizer.chat_template"),
        "clean_up_tokenization_spaces": False,
        "eos_token": eos,
        "model_max_length": config["max_position_embeddings"],
        "pad_token": pad,
        "tokenizer_class": family.tokenizer_class,
        "unk_token": unk,
        "vocab_size": len(tokens),
    }
    special_tokens_map = {"additional_special_tokens": chatml, "bos_token": bos, "eos_token": eos, "pad_token": pad, "unk_token": unk}
    eos_ids = family.eos_token_ids(config, g)
    generation_config = {
        "bos_token_id": config["bos_token_id"],
        "eos_token_id": eos_ids[0] if len(eos_ids) == 1 else eos_ids,
        "pad_token_id": config["pad_token_id"],
    }
    return {
        "config.json": json_bytes(config),
        "generation_config.json": json_bytes(generation_config),
        "tokenizer_config.json": json_bytes(tokenizer_config),
        "special_tokens_map.json": json_bytes(special_tokens_map),
    }
