//! Embedding timings for scripts/bench_embed.py, which runs the same measurements on the
//! Python pipeline a user would otherwise write and prints the ratios.
//!
//! bench_embed --model DIR [--variant NAME] --threads N --file SENTENCES [--single-runs N] [--rounds N]
//! prints one JSON object: single-sentence latencies (ms), throughput (texts/s) and the
//! process's peak RSS (MB, Linux: VmHWM; the model's weights included).

use std::time::Instant;

use nodespace::{Embedder, EmbedderOptions};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let get = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let model = get("--model").expect("--model DIR");
    let file = get("--file").expect("--file SENTENCES");
    let threads: usize = get("--threads").map_or(2, |t| t.parse().unwrap());
    let single_runs: usize = get("--single-runs").map_or(200, |t| t.parse().unwrap());
    let rounds: usize = get("--rounds").map_or(3, |t| t.parse().unwrap());

    let texts: Vec<String> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let mut options = EmbedderOptions::new(&model);
    options.variant = get("--variant");
    options.intra_threads = Some(threads);
    options.max_sessions = 1;
    let embedder = Embedder::new(options).unwrap();

    let short = "The quarterly budget review moved to Friday.";
    for _ in 0..10 {
        embedder.embed(&[short]).unwrap();
    }
    let mut latencies: Vec<f64> = (0..single_runs)
        .map(|_| {
            let t = Instant::now();
            embedder.embed(&[short]).unwrap();
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];

    embedder.embed(&texts[..64.min(texts.len())]).unwrap();
    let mut rates: Vec<f64> = (0..rounds)
        .map(|_| {
            let t = Instant::now();
            embedder.embed(&texts).unwrap();
            texts.len() as f64 / t.elapsed().as_secs_f64()
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    println!(
        "{{\"single_p50_ms\": {:.3}, \"single_p95_ms\": {:.3}, \"throughput_texts_per_s\": {:.1}, \"throughput_runs\": {:?}, \"peak_rss_mb\": {:.0}}}",
        pct(0.5),
        pct(0.95),
        rates[rates.len() / 2],
        rates.iter().map(|r| (r * 10.0).round() / 10.0).collect::<Vec<_>>(),
        peak_rss_mb()
    );
}

/// The process's peak resident set (VmHWM) in MB; 0 where /proc is not there.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))?
                .split_whitespace()
                .nth(1)?
                .parse::<f64>()
                .ok()
        })
        .map_or(0.0, |kb| kb / 1024.0)
}
