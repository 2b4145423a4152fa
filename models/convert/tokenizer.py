"""Stage 5, tokenizer: ``tokenizer.json`` built from the GGUF's own vocabulary.

transformers' GGUF-to-tokenizer conversion is not used: for SmolLM2 it prepends a BOS and
turns on byte fallback, for qwen2 it drops most special tokens. Instead the byte-level BPE
is rebuilt with the ``tokenizers`` library from ``tokenizer.ggml.tokens`` / ``merges`` /
``token_type``, with the pre-tokenizer llama.cpp uses for the GGUF's
``tokenizer.ggml.pre`` (``PRE_TOKENIZERS``), so our ids are llama.cpp's ids:

* control tokens (type 3: ``<|im_end|>``, ``<|fim_prefix|>`` ...) are special added
  tokens: matched inside text, hidden when a caller skips special tokens;
* user-defined tokens (type 4: Qwen's ``<tool_call>``) are added tokens that are not
  special: matched inside text, and kept in decoded text (a tool-call parser reads them);
* unused tokens (type 5: Qwen's ``[PAD151665]`` ..) stay plain vocabulary entries that no
  merge produces.

No normalizer: llama.cpp applies none. (Qwen's upstream tokenizer.json has NFC, so on
text that is not NFC already, e.g. a decomposed accent, upstream transformers and
llama.cpp differ; we follow llama.cpp, which runs the same GGUF.)
"""

from __future__ import annotations

from script_helpers import bytes_to_unicode

from .added_tokens import CONTROL, USER_DEFINED, add_gguf_tokens
from .gguf_file import GGUFFile
from .tokenizer_spm import build_spm_tokenizer, reference_spm_encode


# GGUF tokenizer.ggml.pre -> (the regex llama.cpp splits with, digits split one by one first).
# The regexes are llama.cpp's (llama-vocab.cpp) for these pre-tokenizer names.
GPT2_REGEX = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
QWEN2_REGEX = (r"""(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"""
               r"""| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""")
PRE_TOKENIZERS = {
    "smollm": (GPT2_REGEX, True),
    "qwen2": (QWEN2_REGEX, False),
}

# Strings every tokenizer must round-trip (decode(encode(x)) == x) and, with the ``regex``
# package, tokenize like the independent BPE below; digits must come one per token.
TRICKY = [
    "Hello world",
    "12345",
    "3.14159 and 1,000,000 and 2024-06-01",
    "  leading and trailing spaces  ",
    "multiple   spaces\tand\ttabs",
    "line one\nline two\n\nline four\r\n",
    "naïve café résumé Ångström",
    "e\u0301 (decomposed accent)",
    "emoji 🍕 👍🏽 👨‍👩‍👧 ✨",
    "東京は日本の首都です。中文测试。한국어",
    "Привет, мир! مرحبا",
    "don't you'll I've we're it's DON'T",
    "fn main() { println!(\"hi\"); }  // code",
    "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n",
    "<|endoftext|>text after eos<|im_end|>",
    "",
    " ",
    "\n",
]


