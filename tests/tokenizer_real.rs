//! The real generation models' tokenizers (tokenizer.json written by models/convert from
//! the GGUF's vocabulary: byte-level BPE, or SentencePiece for Gemma) against llama.cpp's
//! tokenization of the same GGUF: 48 varied texts
//! (code, CJK, emoji, numbers, whitespace runs, HTML, special tokens inside text, ...) plus
//! the rendered reference chats, committed in tests/data/*_tokens.json by
//! models/make_tokenizer_reference.py. The ids must be identical, through the runtime's own
//! tokenizer path. Skips loudly when a real model is not installed.

mod common;

use common::*;
use nodespace::{Generator, GeneratorOptions, Prompt};

/// `bos`: the id the tokenizer puts before raw text (Gemma's), which llama.cpp's ids (no
/// BOS asked) leave out.
fn check(model: &str, reference: &str, bos: Option<u32>) {
    init();
    let Some(dir) = real(model) else {
        return;
    };
    let reference = read_json(&repo().join(reference));
    let cases = reference["cases"].as_array().unwrap();
    assert!(cases.len() >= 40, "{} texts", cases.len());
    let generator = Generator::new(GeneratorOptions::new(dir)).unwrap();
    let mut differ = Vec::new();
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let want: Vec<u32> = bos
            .into_iter()
            .chain(
                case["ids"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_u64().unwrap() as u32),
            )
            .collect();
        let got = generator
            .prompt_tokens(&Prompt::Text(text.to_string()))
            .unwrap();
        if got != want {
            differ.push(format!(
                "{text:?}\n  ours      {got:?}\n  llama.cpp {want:?}"
            ));
        }
    }
    assert!(
        differ.is_empty(),
        "{model}: {} of {} texts tokenize differently from llama.cpp:\n{}",
        differ.len(),
        cases.len(),
        differ.join("\n")
    );
}

#[test]
fn qwen2_5_tokenizer_matches_llama_cpp() {
    check(
        "Qwen2.5-Coder-0.5B-Instruct",
        "tests/data/qwen2_5_coder_tokens.json",
        None,
    );
}

#[test]
fn smollm2_tokenizer_matches_llama_cpp() {
    check(
        "SmolLM2-135M-Instruct",
        "tests/data/smollm2_tokens.json",
        None,
    );
}

/// Gemma 3: SentencePiece with byte fallback, 262,144 pieces, newline and space runs and
/// HTML tags as user-defined tokens; BOS (2) added to raw text.
#[test]
fn gemma3_tokenizer_matches_llama_cpp() {
    check("gemma-3-270m", "tests/data/gemma3_tokens.json", Some(2));
}
