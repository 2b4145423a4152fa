//! Tool calls without a real model: chat templates with tools and tool results render as
//! transformers renders them (tests/data/tool_chat_reference.json, made by
//! models/make_tool_chat_reference.py), and on a tiny decoder (random weights: it never
//! writes a call by chance; its ChatML template renders tools in Qwen2.5's Hermes form,
//! compactly) a required tool choice gives calls that parse and whose arguments validate,
//! streamed and parsed into the result.

mod common;

use std::path::PathBuf;

use common::*;
use nodespace::{
    parse_messages, parse_tools, ChatMessage, ChatTemplate, Constraint, ErrorKind, Flow,
    GenerateRequest, Generator, GeneratorOptions, Prompt, SamplingOptions, StopReason, ToolCall,
    ToolChoice,
};
use serde_json::{json, Value as Json};

#[test]
fn renders_as_transformers_does() {
    let reference: Json = serde_json::from_str(
        &std::fs::read_to_string(repo().join("tests/data/tool_chat_reference.json")).unwrap(),
    )
    .unwrap();
    let cases = reference["cases"].as_array().unwrap();
    assert!(cases.len() >= 6);
    for (i, case) in cases.iter().enumerate() {
        let source = std::fs::read_to_string(
            repo()
                .join("tests/data/chat_templates")
                .join(case["template"].as_str().unwrap()),
        )
        .unwrap();
        let template = ChatTemplate::from_source(
            source,
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        )
        .unwrap();
        let messages = parse_messages(&case["messages"].to_string()).unwrap();
        let tools = match &case["tools"] {
            Json::Null => Vec::new(),
            t => parse_tools(&t.to_string()).unwrap(),
        };
        let text = template
            .render_with_tools(
                &messages,
                &tools,
                case["add_generation_prompt"].as_bool().unwrap(),
            )
            .unwrap();
        assert_eq!(text, case["text"].as_str().unwrap(), "case {i}");
    }
}

#[test]
fn messages_in_json_keep_calls_and_other_keys() {
    let messages = parse_messages(
        r#"[{"role": "user", "content": "hi"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\": 1}"}},
                {"name": "g", "arguments": {"b": [2]}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "ok"}]"#,
    )
    .unwrap();
    assert_eq!(messages.len(), 3);
    assert_eq!(messages[1].content, "");
    let mut first = ToolCall::new("f", json!({"a": 1}));
    first.id = Some("call_1".into());
    assert_eq!(
        messages[1].tool_calls,
        vec![first, ToolCall::new("g", json!({"b": [2]}))]
    );
    assert_eq!(messages[2].extra["tool_call_id"], json!("call_1"));
    for (bad, says) in [
        ("{}", "JSON array"),
        ("[1]", "message 0: a message is not a JSON object"),
        (r#"[{"content": "x"}]"#, "has no \"role\""),
        (
            r#"[{"role": "user", "content": [1]}]"#,
            "\"content\" is not a string",
        ),
        (
            r#"[{"role": "assistant", "tool_calls": [{"function": {}}]}]"#,
            "no \"name\"",
        ),
        (
            r#"[{"role": "assistant", "tool_calls": [{"name": "f", "arguments": "{"}]}]"#,
            "not JSON",
        ),
    ] {
        let err = parse_messages(bad).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert!(err.message().contains(says), "{bad}: {}", err.message());
    }
}

/// Two tools whose calls fit the tiny context (bounded strings and numbers).
const TINY_TOOLS: &str = r#"[
  {"type": "function", "function": {"name": "add", "parameters": {"type": "object",
    "properties": {"t": {"type": "string", "maxLength": 2}}, "required": ["t"]}}},
  {"type": "function", "function": {"name": "find", "parameters": {"type": "object",
    "properties": {"n": {"type": "integer", "minimum": 1, "maximum": 9}}, "required": ["n"]}}}
]"#;

fn load(dir: PathBuf) -> Generator {
    init();
    Generator::new(GeneratorOptions::new(dir)).unwrap()
}

fn tool_request(prompt: &str, choice: ToolChoice, sampling: SamplingOptions) -> GenerateRequest {
    let mut r = GenerateRequest::new(Prompt::Chat(vec![ChatMessage::new("user", prompt)]));
    r.tools = parse_tools(TINY_TOOLS).unwrap();
    r.tool_choice = choice;
    r.sampling = Some(sampling);
    r.max_new_tokens = Some(100);
    r
}

