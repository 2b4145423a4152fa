//! Tool calls on a real model: 20 requests a notes app gets (tests/data/tool_requests.json),
//! three tools (examples/tools.json: create_task, search_notes, set_reminder), greedy.
//! Prints, per mode, how often the model called the expected tool with arguments that
//! validate against its parameter schema: with the tool choice "auto" (the model decides;
//! its calls are parsed, not constrained) and "one" (exactly one call, constrained).
//!
//! cargo run --release --example tool_calls -- --model models/real/Qwen2.5-Coder-0.5B-Instruct
//!     [--variant q4] [--threads N] [--requests N] [--show]

use std::time::Instant;

use nodespace::{
    parse_tools, ChatMessage, Flow, GenerateRequest, Generator, GeneratorOptions, Prompt,
    SamplingOptions, ToolChoice,
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
    let generator = Generator::new(options).unwrap_or_else(|e| panic!("{e}"));
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let tools =
        parse_tools(&std::fs::read_to_string(root.join("examples/tools.json")).unwrap()).unwrap();
    let data: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("tests/data/tool_requests.json")).unwrap(),
    )
    .unwrap();
    let validators: Vec<(String, jsonschema::Validator)> = tools
        .iter()
        .map(|t| {
            let f = &t["function"];
            let name = f["name"].as_str().unwrap().to_string();
            (name, jsonschema::validator_for(&f["parameters"]).unwrap())
        })
        .collect();
    let count: usize = get("--requests").map_or(20, |n| n.parse().unwrap());
    let requests: Vec<(&str, &str)> = data["requests"]
        .as_array()
        .unwrap()
        .iter()
        .take(count)
        .map(|r| (r["text"].as_str().unwrap(), r["tool"].as_str().unwrap()))
        .collect();
    let system = data["system"].as_str().unwrap();
    let show = args.iter().any(|a| a == "--show");
    println!(
        "{} requests, {} tools, {}",
        requests.len(),
        tools.len(),
        generator.info().model_path.display()
    );
    let modes = [
        ("auto", ToolChoice::Auto),
        ("one (constrained)", ToolChoice::One),
    ];
    #[derive(Default)]
    struct Tally {
        called: usize,
        right_tool: usize,
        right_and_valid: usize,
        seconds: f64,
    }
    let mut tallies: Vec<Tally> = modes.iter().map(|_| Tally::default()).collect();
    for (i, (text, expected)) in requests.iter().enumerate() {
        for ((mode, choice), tally) in modes.iter().zip(&mut tallies) {
            let mut r = GenerateRequest::new(Prompt::Chat(vec![
                ChatMessage::new("system", system),
                ChatMessage::new("user", *text),
            ]));
            r.tools = tools.clone();
            r.tool_choice = *choice;
            r.sampling = Some(SamplingOptions::greedy());
            r.max_new_tokens = Some(200);
            let start = Instant::now();
            let out = generator
                .generate(&r, None, &mut |_| Flow::Continue)
                .unwrap_or_else(|e| panic!("request {i}: {e}"));
            tally.seconds += start.elapsed().as_secs_f64();
            let first = out.tool_calls.first();
            let right = first.is_some_and(|c| c.name == *expected);
            let valid = first.is_some_and(|c| {
                validators
                    .iter()
                    .any(|(name, v)| *name == c.name && v.is_valid(&c.arguments))
            });
            tally.called += first.is_some() as usize;
            tally.right_tool += right as usize;
            tally.right_and_valid += (right && valid) as usize;
            if show {
                println!(
                    "  [{mode} {i}] expected {expected}: {}",
                    out.text.replace('\n', " ")
                );
            }
        }
    }
    println!("mode                 called  right tool  right tool, valid arguments  seconds");
    for ((mode, _), tally) in modes.iter().zip(&tallies) {
        let n = requests.len();
        println!(
            "{mode:<20} {:>2}/{n:<3} {:>6}/{n:<3} {:>20}/{n:<3}  {:>7.0}",
            tally.called, tally.right_tool, tally.right_and_valid, tally.seconds
        );
    }
}
