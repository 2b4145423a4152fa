//! Peak memory of Gemma 3 270M on a 3,021-token prompt with a graph that returns logits for
//! every position (`--variants optimum`, as Optimum exports it). Such a graph would make
//! 3,021 x 262,144 floats (3.2 GB) of logits in one prefill run, and 0.5 GB per 512-token
//! chunk; the runtime runs it in 64-token chunks (64 MB of logits each), so the peak stays
//! near the weights' own. This file holds one test so that the process's peak RSS (VmHWM)
//! is its own.

mod common;

use common::*;
use nodespace::{Flow, GenerateRequest, Generator, GeneratorOptions, Prompt, SamplingOptions};

/// The weights are 1.07 GB of fp32 (ONNX Runtime keeps a packed copy of the large MatMul
/// weights too). Measured on this graph: 2.39 GB with 64-token chunks, 3.65 GB with
/// 512-token ones (our own graph, which keeps only the last position's logits: 2.34 GB).
/// 2.8 GB leaves room for allocator and thread differences between machines and fails
/// well before 512-token chunks fit.
const LIMIT_MB: f64 = 2800.0;

#[test]
fn gemma3_all_logits_graph_prefills_3000_tokens_in_bounded_memory() {
    init();
    let Some(dir) = real("gemma-3-270m") else {
        return;
    };
    let reference = read_json(&repo().join("tests/data/gemma3_greedy.json"));
    let long = &reference["long_case"];
    let mut options = GeneratorOptions::new(dir);
    options.variant = Some("optimum".into());
    let generator = Generator::new(options).unwrap();
    assert!(generator.info().verifies_drafts);
    let want: Vec<u32> = long["generated_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect();
    let mut request = GenerateRequest::new(Prompt::Text(
        long["prompt_text"].as_str().unwrap().to_string(),
    ));
    request.max_new_tokens = Some(want.len());
    request.sampling = Some(SamplingOptions::greedy());
    let result = generator
        .generate(&request, None, &mut |_| Flow::Continue)
        .unwrap();
    assert_eq!(result.tokens, want, "tokens differ from transformers");
    assert!(result.stats.prompt_tokens >= 3000);
    let Some(peak) = peak_rss_mb() else {
        eprintln!("*** SKIPPED the memory bound: no /proc/self/status on this platform ***");
        return;
    };
    eprintln!(
        "gemma-3-270m, logits of every position: {} prompt tokens, peak RSS {peak:.0} MB",
        result.stats.prompt_tokens
    );
    assert!(peak < LIMIT_MB, "peak RSS {peak:.0} MB over {LIMIT_MB} MB");
}