#[test]
fn required_calls_parse_and_validate() {
    let g = load(tiny("gen-llama"));
    let tools = parse_tools(TINY_TOOLS).unwrap();
    let validators: Vec<(String, jsonschema::Validator)> = tools
        .iter()
        .map(|t| {
            let f = &t["function"];
            (
                f["name"].as_str().unwrap().to_string(),
                jsonschema::validator_for(&f["parameters"]).unwrap(),
            )
        })
        .collect();
    let check = |what: &str, calls: &[ToolCall]| {
        for call in calls {
            let (_, validator) = validators
                .iter()
                .find(|(name, _)| *name == call.name)
                .unwrap_or_else(|| panic!("{what}: unknown tool {}", call.name));
            assert!(validator.is_valid(&call.arguments), "{what}");
        }
    };
    let mut names = std::collections::HashSet::new();
    for prompt in ["add a task", "find 3 notes", "x y z", "hello"] {
        for seed in [None, Some(1), Some(2), Some(3)] {
            let sampling = match seed {
                None => SamplingOptions::greedy(),
                Some(s) => SamplingOptions {
                    temperature: 2.0,
                    seed: Some(s),
                    ..SamplingOptions::greedy()
                },
            };
            // Exactly one call: it ends there.
            let out = run_streamed(&g, &tool_request(prompt, ToolChoice::One, sampling.clone()));
            let what = format!("one, {prompt:?} seed {seed:?}: {:?}", out.text);
            assert_eq!(out.stop_reason, StopReason::Eos, "{what}");
            assert!(out.text.starts_with("<tool_call>\n{\"name\": \""), "{what}");
            assert!(out.text.ends_with("}\n</tool_call>"), "{what}");
            assert_eq!(out.tool_calls.len(), 1, "{what}");
            check(&what, &out.tool_calls);
            names.insert(out.tool_calls[0].name.clone());
            // One or more: a random model never chooses to stop, so it writes calls until
            // the tiny context is full; every block it closed is a valid call.
            let out = run_streamed(&g, &tool_request(prompt, ToolChoice::Required, sampling));
            let what = format!("required, {prompt:?} seed {seed:?}: {:?}", out.text);
            let closed = out.text.matches("</tool_call>").count();
            assert!(closed >= 1, "{what}");
            assert_eq!(out.tool_calls.len(), closed, "{what}");
            check(&what, &out.tool_calls);
        }
    }
    assert_eq!(names.len(), 2, "both tools get called: {names:?}");
}

#[test]
fn auto_renders_tools_and_a_follow_up_turn() {
    let g = load(tiny("gen-llama"));
    let tools = parse_tools(TINY_TOOLS).unwrap();
    let plain = g.render_chat(&[ChatMessage::new("user", "hi")]).unwrap();
    assert!(!plain.contains("tools:"), "{plain}");
    let chat = vec![
        ChatMessage::new("user", "add ab"),
        ChatMessage::assistant_tool_calls("", vec![ToolCall::new("add", json!({"t": "ab"}))]),
        ChatMessage::new("tool", "ok"),
    ];
    let text = g.render_chat_with_tools(&chat, &tools).unwrap();
    assert_eq!(text, "<|im_start|>system\ntools: add find <tool_call><|im_end|>\n<|im_start|>user\nadd ab<|im_end|>\n<|im_start|>assistant\n<tool_call>{\"name\": \"add\", \"arguments\": {\"t\": \"ab\"}}</tool_call><|im_end|>\n<|im_start|>user\n<tool_response>ok</tool_response><|im_end|>\n<|im_start|>assistant\n");
    // (That chat is longer than the tiny context: generate from a short one.)
    let out = run_streamed(
        &g,
        &tool_request("hi", ToolChoice::Auto, SamplingOptions::greedy()),
    );
    assert!(out.stats.prompt_tokens > plain.len() / 4);
    // Random weights write no call: the text is free and nothing is parsed from it.
    assert_eq!(
        out.tool_calls.len(),
        out.text.matches("</tool_call>").count()
    );
}

#[test]
fn tool_errors_name_the_problem() {
    init();
    let g = load(tiny("gen-llama"));
    // A raw prompt cannot carry tools.
    let mut r = tool_request("x", ToolChoice::Auto, SamplingOptions::greedy());
    r.prompt = Prompt::Text("x".into());
    let err = g.generate(&r, None, &mut |_| Flow::Continue).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.message().contains("chat messages"), "{}", err.message());
    // A required call cannot also be another constraint.
    let mut r = tool_request("x", ToolChoice::Required, SamplingOptions::greedy());
    r.constraint = Some(Constraint::Regex("a".into()));
    let err = g.generate(&r, None, &mut |_| Flow::Continue).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    // A required call with no tools to call.
    let mut r = tool_request("x", ToolChoice::One, SamplingOptions::greedy());
    r.tools.clear();
    let err = g.generate(&r, None, &mut |_| Flow::Continue).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(
        err.message().contains("tools offer none"),
        "{}",
        err.message()
    );
    // A tool that is not a definition.
    let mut r = tool_request("x", ToolChoice::Auto, SamplingOptions::greedy());
    r.tools = vec![json!({"type": "function"})];
    let err = g.generate(&r, None, &mut |_| Flow::Continue).unwrap_err();
    assert!(
        err.message().contains("tool 0 has no name"),
        "{}",
        err.message()
    );
    // A model whose template never reads `tools` says so instead of dropping them.
    let plain = load(tiny("gen-gemma"));
    let r = tool_request("x", ToolChoice::Auto, SamplingOptions::greedy());
    let err = plain
        .generate(&r, None, &mut |_| Flow::Continue)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert!(
        err.message().contains("does not render tools"),
        "{}",
        err.message()
    );
}
