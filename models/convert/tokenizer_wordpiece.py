"""Stage 3 for WordPiece vocabularies (GGUF ``tokenizer.ggml.model`` ``bert``: BERT,
nomic-bert): tokenizer.json as transformers' ``BertTokenizerFast`` writes it.

llama.cpp's converter stores a word-initial piece with a leading "▁" and a continuation
piece without its "##" (``[CLS]``-style tokens as they are); undone here, which gives back
the upstream vocab.txt (for nomic-embed-text-v1.5: bert-base-uncased's, all 30,522 entries
equal to all-MiniLM-L6-v2's vocab.txt). The vocabulary is uncased, so the normalizer
lowercases and strips accents as BERT's uncased tokenizer does.
"""

from __future__ import annotations

from .gguf_file import GGUFFile

CONTROL = 3  # llama.cpp's token type for [CLS], [SEP], [PAD], [UNK], [MASK]
WORD_START = "\u2581"


def wordpiece_vocab(g: GGUFFile) -> list[str]:
    """The vocabulary in WordPiece's spelling ("##" marks a continuation), in id order."""
    vocab = []
    for token, kind in zip(g.require("tokenizer.ggml.tokens"), g.require("tokenizer.ggml.token_type")):
        if kind == CONTROL or (token.startswith("[") and token.endswith("]")):
            vocab.append(token)
        elif token.startswith(WORD_START):
            vocab.append(token[len(WORD_START):])
        else:
            vocab.append("##" + token)
    if len(set(vocab)) != len(vocab):
        raise ValueError("duplicate tokens in the GGUF's WordPiece vocabulary")
    return vocab


def build_wordpiece_tokenizer(g: GGUFFile):
    """(tokenizers.Tokenizer, vocabulary): normalizer, pre-tokenizer, model, [CLS]/[SEP]
    template and decoder as ``BertTokenizerFast`` (uncased) has them."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = wordpiece_vocab(g)
    special = {name: vocab[int(g.require(f"tokenizer.ggml.{key}_token_id"))]
               for name, key in [("cls", "bos"), ("sep", "seperator"), ("unk", "unknown"), ("pad", "padding")]}
    cls, sep = special["cls"], special["sep"]
    tok = Tokenizer(models.WordPiece({t: i for i, t in enumerate(vocab)}, unk_token=special["unk"],
                                     continuing_subword_prefix="##", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None,
                                                lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single=f"{cls}:0 $A:0 {sep}:0", pair=f"{cls}:0 $A:0 {sep}:0 $B:1 {sep}:1",
        special_tokens=[(cls, vocab.index(cls)), (sep, vocab.index(sep))])
    tok.decoder = decoders.WordPiece(prefix="##")
    tok.add_special_tokens([t for t, kind in zip(vocab, g.require("tokenizer.ggml.token_type")) if kind == CONTROL])
    return tok, vocab


def check_wordpiece_tokenizer(tok, vocab: list[str], known_ids: dict[str, list[int]]) -> None:
    """Known ids (with [CLS]/[SEP]); every whole-word piece is one token inside a sentence;
    lowercasing and accent stripping as BERT uncased does."""
    for text, want in known_ids.items():
        got = tok.encode(text).ids
        if got != want:
            raise AssertionError(f"tokenizer: {text!r} -> {got}, expected {want}")
    words = [i for i, t in enumerate(vocab) if t.isalpha() and t.islower() and len(t) > 2][:2000]
    for i in words:
        got = tok.encode(f"the {vocab[i]} is", add_special_tokens=False).ids
        if got[1:-1] != [i]:
            raise AssertionError(f"tokenizer: {vocab[i]!r} inside text -> {got}, not token {i}")
    for text, same in [("Café NAÏVE", "cafe naive"), ("東京", "東 京")]:
        if tok.encode(text).ids != tok.encode(same).ids:
            raise AssertionError(f"tokenizer: {text!r} is not normalized as {same!r}")
