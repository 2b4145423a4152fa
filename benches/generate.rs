//! Criterion benches for generation: time to first token (prefill of a meeting-note chat)
//! and decoding 32 tokens. Uses SmolLM2-135M-Instruct when installed (scripts/setup.sh),
//! else the tiny decoder. Side-by-side ratios: scripts/bench_generate.py.

use criterion::{criterion_group, criterion_main, Criterion};
use nodespace::{
    ChatMessage, Flow, GenerateRequest, Generator, GeneratorOptions, Prompt, SamplingOptions,
};
use std::path::PathBuf;

fn model() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let real = root.join("models/real/SmolLM2-135M-Instruct");
    if real.is_dir() {
        real
    } else {
        eprintln!("*** models/real/SmolLM2-135M-Instruct not installed: benchmarking the tiny decoder ***");
        root.join("models/tiny/gen-llama")
    }
}

fn request(max_new_tokens: usize) -> GenerateRequest {
    let note = "Meeting notes, Tuesday: Ana presented the Q3 budget, which is 5% over plan. Ben will ask vendors for new quotes by Friday. The launch moves from May 2 to May 16 because QA found two blocking bugs.";
    let mut r = GenerateRequest::new(Prompt::Chat(vec![ChatMessage::new(
        "user",
        format!("Summarize: {note}"),
    )]));
    r.max_new_tokens = Some(max_new_tokens);
    r.sampling = Some(SamplingOptions::greedy());
    r
}

fn bench(c: &mut Criterion) {
    let mut options = GeneratorOptions::new(model());
    options.intra_threads = Some(2);
    options.reuse_prefix = false;
    let generator = Generator::new(options)
        .expect("load the generation model (set NS_ONNXRUNTIME_PATH: . scripts/env.sh)");
    let mut group = c.benchmark_group("generate");
    group.sample_size(10);
    let first = request(1);
    group.bench_function("time_to_first_token", |b| {
        b.iter(|| {
            generator
                .generate(&first, None, &mut |_| Flow::Continue)
                .unwrap()
        })
    });
    let decode = request(32);
    group.bench_function("prefill_plus_32_tokens", |b| {
        b.iter(|| {
            generator
                .generate(&decode, None, &mut |_| Flow::Continue)
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
