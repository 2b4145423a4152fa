//! Generation timings for scripts/bench_generate.py (side by side with a Python
//! onnxruntime greedy loop on the same ONNX file and threads).
//!
//! bench_generate --model DIR [--variant V] --threads N --prompts FILE --max-new-tokens N
//!                [--lookup on|off] [--follow-up]
//! FILE: one JSON chat (list of {role, content}) per line; a model without a chat template
//! gets the last message's text and a blank line. Prints one JSON object per prompt: prompt
//! tokens (and their ids, for other engines), generated tokens, time to first token, decode
//! tokens/s, prompt lookup's drafted and accepted tokens; then peak RSS. `--lookup` (default on) as in `cli generate`.
//! `--follow-up`: per prompt, a second chat turn (the first turn's answer + a new question)
//! on a generator that reuses the KV cache of the first turn and on one that recomputes
//! it; prints the second turn's time to first token both ways and the reused tokens.

use nodespace::{
    ChatMessage, Flow, GenerateRequest, Generator, GeneratorOptions, LookupOptions, Prompt,
    SamplingOptions,
};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let get = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let load = |reuse_prefix: bool| {
        let mut options = GeneratorOptions::new(get("--model").expect("--model DIR"));
        options.variant = get("--variant");
        options.intra_threads = Some(get("--threads").map_or(2, |t| t.parse().unwrap()));
        options.max_sessions = 1;
        options.reuse_prefix = reuse_prefix;
        Generator::new(options).unwrap()
    };
    let max_new_tokens: usize = get("--max-new-tokens").map_or(64, |t| t.parse().unwrap());
    let lookup = match get("--lookup").as_deref() {
        None | Some("on") => LookupOptions::default(),
        Some("off") => LookupOptions::off(),
        Some(other) => panic!("--lookup {other}: expected on or off"),
    };
    let prompts = std::fs::read_to_string(get("--prompts").expect("--prompts FILE")).unwrap();
    if args.iter().any(|a| a == "--follow-up") {
        follow_up(&load(true), &load(false), &prompts, max_new_tokens, &lookup);
        return;
    }
    let generator = load(false);
    // A first pass warms ONNX Runtime's allocations for these shapes (an app is long-lived);
    // the Python side is warmed the same way. Only the second pass is printed.
    for pass in 0..2 {
        for messages in chats(&prompts) {
            let r = greedy(&generator, messages, max_new_tokens, &lookup);
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
                    "drafted_tokens": r.stats.drafted_tokens,
                    "accepted_tokens": r.stats.accepted_tokens,
                    "prompt_ids": r.prompt_tokens,
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

fn chats(prompts: &str) -> Vec<Vec<ChatMessage>> {
    prompts
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let chat: Vec<serde_json::Value> = serde_json::from_str(line).unwrap();
            chat.iter()
                .map(|m| {
                    ChatMessage::new(m["role"].as_str().unwrap(), m["content"].as_str().unwrap())
                })
                .collect()
        })
        .collect()
}

fn greedy(
    generator: &Generator,
    messages: Vec<ChatMessage>,
    max_new_tokens: usize,
    lookup: &LookupOptions,
) -> nodespace::GenerationResult {
    // A base model (no chat template, e.g. gemma-3-270m) gets the last message as raw text.
    let prompt = if generator.info().has_chat_template {
        Prompt::Chat(messages)
    } else {
        let last = messages
            .last()
            .map(|m| m.content.clone())
            .unwrap_or_default();
        Prompt::Text(format!("{last}\n\n"))
    };
    let mut request = GenerateRequest::new(prompt);
    request.max_new_tokens = Some(max_new_tokens);
    request.sampling = Some(SamplingOptions::greedy());
    request.lookup = lookup.clone();
    generator
        .generate(&request, None, &mut |_| Flow::Continue)
        .unwrap()
}

/// Second turns with and without KV reuse (two passes; the first warms up).
fn follow_up(
    reuse: &Generator,
    fresh: &Generator,
    prompts: &str,
    max_new_tokens: usize,
    lookup: &LookupOptions,
) {
    for pass in 0..2 {
        for mut messages in chats(prompts) {
            let first = greedy(reuse, messages.clone(), max_new_tokens, lookup);
            messages.push(ChatMessage::new("assistant", first.text));
            messages.push(ChatMessage::new(
                "user",
                "Now list only the action items, one per line.",
            ));
            let with_reuse = greedy(reuse, messages.clone(), max_new_tokens, lookup);
            let recomputed = greedy(fresh, messages, max_new_tokens, lookup);
            if pass == 0 {
                continue;
            }
            println!(
                "{}",
                serde_json::json!({
                    "prompt_tokens": with_reuse.stats.prompt_tokens,
                    "reused_prompt_tokens": with_reuse.stats.reused_prompt_tokens,
                    "ttft_reuse_ms": with_reuse.stats.time_to_first_token_ms,
                    "ttft_recompute_ms": recomputed.stats.time_to_first_token_ms,
                    "same_tokens": with_reuse.tokens == recomputed.tokens,
                })
            );
        }
    }
}
