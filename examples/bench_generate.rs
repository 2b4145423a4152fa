//! Generation timings for scripts/bench_generate.py (side by side with a Python
//! onnxruntime greedy loop on the same ONNX file and threads).
//!
//! bench_generate --model DIR [--variant V] --threads N --prompts FILE --max-new-tokens N
//! FILE: one JSON chat (list of {role, content}) per line. Prints one JSON object per prompt:
//! prompt tokens, generated tokens, time to first token, decode tokens/s; then peak RSS.

use nodespace::{
    ChatMessage, Flow, GenerateRequest, Generator, GeneratorOptions, Prompt, SamplingOptions,
};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let get = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let mut options = GeneratorOptions::new(get("--model").expect("--model DIR"));
    options.variant = get("--variant");
    options.intra_threads = Some(get("--threads").map_or(2, |t| t.parse().unwrap()));
    options.max_sessions = 1;
    options.reuse_prefix = false;
    let max_new_tokens: usize = get("--max-new-tokens").map_or(64, |t| t.parse().unwrap());
    let generator = Generator::new(options).unwrap();
    let prompts = std::fs::read_to_string(get("--prompts").expect("--prompts FILE")).unwrap();
    // A first pass warms ONNX Runtime's allocations for these shapes (an app is long-lived);
    // the Python side is warmed the same way. Only the second pass is printed.
    for pass in 0..2 {
        for line in prompts.lines().filter(|l| !l.trim().is_empty()) {
            let chat: Vec<serde_json::Value> = serde_json::from_str(line).unwrap();
            let messages = chat
                .iter()
                .map(|m| {
                    ChatMessage::new(m["role"].as_str().unwrap(), m["content"].as_str().unwrap())
                })
                .collect();
            let mut request = GenerateRequest::new(Prompt::Chat(messages));
            request.max_new_tokens = Some(max_new_tokens);
            request.sampling = Some(SamplingOptions::greedy());
            let r = generator
                .generate(&request, None, &mut |_| Flow::Continue)
                .unwrap();
            if pass == 0 {
                continue;
            }
            println!(
                "{}",
                serde_json::json!({
                    "prompt_tokens": r.stats.prompt_tokens,
                    "generated_tokens": r.stats.generated_tokens,
                    "ttft_ms": r.stats.time_to_first_token_ms,
                    "decode_tok_s": r.stats.decode_tokens_per_s,
                    "tokens": r.tokens,
                })
            );
        }
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let peak_kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0.0);
    println!("{}", serde_json::json!({ "peak_rss_mb": peak_kb / 1024.0 }));
}
