"""llama.cpp's token types, and the GGUF's control and user-defined tokens as ``tokenizers``
added tokens: what both tokenizer writers (byte-level BPE, SentencePiece) share.

* control tokens (type 3: ``<|im_end|>``, ``<start_of_turn>`` ...) are special added
  tokens: matched inside text, hidden when a caller skips special tokens;
* user-defined tokens (type 4: Qwen's ``<tool_call>``, Gemma's newline runs) are added
  tokens that are not special: matched inside the raw text, kept in decoded text.
"""

from __future__ import annotations

CONTROL, USER_DEFINED, BYTE = 3, 4, 6  # llama.cpp token types


def add_gguf_tokens(tok, tokens: list[str], types: list[int]) -> None:
    """Add the control tokens as special and the user-defined ones as plain added tokens,
    keeping their GGUF ids (checked)."""
    from tokenizers import AddedToken

    def added(kind: int, special: bool) -> list:
        return [AddedToken(tokens[i], single_word=False, lstrip=False, rstrip=False, normalized=False, special=special)
                for i, t in enumerate(types) if t == kind]

    tok.add_special_tokens(added(CONTROL, True))
    tok.add_tokens(added(USER_DEFINED, False))
    for i, t in enumerate(types):
        if t in (CONTROL, USER_DEFINED) and tok.token_to_id(tokens[i]) != i:
            raise AssertionError(f"added token {tokens[i]!r} got id {tok.token_to_id(tokens[i])}, not {i}")
