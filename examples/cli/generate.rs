//! `cli generate` and `cli chat`.
//!
//! `generate --json` prints one line, a JSON object with the keys `prompt_tokens` and
//! `tokens` (token ids), `text`, `stop_reason` and `stats` (an object: `prompt_tokens`,
//! `reused_prompt_tokens`, `generated_tokens`, `time_to_first_token_ms`,
//! `prefill_tokens_per_s`, `decode_tokens_per_s`, `total_ms`, `drafted_tokens`,
//! `accepted_tokens`) and `tool_calls` (a list of `{"name", "arguments"}`); read it by key,
//! the key order is not part of the format. Other tools check the library with this format.

use std::io::{BufRead, Write};

use nodespace::{
    parse_messages, parse_tools, ChatMessage, Constraint, Flow, GenerateRequest, GenerationResult,
    Generator, GeneratorOptions, LookupOptions, Prompt, SamplingOptions, ToolChoice,
};
use serde_json::json;

use super::Args;

fn load(args: &Args) -> Result<Generator, String> {
    let mut options = GeneratorOptions::new(args.model()?);
    options.variant = args.get("--variant").map(str::to_string);
    options.device = args.device()?;
    options.intra_threads = args.parsed("--threads")?;
    Generator::new(options).map_err(|e| e.to_string())
}

/// `cli info` on a generation model.
pub fn info(args: &Args) -> Result<(), String> {
    let generator = load(args)?;
    let info = generator.info();
    println!("model:       {}", info.model_path.display());
    println!(
        "family:      {}",
        if info.family.is_empty() {
            "not given (no model_type in config.json)"
        } else {
            &info.family
        }
    );
    println!(
        "weights:     {}",
        info.quantization
            .as_deref()
            .unwrap_or("not recorded in the graph")
    );
    println!(
        "decoder:     {} layers, {} KV heads x {}, KV {}{}",
        info.layers,
        info.kv_heads,
        info.head_dim,
        info.kv_dtype,
        if info.kv_in_place {
            ", extended in place"
        } else {
            ""
        }
    );
    match info.sliding_window {
        Some(w) => println!(
            "context:     {} tokens; sliding window {} tokens on {} of {} layers",
            info.context_length, w.tokens, w.layers, info.layers
        ),
        None => println!("context:     {} tokens", info.context_length),
    }
    println!("eos ids:     {:?}", info.eos_token_ids);
    println!(
        "template:    {}",
        if info.has_chat_template {
            "yes"
        } else {
            "no (raw prompts only)"
        }
    );
    println!(
        "tools:       {}",
        match (info.renders_tools, info.tool_call_format) {
            (false, _) => "no (the chat template does not render tools)",
            (true, None) => "rendered; calls not parsed (a form this library does not know)",
            (true, Some(_)) => "yes (calls parsed: <tool_call> JSON; --tool-choice required/one)",
        }
    );
    match &info.lookup_off_reason {
        None => println!("lookup:      on (drafts cannot change the output)"),
        Some(why) => println!("lookup:      off by default: {why}"),
    }
    super::print_provider_and_runtime(&info.provider)
}

/// `--lookup on|off|force` (default on): prompt-lookup speculative decoding; `force` drafts
/// on graphs where that can change the output too.
fn lookup(args: &Args) -> Result<LookupOptions, String> {
    match args.get("--lookup") {
        None | Some("on") => Ok(LookupOptions::default()),
        Some("off") => Ok(LookupOptions::off()),
        Some("force") => Ok(LookupOptions {
            allow_inexact: true,
            ..LookupOptions::default()
        }),
        Some(other) => Err(format!("--lookup {other}: expected on, off or force")),
    }
}

/// Sampling from the flags, or `None` to use the model's generation_config.json.
fn sampling(args: &Args) -> Result<Option<SamplingOptions>, String> {
    if args.has("--greedy") {
        return Ok(Some(SamplingOptions::greedy()));
    }
    let flags = [
        "--temperature",
        "--top-k",
        "--top-p",
        "--min-p",
        "--seed",
        "--repetition-penalty",
    ];
    if flags.iter().all(|f| args.get(f).is_none()) {
        return Ok(None);
    }
    let mut s = SamplingOptions::greedy();
    s.temperature = args.parsed("--temperature")?.unwrap_or(1.0);
    s.top_k = args.parsed("--top-k")?.unwrap_or(0);
    s.top_p = args.parsed("--top-p")?.unwrap_or(1.0);
    s.min_p = args.parsed("--min-p")?.unwrap_or(0.0);
    s.repetition_penalty = args.parsed("--repetition-penalty")?.unwrap_or(1.0);
    s.seed = args.parsed("--seed")?;
    Ok(Some(s))
}

