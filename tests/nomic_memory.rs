//! Long inputs with bounded memory: nomic-embed-text-v1.5 (fp32, 547 MB of weights) embeds
//! 200 mixed texts, every 50th a full 2,048-token context, in one call with the default
//! batching, under 1,500 MB peak RSS. This file holds one test so that it runs alone in its
//! process and the process's peak RSS (VmHWM) is its own. Skips loudly when the model is
//! not installed.
//!
//! Why the bound holds on any CPU: a 2,048-token text is alone in its batch (the 512-token
//! batch budget), so the largest activations are one row's attention scores (12 heads x
//! 2,048^2 floats = 201 MB) and a few [2,048 x 3,072] MLP buffers beside the weights;
//! measured 1,085 MB for 1,000 such texts (BENCHMARKS.md), the same after the first long
//! text, since ONNX Runtime's arena reuses its blocks.

mod common;

use common::*;
use nodespace::{Embedder, EmbedderOptions};

#[test]
fn peak_rss_bounded_with_2048_token_texts() {
    init();
    let Some(dir) = real("nomic-embed-text-v1.5") else {
        return;
    };
    let Some(before) = peak_rss_mb() else {
        eprintln!("*** SKIPPED: no /proc/self/status on this platform ***");
        return;
    };
    let words = [
        "meeting", "budget", "launch", "notes", "review", "vendors", "Friday",
    ];
    let texts: Vec<String> = (0..200)
        .map(|i| {
            let len = if i % 50 == 0 { 2500 } else { 5 + (i * 7) % 40 };
            (0..len)
                .map(|j| words[(j * 3 + i) % words.len()])
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let embedder = Embedder::new(EmbedderOptions::new(dir)).unwrap();
    let vectors = embedder.embed(&texts).unwrap();
    assert_eq!(vectors.len(), 200);
    let peak = peak_rss_mb().unwrap();
    eprintln!("nomic-embed-text-v1.5: peak RSS {peak:.0} MB for 200 texts, 4 of 2,048 tokens (before loading: {before:.0} MB)");
    assert!(peak < 1500.0, "peak RSS {peak:.0} MB >= 1,500 MB");
}