def build_tokenizer(g: GGUFFile):
    """The ``tokenizers.Tokenizer`` for the GGUF, and (tokens, types, merges); SentencePiece
    GGUFs (``llama``: Gemma) are built by ``tokenizer_spm``, with (tokens, types, scores)."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors

    kind = g.field("tokenizer.ggml.model")
    if kind == "llama":
        return build_spm_tokenizer(g)
    if kind != "gpt2":
        raise ValueError(f"tokenizer {kind!r}: only GPT-2 style byte-level BPE and SentencePiece (llama) are supported")
    pre = g.field("tokenizer.ggml.pre", "default")
    if pre not in PRE_TOKENIZERS:
        raise ValueError(f"pre-tokenizer {pre!r} is not supported (known: {', '.join(PRE_TOKENIZERS)})")
    tokens = list(g.field("tokenizer.ggml.tokens"))
    types = list(g.field("tokenizer.ggml.token_type"))
    merges = [tuple(m.split(" ", 1)) for m in g.field("tokenizer.ggml.merges")]
    vocab = {tok: i for i, tok in enumerate(tokens)}
    if len(vocab) != len(tokens):
        raise ValueError("duplicate tokens in the GGUF vocabulary")
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, dropout=None, unk_token=None, fuse_unk=False, byte_fallback=False))
    regex, digits = PRE_TOKENIZERS[pre]
    if regex == GPT2_REGEX:
        # ByteLevel's own regex is GPT-2's; SmolLM2's upstream tokenizer.json says it this way.
        steps = [pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)]
    else:
        steps = [pre_tokenizers.Split(Regex(regex), behavior="isolated", invert=False),
                 pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)]
    if digits:
        steps.insert(0, pre_tokenizers.Digits(individual_digits=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence(steps)
    tok.post_processor = processors.ByteLevel(add_prefix_space=True, trim_offsets=False, use_regex=True)
    tok.decoder = decoders.ByteLevel(add_prefix_space=True, trim_offsets=True, use_regex=True)
    add_gguf_tokens(tok, tokens, types)
    return tok, (tokens, types, merges)


def reference_bpe_encode(text: str, pre: str, tokens: list[str], types: list[int], merges: list[tuple[str, str]]) -> list[int]:
    """An independent byte-level BPE in plain Python (the ``regex`` package), for checking."""
    import regex

    vocab = {t: i for i, t in enumerate(tokens)}
    ranks = {m: r for r, m in enumerate(merges)}
    added = sorted((tokens[i] for i, t in enumerate(types) if t in (CONTROL, USER_DEFINED)), key=len, reverse=True)
    byte_map = bytes_to_unicode()
    pattern, digits = PRE_TOKENIZERS[pre]
    words = regex.compile(pattern)
    digit = regex.compile(r"\p{N}")

    def bpe(word: str) -> list[str]:
        parts = list(word)
        while len(parts) > 1:
            rank, k = min((ranks.get((a, b), 1 << 60), k) for k, (a, b) in enumerate(zip(parts, parts[1:])))
            if rank == 1 << 60:
                break
            parts[k:k + 2] = [parts[k] + parts[k + 1]]
        return parts

    ids: list[int] = []
    for chunk in regex.compile("(" + "|".join(regex.escape(s) for s in added) + ")").split(text):
        if not chunk:
            continue
        if chunk in added:
            ids.append(vocab[chunk])
            continue
        pieces = [chunk]
        if digits:
            pieces, last = [], 0
            for m in digit.finditer(chunk):
                pieces += [chunk[last:m.start()], m.group()]
                last = m.end()
            pieces.append(chunk[last:])
        for piece in filter(None, pieces):
            for word in words.findall(piece):
                ids += [vocab[p] for p in bpe("".join(byte_map[b] for b in word.encode("utf-8")))]
    return ids


def check_tokenizer(tok, g: GGUFFile, vocabulary, known_ids: dict[str, list[int]]) -> bool:
    """Known ids, round trips, digits one per token, and (with ``regex``) the independent BPE.
    Raises on any difference; returns whether the reference BPE ran."""
    tokens, types, merges = vocabulary
    spm = g.field("tokenizer.ggml.model") == "llama"  # then `merges` holds the pieces' scores
    try:
        import regex  # noqa: F401  (the reference BPE needs \p{L}; `re` has no Unicode classes)
        have_reference = True
    except ImportError:
        have_reference = spm  # the SentencePiece reference needs nothing
    pre = g.field("tokenizer.ggml.pre")
    for text, want in known_ids.items():
        got = tok.encode(text, add_special_tokens=True).ids
        if got != want:
            raise AssertionError(f"tokenizer: {text!r} -> {got}, expected {want}")
    for i, t in enumerate(types):
        if t in (CONTROL, USER_DEFINED) and tok.encode(f"a{tokens[i]}b", add_special_tokens=False).ids[1] != i:
            raise AssertionError(f"tokenizer: {tokens[i]!r} inside text is not token {i}")
    for text in TRICKY:
        # Without the BOS a SentencePiece tokenizer (Gemma) adds, as the reference and the
        # round trip see the text.
        got = tok.encode(text, add_special_tokens=not spm).ids
        if have_reference:
            ref = (reference_spm_encode(text, tokens, types, merges) if spm
                   else reference_bpe_encode(text, pre, tokens, types, merges))
            if got != ref:
                raise AssertionError(f"tokenizer: {text!r} -> {got}, reference {'SentencePiece' if spm else 'BPE'} {ref}")
        back = tok.decode(got, skip_special_tokens=False)
        if back != text:
            raise AssertionError(f"tokenizer: {text!r} decodes back as {back!r}")
        if not spm:  # byte-level BPE splits digits one per token; SentencePiece by its vocabulary
            for t in got:
                if sum(ch.isdigit() for ch in tok.id_to_token(t)) > 1:
                    raise AssertionError(f"digits not split in {text!r}: {tok.id_to_token(t)!r}")
    return have_reference
