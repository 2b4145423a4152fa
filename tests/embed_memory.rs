//! Peak memory while embedding 1000 sentences with all-MiniLM-L6-v2 fp32 and the default
//! session pool stays under 200 MB. This file holds one test so that it runs alone in its
//! process and the process's peak RSS (VmHWM) is its own.

mod common;

use common::*;
use nodespace::{Embedder, EmbedderOptions};

/// 1000 sentences of mixed length (5 to ~300 words), deterministic.
pub fn sentences() -> Vec<String> {
    let words = [
        "meeting",
        "budget",
        "launch",
        "notes",
        "the",
        "team",
        "agreed",
        "to",
        "review",
        "quarterly",
        "plan",
        "with",
        "vendors",
        "before",
        "Friday",
        "and",
        "ship",
        "fixes",
    ];
    let mut state = 12345u64;
    (0..1000)
        .map(|i| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let len = if i % 50 == 0 {
                300
            } else {
                5 + (state >> 33) as usize % 40
            };
            (0..len)
                .map(|j| words[(j * 7 + i) % words.len()])
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

#[test]
fn peak_rss_under_200_mb_for_1000_sentences() {
    init();
    let Some(dir) = real("all-MiniLM-L6-v2") else {
        return;
    };
    let Some(before) = peak_rss_mb() else {
        eprintln!("*** SKIPPED: no /proc/self/status on this platform ***");
        return;
    };
    let embedder = Embedder::new(EmbedderOptions::new(dir)).unwrap();
    let texts = sentences();
    let vectors = embedder.embed(&texts).unwrap();
    assert_eq!(vectors.len(), 1000);
    let peak = peak_rss_mb().unwrap();
    eprintln!("peak RSS: {peak:.1} MB (before loading: {before:.1} MB)");
    assert!(peak < 200.0, "peak RSS {peak:.1} MB >= 200 MB");
}
