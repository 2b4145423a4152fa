//! Tool calls on Qwen2.5-Coder-0.5B-Instruct (q4), whose own chat template renders tools in
//! the Hermes form: for the 20 requests of tests/data/tool_requests.json with the three
//! tools of examples/tools.json, a required call (`ToolChoice::One`) is always exactly one
//! call that names an offered tool with arguments that validate against its parameters,
//! greedy and sampled (seeded). Which tool the model picks is its own judgement and not
//! asserted (examples/tool_calls.rs reports how often it is the expected one); validity is
//! the constraint's work and holds whatever the kernels round. A follow-up turn with the
//! call and the tool's result renders as transformers renders it (the `<tool_response>`
//! user turn) and generates. Needs scripts/setup.sh's models; skips loudly without them.

mod common;

use common::*;
use nodespace::{
    parse_tools, ChatMessage, Flow, GenerateRequest, Generator, GeneratorOptions, Prompt,
    SamplingOptions, StopReason, ToolChoice,
};

#[test]
fn qwen_required_calls_always_validate() {
    let Some(dir) = real("Qwen2.5-Coder-0.5B-Instruct") else {
        return;
    };
    init();
    let mut options = GeneratorOptions::new(dir);
    options.variant = Some("q4".into());
    let g = Generator::new(options).unwrap();
    let tools =
        parse_tools(&std::fs::read_to_string(repo().join("examples/tools.json")).unwrap()).unwrap();
    let validators: Vec<(String, jsonschema::Validator)> = tools
        .iter()
        .map(|t| {
            let f = &t["function"];
            let name = f["name"].as_str().unwrap().to_string();
            (name, jsonschema::validator_for(&f["parameters"]).unwrap())
        })
        .collect();
    let data = read_json(&repo().join("tests/data/tool_requests.json"));
    let system = data["system"].as_str().unwrap();
    let requests = data["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 20);
    for (i, request) in requests.iter().enumerate() {
        let text = request["text"].as_str().unwrap();
        let sampled = SamplingOptions {
            temperature: 0.7,
            top_p: 0.9,
            seed: Some(i as u64 + 1),
            ..SamplingOptions::greedy()
        };
        for sampling in [SamplingOptions::greedy(), sampled] {
            let mut r = GenerateRequest::new(Prompt::Chat(vec![
                ChatMessage::new("system", system),
                ChatMessage::new("user", text),
            ]));
            r.tools = tools.clone();
            r.tool_choice = ToolChoice::One;
            r.sampling = Some(sampling);
            r.max_new_tokens = Some(200);
            let out = g
                .generate(&r, None, &mut |_| Flow::Continue)
                .unwrap_or_else(|e| panic!("request {i}: {e}"));
            let what = format!("request {i} {:?}: {:?}", r.sampling, out.text);
            assert_eq!(out.stop_reason, StopReason::Eos, "{what}");
            assert_eq!(out.tool_calls.len(), 1, "{what}");
            let call = &out.tool_calls[0];
            let (_, validator) = validators
                .iter()
                .find(|(name, _)| *name == call.name)
                .unwrap_or_else(|| panic!("{what}: not an offered tool"));
            assert!(validator.is_valid(&call.arguments), "{what}");
            assert!(out.text.starts_with("<tool_call>\n{\"name\": \""), "{what}");
        }
    }

    // The follow-up turn: the call and the tool's result.
    let chat = nodespace::parse_messages(
        r#"[{"role": "user", "content": "Find my notes about the offsite."},
            {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {"name": "search_notes", "arguments": {"query": "offsite", "limit": 3}}}]},
            {"role": "tool", "content": "[\"Offsite agenda: Lisbon, March 3-5\", \"Offsite budget: 12k\"]"}]"#,
    )
    .unwrap();
    let rendered = g.render_chat_with_tools(&chat, &tools).unwrap();
    assert!(
        rendered.ends_with("<tool_response>\n[\"Offsite agenda: Lisbon, March 3-5\", \"Offsite budget: 12k\"]\n</tool_response><|im_end|>\n<|im_start|>assistant\n"),
        "{rendered}"
    );
    let mut r = GenerateRequest::new(Prompt::Chat(chat));
    r.tools = tools;
    r.sampling = Some(SamplingOptions::greedy());
    r.max_new_tokens = Some(60);
    let out = g.generate(&r, None, &mut |_| Flow::Continue).unwrap();
    assert!(
        !out.text.trim().is_empty(),
        "a turn after the tool's result"
    );
    eprintln!(
        "follow-up answer: {:?}, calls: {:?}",
        out.text, out.tool_calls
    );
}
