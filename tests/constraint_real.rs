//! Structured output on the real chat models: the action items of 20 varied meeting notes
//! (tests/data/meeting_notes.json) under examples/action_items.schema.json parse and validate every time,
//! greedy and sampled (seeded), and constrained greedy output is the same with prompt
//! lookup on and off. Unconstrained, most of these answers do not parse (examples/
//! action_items.rs reports how many); the schema is what makes them valid.
//! Needs scripts/setup.sh's models; skips loudly without them.

mod common;

use common::*;
use nodespace::{
    ChatMessage, Constraint, Flow, GenerateRequest, Generator, GeneratorOptions, LookupOptions,
    Prompt, SamplingOptions, StopReason,
};

fn notes() -> (serde_json::Value, Vec<String>) {
    let data = read_json(&repo().join("tests/data/meeting_notes.json"));
    let schema = read_json(&repo().join("examples/action_items.schema.json"));
    let notes = data["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect();
    (schema, notes)
}

/// The instruction the notes are answered under (the data file's, as in the example).
fn system() -> String {
    let data = read_json(&repo().join("tests/data/meeting_notes.json"));
    data["system"].as_str().unwrap().to_string()
}

fn request(note: &str, schema: &serde_json::Value, sampling: SamplingOptions) -> GenerateRequest {
    let mut r = GenerateRequest::new(Prompt::Chat(vec![
        ChatMessage::new("system", system()),
        ChatMessage::new("user", note),
    ]));
    r.max_new_tokens = Some(400);
    r.sampling = Some(sampling);
    r.constraint = Some(Constraint::JsonSchema(schema.to_string()));
    r
}

fn action_items_always_validate(model: &str, variant: Option<&str>) {
    let Some(dir) = real(model) else { return };
    init();
    let mut options = GeneratorOptions::new(dir);
    options.variant = variant.map(str::to_string);
    let g = Generator::new(options).unwrap();
    let (schema, notes) = notes();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let samplings = |i: usize| {
        [
            SamplingOptions::greedy(),
            SamplingOptions {
                temperature: 0.7,
                top_p: 0.9,
                seed: Some(i as u64 + 1),
                ..SamplingOptions::greedy()
            },
        ]
    };
    for (i, note) in notes.iter().enumerate() {
        for sampling in samplings(i) {
            let what = format!(
                "{model} note {i} {}",
                if sampling.is_greedy() {
                    "greedy"
                } else {
                    "sampled"
                }
            );
            let out = g
                .generate(&request(note, &schema, sampling), None, &mut |_| {
                    Flow::Continue
                })
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(out.stop_reason, StopReason::Eos, "{what}: {:?}", out.text);
            let value: serde_json::Value = serde_json::from_str(&out.text)
                .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {:?}", out.text));
            assert!(validator.is_valid(&value), "{what}: invalid: {value}");
        }
    }
}

#[test]
fn smollm2_action_items_always_validate() {
    action_items_always_validate("SmolLM2-135M-Instruct", None);
}

#[test]
fn qwen2_5_action_items_always_validate() {
    action_items_always_validate("Qwen2.5-Coder-0.5B-Instruct", Some("q4"));
}

/// A draft ends at the first token the schema rejects; the tokens are the plain loop's
/// (fp32 graph: the verify pass computes each row as a one-row pass does).
#[test]
fn smollm2_constrained_greedy_is_the_same_with_lookup_on_and_off() {
    let Some(dir) = real("SmolLM2-135M-Instruct") else {
        return;
    };
    init();
    let g = Generator::new(GeneratorOptions::new(dir)).unwrap();
    let (schema, notes) = notes();
    let mut accepted = 0;
    for note in notes.iter().take(6) {
        let mut off = request(note, &schema, SamplingOptions::greedy());
        off.lookup = LookupOptions::off();
        let mut on = off.clone();
        on.lookup = LookupOptions::default();
        let run = |r: &GenerateRequest| g.generate(r, None, &mut |_| Flow::Continue).unwrap();
        let (a, b) = (run(&off), run(&on));
        assert_eq!(a.tokens, b.tokens, "{note:?}");
        accepted += b.stats.accepted_tokens;
    }
    assert!(accepted > 0, "no draft accepted: lookup was not exercised");
}
