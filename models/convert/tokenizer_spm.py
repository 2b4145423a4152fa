"""Stage 5, tokenizer, for SentencePiece GGUFs (``tokenizer.ggml.model == "llama"``: Gemma).

llama.cpp tokenizes these with its SPM tokenizer: spaces become ``▁`` (no prefix space
when ``add_space_prefix`` is false), the text is split into characters, and the adjacent
pair whose concatenation is the vocabulary piece with the highest score is merged first
(leftmost on a tie), until no pair is a piece; a character that is no piece becomes its
UTF-8 bytes (``<0xNN>``). Control and user-defined tokens (Gemma's ``<start_of_turn>``,
newline and space runs, HTML tags) are cut out of the raw text first.

The ``tokenizers`` library does the same with a BPE model whose merges are every
(left, right) split of every piece, ranked by the piece's score, with byte fallback, a
``Replace(" ", "▁")`` normalizer and no pre-tokenizer. transformers' own GGUF conversion
is not used: for gemma3 it builds the wrong model kind ("Hello world" becomes
``Hello ▁w or ld``). ``reference_spm_encode`` is an independent plain-Python copy of
llama.cpp's algorithm, for checking.
"""

from __future__ import annotations

import heapq

from .added_tokens import BYTE, CONTROL, USER_DEFINED, add_gguf_tokens
from .gguf_file import GGUFFile
SPACE = "\u2581"


def spm_merges(tokens: list[str], scores: list[float], types: list[int]) -> list[tuple[str, str]]:
    """Every split of every mergeable piece into two pieces, best-scored piece first."""
    vocab = {t: i for i, t in enumerate(tokens)}
    ranked = []
    for i, piece in enumerate(tokens):
        if types[i] == BYTE or len(piece) < 2:
            continue
        for k in range(1, len(piece)):
            left, right = piece[:k], piece[k:]
            if left in vocab and right in vocab:
                ranked.append((-scores[i], i, k, left, right))
    ranked.sort()
    return [(left, right) for *_, left, right in ranked]


def build_spm_tokenizer(g: GGUFFile):
    """The ``tokenizers.Tokenizer`` for a SentencePiece GGUF, and (tokens, types, scores)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, processors

    if g.field("tokenizer.ggml.add_space_prefix", True):
        raise ValueError("SentencePiece with add_space_prefix is not supported (Gemma has none)")
    tokens = list(g.field("tokenizer.ggml.tokens"))
    scores = [float(s) for s in g.field("tokenizer.ggml.scores")]
    types = list(g.field("tokenizer.ggml.token_type"))
    vocab = {t: i for i, t in enumerate(tokens)}
    if len(vocab) != len(tokens):
        raise ValueError("duplicate tokens in the GGUF vocabulary")
    unk = g.field("tokenizer.ggml.unknown_token_id")
    tok = Tokenizer(models.BPE(vocab=vocab, merges=spm_merges(tokens, scores, types), dropout=None,
                               unk_token=tokens[unk], fuse_unk=True, byte_fallback=True))
    tok.normalizer = normalizers.Replace(" ", SPACE)
    tok.decoder = decoders.Sequence([decoders.Replace(SPACE, " "), decoders.ByteFallback(), decoders.Fuse()])
    if g.field("tokenizer.ggml.add_bos_token", False):
        bos = tokens[g.field("tokenizer.ggml.bos_token_id")]
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, vocab[bos])])

    add_gguf_tokens(tok, tokens, types)
    return tok, (tokens, types, scores)


def reference_spm_encode(text: str, tokens: list[str], types: list[int], scores: list[float]) -> list[int]:
    """llama.cpp's SPM tokenization in plain Python (no BOS), for checking."""
    vocab = {t: i for i, t in enumerate(tokens)}
    added = sorted((tokens[i] for i, t in enumerate(types) if t in (CONTROL, USER_DEFINED)), key=len, reverse=True)
    ids: list[int] = []
    pos = 0
    fragment = []
    while pos <= len(text):
        match = next((a for a in added if text.startswith(a, pos)), None) if pos < len(text) else None
        if match is None and pos < len(text):
            fragment.append(text[pos])
            pos += 1
            continue
        ids += _spm("".join(fragment).replace(" ", SPACE), vocab, scores)
        fragment = []
        if match is None:
            break
        ids.append(vocab[match])
        pos += len(match)
    return ids


def _spm(text: str, vocab: dict[str, int], scores: list[float]) -> list[int]:
    symbols = list(text)
    alive = [True] * len(symbols)
    nxt = list(range(1, len(symbols) + 1))
    prv = list(range(-1, len(symbols) - 1))
    queue: list[tuple[float, int, str, str]] = []

    def push(left: int, right: int) -> None:
        if left < 0 or right >= len(symbols):
            return
        merged = symbols[left] + symbols[right]
        if merged in vocab:
            heapq.heappush(queue, (-scores[vocab[merged]], left, symbols[left], symbols[right]))

    for i in range(len(symbols) - 1):
        push(i, i + 1)
    while queue:
        _, left, a, b = heapq.heappop(queue)
        right = nxt[left] if left < len(symbols) else len(symbols)
        if not alive[left] or right >= len(symbols) or symbols[left] != a or symbols[right] != b:
            continue  # stale: one side was merged since
        symbols[left] = a + b
        alive[right] = False
        nxt[left] = nxt[right]
        if nxt[left] < len(symbols):
            prv[nxt[left]] = left
        push(prv[left], left)
        push(left, nxt[left])
    ids: list[int] = []
    for i, s in enumerate(symbols):
        if not alive[i]:
            continue
        if s in vocab:
            ids.append(vocab[s])
        else:
            ids += [vocab[f"<0x{b:02X}>"] for b in s.encode("utf-8")]
    return ids
