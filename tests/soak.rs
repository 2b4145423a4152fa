//! Leak soak: 10,000 embed calls and 500 generations in one process (this file holds one
//! test, so the process is its own). RSS after warm-up must not grow by more than a few
//! MB. The curve is written to target/soak-rss.csv (scripts/plot_soak.py draws it for
//! RELIABILITY.md). Longer: NS_SOAK_SCALE=10.

mod common;

use common::*;
use nodespace::{
    Embedder, EmbedderOptions, Flow, GenerateRequest, Generator, GeneratorOptions, Prompt,
    SamplingOptions,
};

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

#[test]
fn rss_stays_flat_over_10000_embeds_and_500_generations() {
    init();
    if !std::path::Path::new("/proc/self/status").exists() {
        eprintln!("*** SKIPPED: RSS is read from /proc, which this platform lacks ***");
        return;
    }
    let scale: usize = std::env::var("NS_SOAK_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let embedder = Embedder::new(EmbedderOptions::new(tiny("embed-bert"))).unwrap();
    let generator = Generator::new(GeneratorOptions::new(tiny("gen-llama"))).unwrap();
    let texts = [
        "budget review on Friday",
        "a longer note about the launch plan, its risks and its owners",
        "",
        "東京 🍕",
    ];
    let mut samples: Vec<(usize, f64)> = Vec::new();
    let (embeds, generations) = (10_000 * scale, 500 * scale);
    let every = embeds / 40;
    for i in 0..embeds {
        embedder.embed(&texts).unwrap();
        if i % (embeds / generations) == 0 {
            let mut r = GenerateRequest::new(Prompt::Text(format!("note {i}")));
            r.max_new_tokens = Some(16);
            r.sampling = Some(SamplingOptions::greedy());
            generator
                .generate(&r, None, &mut |_| Flow::Continue)
                .unwrap();
        }
        if i % every == 0 || i + 1 == embeds {
            samples.push((i + 1, rss_mb()));
        }
    }
    let csv: String = std::iter::once("calls,rss_mb\n".to_string())
        .chain(samples.iter().map(|(i, r)| format!("{i},{r:.2}\n")))
        .collect();
    let out = repo().join("target/soak-rss.csv");
    let _ = std::fs::write(&out, csv);
    // Warm-up: arenas and caches reach their size in the first fifth.
    let warm = samples[samples.len() / 5].1;
    let last = samples.last().unwrap().1;
    let peak_after_warmup = samples[samples.len() / 5..]
        .iter()
        .map(|s| s.1)
        .fold(0.0, f64::max);
    eprintln!(
        "soak: {embeds} embeds + {generations} generations; RSS after warm-up {warm:.1} MB, at the end {last:.1} MB, peak {peak_after_warmup:.1} MB (curve: {})",
        out.display()
    );
    assert!(
        last - warm < 5.0,
        "RSS grew by {:.1} MB after warm-up",
        last - warm
    );
}
