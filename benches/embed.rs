//! Criterion benches for embeddings: one short text, a batch of 32, 1000 mixed sentences.
//! Uses the real all-MiniLM-L6-v2 when installed (scripts/setup.sh), else the tiny model.
//! Ratios against the Python pipeline come from scripts/bench_embed.py.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use nodespace::{Embedder, EmbedderOptions};
use std::path::PathBuf;

fn model() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let real = root.join("models/real/all-MiniLM-L6-v2");
    if real.is_dir() {
        real
    } else {
        eprintln!(
            "*** models/real/all-MiniLM-L6-v2 not installed: benchmarking the tiny model ***"
        );
        root.join("models/tiny/embed-bert")
    }
}

fn texts(n: usize) -> Vec<String> {
    let words = [
        "meeting", "budget", "launch", "notes", "team", "review", "plan", "vendors", "Friday",
        "fixes",
    ];
    (0..n)
        .map(|i| {
            (0..5 + (i * 7) % 40)
                .map(|j| words[(i + j) % words.len()])
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    if std::env::var_os("NS_ONNXRUNTIME_PATH").is_none() {
        eprintln!("set NS_ONNXRUNTIME_PATH (. scripts/env.sh) before running the benches");
    }
    let mut options = EmbedderOptions::new(model());
    options.intra_threads = Some(2);
    let embedder = Embedder::new(options).expect("load the embedding model");
    let mut group = c.benchmark_group("embed");
    group.bench_function("single_short_text", |b| {
        b.iter(|| {
            embedder
                .embed(&["The quarterly budget review moved to Friday."])
                .unwrap()
        })
    });
    let batch = texts(32);
    group.throughput(Throughput::Elements(32));
    group.bench_function("batch_32", |b| b.iter(|| embedder.embed(&batch).unwrap()));
    let many = texts(1000);
    group.throughput(Throughput::Elements(1000));
    group.sample_size(10);
    group.bench_function("mixed_1000", |b| b.iter(|| embedder.embed(&many).unwrap()));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