pub fn generate(args: &Args) -> Result<(), String> {
    args.check_known(&[
        "--model",
        "--variant",
        "--device",
        "--threads",
        "--prompt",
        "--system",
        "--user",
        "--max-new-tokens",
        "--temperature",
        "--top-k",
        "--top-p",
        "--min-p",
        "--seed",
        "--repetition-penalty",
        "--stop",
        "--lookup",
        "--json-schema",
        "--regex",
        "--grammar",
        "--choice",
        "--messages",
        "--tools",
        "--tool-choice",
    ])?;
    let prompt = match (
        args.get("--prompt"),
        args.get("--user"),
        args.get("--messages"),
    ) {
        (Some(text), None, None) => Prompt::Text(text.to_string()),
        (None, None, Some(path)) => Prompt::Chat(
            parse_messages(&read_file("--messages", path)?)
                .map_err(|e| format!("--messages {path}: {e}"))?,
        ),
        (None, Some(user), None) => {
            let mut messages = Vec::new();
            if let Some(system) = args.get("--system") {
                messages.push(ChatMessage::new("system", system));
            }
            messages.push(ChatMessage::new("user", user));
            Prompt::Chat(messages)
        }
        _ => return Err(
            "give one of --prompt TEXT, --user U (with an optional --system S) and --messages FILE"
                .into(),
        ),
    };
    let generator = load(args)?;
    let mut request = GenerateRequest::new(prompt);
    request.max_new_tokens = args.parsed("--max-new-tokens")?;
    request.sampling = sampling(args)?;
    request.stop = args.all("--stop");
    request.lookup = lookup(args)?;
    request.constraint = constraint(args)?;
    if let Some(path) = args.get("--tools") {
        request.tools = parse_tools(&read_file("--tools", path)?)
            .map_err(|e| format!("--tools {path}: {e}"))?;
    }
    request.tool_choice = match args.get("--tool-choice") {
        None | Some("auto") => ToolChoice::Auto,
        Some("required") => ToolChoice::Required,
        Some("one") => ToolChoice::One,
        Some(other) => {
            return Err(format!(
                "--tool-choice {other}: expected auto, required or one"
            ))
        }
    };
    if request.tool_choice != ToolChoice::Auto && request.tools.is_empty() {
        return Err("--tool-choice required/one needs --tools FILE".into());
    }
    let json_out = args.has("--json");
    let mut stdout = std::io::stdout();
    let result = generator
        .generate(&request, None, &mut |chunk| {
            if !json_out {
                let _ = stdout.write_all(chunk.as_bytes());
                let _ = stdout.flush();
            }
            Flow::Continue
        })
        .map_err(|e| e.to_string())?;
    if json_out {
        println!("{}", result_json(&result));
    } else {
        println!();
        for call in &result.tool_calls {
            println!("[tool call] {} {}", call.name, call.arguments);
        }
        let s = &result.stats;
        eprintln!(
            "[{} prompt + {} generated tokens, stop: {}, first token {:.0} ms, prefill {:.1} tok/s, decode {:.1} tok/s, lookup {}/{} drafted tokens accepted]",
            s.prompt_tokens,
            s.generated_tokens,
            result.stop_reason.as_str(),
            s.time_to_first_token_ms,
            s.prefill_tokens_per_s,
            s.decode_tokens_per_s,
            s.accepted_tokens,
            s.drafted_tokens
        );
    }
    Ok(())
}

fn read_file(flag: &str, path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{flag} {path}: {e}"))
}

/// `--json-schema FILE`, `--regex RE`, `--grammar FILE` (Lark) or `--choice a,b,c`.
fn constraint(args: &Args) -> Result<Option<Constraint>, String> {
    let read = read_file;
    let mut given = Vec::new();
    if let Some(path) = args.get("--json-schema") {
        given.push(Constraint::JsonSchema(read("--json-schema", path)?));
    }
    if let Some(rx) = args.get("--regex") {
        given.push(Constraint::Regex(rx.to_string()));
    }
    if let Some(path) = args.get("--grammar") {
        given.push(Constraint::Grammar(read("--grammar", path)?));
    }
    if let Some(list) = args.get("--choice") {
        given.push(Constraint::Choices(
            list.split(',').map(str::to_string).collect(),
        ));
    }
    if given.len() > 1 {
        return Err("give at most one of --json-schema, --regex, --grammar and --choice".into());
    }
    Ok(given.pop())
}

fn result_json(result: &GenerationResult) -> serde_json::Value {
    let s = &result.stats;
    json!({
        "prompt_tokens": result.prompt_tokens,
        "tokens": result.tokens,
        "text": result.text,
        "stop_reason": result.stop_reason.as_str(),
        "stats": {
            "prompt_tokens": s.prompt_tokens,
            "reused_prompt_tokens": s.reused_prompt_tokens,
            "generated_tokens": s.generated_tokens,
            "time_to_first_token_ms": s.time_to_first_token_ms,
            "prefill_tokens_per_s": s.prefill_tokens_per_s,
            "decode_tokens_per_s": s.decode_tokens_per_s,
            "total_ms": s.total_ms,
            "drafted_tokens": s.drafted_tokens,
            "accepted_tokens": s.accepted_tokens,
        },
        "tool_calls": result.tool_calls.iter().map(|c| json!({"name": c.name, "arguments": c.arguments})).collect::<Vec<_>>(),
    })
}

/// Interactive multi-turn chat on stdin/stdout; an empty line or EOF ends it.
pub fn chat(args: &Args) -> Result<(), String> {
    args.check_known(&[
        "--model",
        "--variant",
        "--device",
        "--threads",
        "--system",
        "--max-new-tokens",
    ])?;
    let generator = load(args)?;
    let mut messages = Vec::new();
    if let Some(system) = args.get("--system") {
        messages.push(ChatMessage::new("system", system));
    }
    let max_new_tokens = args.parsed("--max-new-tokens")?;
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout();
    loop {
        print!("you> ");
        let _ = stdout.flush();
        let mut line = String::new();
        if stdin
            .lock()
            .read_line(&mut line)
            .map_err(|e| e.to_string())?
            == 0
            || line.trim().is_empty()
        {
            return Ok(());
        }
        messages.push(ChatMessage::new("user", line.trim_end()));
        let mut request = GenerateRequest::new(Prompt::Chat(messages.clone()));
        request.max_new_tokens = max_new_tokens;
        print!("assistant> ");
        let result = generator
            .generate(&request, None, &mut |chunk| {
                let _ = stdout.write_all(chunk.as_bytes());
                let _ = stdout.flush();
                Flow::Continue
            })
            .map_err(|e| e.to_string())?;
        println!();
        messages.push(ChatMessage::new("assistant", result.text));
    }
}
