//! all-MiniLM-L6-v2 against sentence-transformers reference vectors
//! (tests/data/minilm_reference.json, made by models/make_reference_embeddings.py).
//! Skips loudly when the real model is not installed (scripts/setup.sh installs it).

mod common;

use common::*;
use nodespace::{Embedder, EmbedderOptions};

fn check(variant: Option<&str>, min_cosine: f64) {
    init();
    let Some(dir) = real("all-MiniLM-L6-v2") else {
        return;
    };
    let reference = read_json(&repo().join("tests/data/minilm_reference.json"));
    let texts = strings(&reference["texts"]);
    let want: Vec<Vec<f32>> = reference["embeddings"]
        .as_array()
        .unwrap()
        .iter()
        .map(floats)
        .collect();
    let mut options = EmbedderOptions::new(&dir);
    options.variant = variant.map(str::to_string);
    let embedder = Embedder::new(options).unwrap();
    assert_eq!(embedder.dimension(), 384);
    assert_eq!(
        embedder.info().max_length,
        256,
        "max_seq_length comes from sentence_bert_config.json, not tokenizer.json's 128"
    );
    let got = embedder.embed(&texts).unwrap();
    let mut worst = (1.0f64, 0usize);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        let c = cosine(g, w);
        if c < worst.0 {
            worst = (c, i);
        }
        let norm: f32 = g.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "text {i}: norm {norm}");
    }
    eprintln!(
        "all-MiniLM-L6-v2 {}: min cosine {:.7} (text {})",
        variant.unwrap_or("fp32"),
        worst.0,
        worst.1
    );
    assert!(
        worst.0 >= min_cosine,
        "text {} {:?}: cosine {} < {min_cosine}",
        worst.1,
        texts[worst.1],
        worst.0
    );
}

#[test]
fn fp32_matches_sentence_transformers() {
    check(None, 0.99999);
}

/// model_int8.onnx stores int8 weights that the graph dequantizes to fp32 (DequantizeLinear
/// style Cast/Mul, then fp32 MatMul: no integer kernel), so it computes the same on every
/// CPU up to fp32 rounding; the bound is the int8 weights' own error against fp32.
#[test]
fn int8_is_close_to_sentence_transformers() {
    check(Some("int8"), 0.99);
}

/// The fused graph (ONNX Runtime contrib ops, same fp32 weights) is held to the fp32 bar.
#[test]
fn fused_fp32_matches_sentence_transformers() {
    check(Some("fused"), 0.99999);
}
