//! Structured output on a real model: the action items of 20 varied meeting notes
//! (tests/data/meeting_notes.json) as `[{"owner", "task", "due"}]` JSON, with the schema
//! (examples/action_items.schema.json) as a constraint and without it, greedy and sampled
//! (seeded). Prints, per mode, how many answers parse as JSON (as they are: no code-fence
//! stripping) and validate against the schema, and the decode speed with and without the
//! schema side by side (prompt lookup off, so that both decode one token per pass).
//!
//! cargo run --release --example action_items -- --model models/real/SmolLM2-135M-Instruct
//!     [--variant V] [--threads N] [--notes N] [--mode "constrained greedy"] [--show]

use std::time::Instant;

use nodespace::{
    ChatMessage, Constraint, Flow, GenerateRequest, GenerationResult, Generator, GeneratorOptions,
    LookupOptions, Prompt, SamplingOptions, StopReason,
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
    let read = |path: &str| -> serde_json::Value {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let data = read("tests/data/meeting_notes.json");
    let schema = read("examples/action_items.schema.json");
    let validator = jsonschema::validator_for(&schema).unwrap();
    let count: usize = get("--notes").map_or(20, |n| n.parse().unwrap());
    let system = data["system"].as_str().unwrap();
    let notes: Vec<&str> = data["notes"]
        .as_array()
        .unwrap()
        .iter()
        .take(count)
        .map(|n| n.as_str().unwrap())
        .collect();
    let show = args.iter().any(|a| a == "--show");

    println!(
        "{} notes, {}",
        notes.len(),
        generator.info().model_path.display()
    );
    let modes: Vec<(&str, bool, bool)> = [
        ("unconstrained greedy", false, false),
        ("constrained greedy", true, false),
        ("unconstrained sampled", false, true),
        ("constrained sampled", true, true),
    ]
    .into_iter()
    .filter(|(mode, ..)| get("--mode").is_none_or(|m| m == *mode))
    .collect();
    #[derive(Default)]
    struct Tally {
        parses: usize,
        valid: usize,
        eos: usize,
        truncated: usize,
        speeds: Vec<f64>,
        seconds: f64,
    }
    let mut tallies: Vec<Tally> = modes.iter().map(|_| Tally::default()).collect();
    // Modes interleaved note by note, so that a change in the machine's load falls on all.
    for (i, note) in notes.iter().enumerate() {
        for ((mode, constrained, sampled), tally) in modes.iter().zip(&mut tallies) {
            let mut r = GenerateRequest::new(Prompt::Chat(vec![
                ChatMessage::new("system", system),
                ChatMessage::new("user", *note),
            ]));
            r.max_new_tokens = Some(400);
            r.lookup = LookupOptions::off();
            r.sampling = Some(if *sampled {
                SamplingOptions {
                    temperature: 0.7,
                    top_p: 0.9,
                    seed: Some(i as u64 + 1),
                    ..SamplingOptions::greedy()
                }
            } else {
                SamplingOptions::greedy()
            });
            if *constrained {
                r.constraint = Some(Constraint::JsonSchema(schema.to_string()));
            }
            let start = Instant::now();
            let out: GenerationResult = generator
                .generate(&r, None, &mut |_| Flow::Continue)
                .unwrap_or_else(|e| panic!("note {i}: {e}"));
            tally.seconds += start.elapsed().as_secs_f64();
            let parsed = serde_json::from_str::<serde_json::Value>(out.text.trim()).ok();
            let ok = parsed.as_ref().is_some_and(|v| validator.is_valid(v));
            tally.parses += parsed.is_some() as usize;
            tally.valid += ok as usize;
            tally.eos += (out.stop_reason == StopReason::Eos) as usize;
            tally.truncated += (out.stop_reason == StopReason::MaxTokens) as usize;
            tally.speeds.push(out.stats.decode_tokens_per_s);
            if show {
                println!(
                    "  [{mode} {i}] {}: {}",
                    if ok { "ok" } else { "INVALID" },
                    out.text
                );
            }
        }
    }
    println!(
        "mode                    parses  valid   eos  max_tokens  decode tok/s (median)  seconds"
    );
    for ((mode, ..), tally) in modes.iter().zip(&mut tallies) {
        tally.speeds.sort_by(f64::total_cmp);
        println!(
            "{mode:<24} {:>2}/{:<3} {:>2}/{:<3}  {:>3}  {:>10}  {:>21.1}  {:>7.0}",
            tally.parses,
            notes.len(),
            tally.valid,
            notes.len(),
            tally.eos,
            tally.truncated,
            tally.speeds[tally.speeds.len() / 2],
            tally.seconds
        );
    }
}
