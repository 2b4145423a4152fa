//! Structured output on the tiny committed decoders. Their weights are random, so unmasked
//! they never write JSON or a given pattern by chance: every valid output below is the
//! constraint's work. Checked: JSON Schema outputs parse and validate (jsonschema crate),
//! choices and regex outputs are exact members, grammars hold, greedy output is the same
//! with prompt lookup on and off, streaming, cancel, prefix reuse, and the errors of
//! malformed and unsatisfiable constraints.

mod common;

use common::*;
use nodespace::{
    CancelHandle, Constraint, ErrorKind, Flow, GenerateRequest, Generator, GeneratorOptions,
    LookupOptions, Prompt, SamplingOptions, StopReason,
};

const PROMPTS: [&str; 4] = [
    "the fox the fox the fox",
    "hello world",
    "1 2 3 a b",
    "action items: mo an wo th",
];

/// Action items as the product wants them; lengths bounded so that a random model, which
/// never chooses to close a string, ends within the tiny models' 128-token context (at most
/// 93 characters, each at least one token).
const ACTION_ITEMS: &str = r#"{
  "type": "array",
  "minItems": 1,
  "maxItems": 2,
  "items": {
    "type": "object",
    "properties": {
      "owner": {"type": "string", "maxLength": 4},
      "task": {"type": "string", "maxLength": 6},
      "due": {"anyOf": [{"type": "string", "maxLength": 4}, {"type": "null"}]}
    },
    "required": ["owner", "task", "due"],
    "additionalProperties": false
  },
  "x-guidance": {"whitespace_flexible": false}
}"#;

fn load(name: &str) -> Generator {
    init();
    Generator::new(GeneratorOptions::new(tiny(name))).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn request(prompt: &str, constraint: Constraint, sampling: SamplingOptions) -> GenerateRequest {
    let mut r = GenerateRequest::new(Prompt::Text(prompt.into()));
    r.max_new_tokens = Some(200);
    r.sampling = Some(sampling);
    r.constraint = Some(constraint);
    r
}

fn samplings() -> Vec<SamplingOptions> {
    let mut all = vec![SamplingOptions::greedy()];
    for seed in [1, 2, 3] {
        all.push(SamplingOptions {
            temperature: 1.0,
            top_p: 0.95,
            seed: Some(seed),
            ..SamplingOptions::greedy()
        });
    }
    all
}

#[test]
fn json_schema_outputs_parse_and_validate_on_every_decoder() {
    let schema: serde_json::Value = serde_json::from_str(ACTION_ITEMS).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for name in DECODERS {
        let g = load(name);
        for prompt in PROMPTS {
            for sampling in samplings() {
                let r = request(
                    prompt,
                    Constraint::JsonSchema(ACTION_ITEMS.into()),
                    sampling,
                );
                let out = run_streamed(&g, &r);
                let what = format!("{name} {prompt:?} {:?}: {:?}", r.sampling, out.text);
                assert_eq!(out.stop_reason, StopReason::Eos, "{what}");
                let value: serde_json::Value = serde_json::from_str(&out.text)
                    .unwrap_or_else(|e| panic!("{what}: not JSON: {e}"));
                assert!(validator.is_valid(&value), "{what}: does not validate");
            }
        }
    }
}

#[test]
fn choices_give_exactly_one_of_them() {
    let choices: Vec<String> = ["urgent", "later", "someday maybe", "\"quoted\" | {x}"]
        .map(String::from)
        .to_vec();
    for name in DECODERS {
        let g = load(name);
        let mut seen = std::collections::HashSet::new();
        for prompt in PROMPTS {
            for sampling in samplings() {
                let r = request(prompt, Constraint::Choices(choices.clone()), sampling);
                let out = run_streamed(&g, &r);
                assert!(choices.contains(&out.text), "{name}: {:?}", out.text);
                assert_eq!(out.stop_reason, StopReason::Eos, "{name}");
                seen.insert(out.text);
            }
        }
        assert!(!seen.is_empty());
    }
}

#[test]
fn regex_outputs_match_it_whole() {
    // A date: four digits, dash, month 01-12, dash, day 01-28.
    let rx = r"20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])";
    let is_date = |s: &str| {
        let b = s.as_bytes();
        s.len() == 10
            && s.starts_with("20")
            && b[2].is_ascii_digit()
            && b[3].is_ascii_digit()
            && b[4] == b'-'
            && b[7] == b'-'
            && (1..=12).contains(&s[5..7].parse::<u32>().unwrap_or(0))
            && (1..=28).contains(&s[8..10].parse::<u32>().unwrap_or(0))
    };
    for name in DECODERS {
        let g = load(name);
        for prompt in PROMPTS {
            for sampling in samplings() {
                let out =
                    run_streamed(&g, &request(prompt, Constraint::Regex(rx.into()), sampling));
                assert!(is_date(&out.text), "{name}: {:?}", out.text);
                assert_eq!(out.stop_reason, StopReason::Eos);
            }
        }
    }
}

#[test]
fn lark_grammar_outputs_follow_it() {
    let grammar = r#"
start: item ("," item){0,2}
item: NAME "=" NUMBER
NAME: /[a-z]{1,4}/
NUMBER: /[0-9]{1,3}/
"#;
    for name in ["gen-llama", "gen-gemma", "gen-fused"] {
        let g = load(name);
        for sampling in samplings() {
            let out = run_streamed(
                &g,
                &request(PROMPTS[0], Constraint::Grammar(grammar.into()), sampling),
            );
            let items: Vec<&str> = out.text.split(',').collect();
            assert!((1..=3).contains(&items.len()), "{name}: {:?}", out.text);
            for item in items {
                let (k, v) = item.split_once('=').unwrap_or_else(|| panic!("{item:?}"));
                assert!((1..=4).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_lowercase()));
                assert!((1..=3).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_digit()));
            }
        }
    }
}

/// A draft ends at the first token the constraint rejects; the tokens are the plain loop's.
#[test]
fn greedy_output_is_the_same_with_lookup_on_and_off() {
    let mut accepted = 0;
    for name in DECODERS {
        let g = load(name);
        for prompt in PROMPTS {
            for constraint in [
                Constraint::JsonSchema(ACTION_ITEMS.into()),
                Constraint::Regex("(the fox |hello world )+[a-z]{1,8}".into()),
            ] {
                let mut plain = request(prompt, constraint.clone(), SamplingOptions::greedy());
                plain.lookup = LookupOptions::off();
                let mut fast = plain.clone();
                fast.lookup = LookupOptions::default();
                let (a, b) = (run_streamed(&g, &plain), run_streamed(&g, &fast));
                assert_eq!(a.tokens, b.tokens, "{name} {prompt:?}");
                assert_eq!(a.stop_reason, b.stop_reason);
                accepted += b.stats.accepted_tokens;
            }
        }
    }
    assert!(
        accepted > 0,
        "no draft was ever accepted: lookup was not exercised"
    );
}

/// Nothing of one request's constraint state is left for the next, with the KV prefix
/// reused or not.
#[test]
fn the_constraint_starts_fresh_every_request() {
    let g = load("gen-llama");
    let r = request(
        PROMPTS[3],
        Constraint::JsonSchema(ACTION_ITEMS.into()),
        SamplingOptions::greedy(),
    );
    let first = run_streamed(&g, &r);
    let second = run_streamed(&g, &r);
    assert!(
        second.stats.reused_prompt_tokens > 0,
        "the prefix was reused"
    );
    assert_eq!(first.tokens, second.tokens);
    // An unconstrained request in between, then the constrained one again.
    let mut free = r.clone();
    free.constraint = None;
    run_streamed(&g, &free);
    assert_eq!(run_streamed(&g, &r).tokens, first.tokens);
}

#[test]
fn max_new_tokens_ends_a_constrained_run_as_such() {
    let g = load("gen-llama");
    let mut r = request(
        PROMPTS[0],
        Constraint::JsonSchema(ACTION_ITEMS.into()),
        SamplingOptions::greedy(),
    );
    r.max_new_tokens = Some(3);
    let out = run_streamed(&g, &r);
    assert_eq!(out.stop_reason, StopReason::MaxTokens);
    assert_eq!(out.tokens.len(), 3);
    assert!(out.text.starts_with('['), "{:?}", out.text);
}

#[test]
fn cancel_under_a_constraint_returns_promptly() {
    let g = load("gen-llama");
    let r = request(
        PROMPTS[0],
        Constraint::Regex("[a-z ]{1,400}".into()),
        SamplingOptions::greedy(),
    );
    let mut chunks = 0;
    let out = g
        .generate(&r, None, &mut |_| {
            chunks += 1;
            if chunks == 2 {
                Flow::Stop
            } else {
                Flow::Continue
            }
        })
        .unwrap();
    assert_eq!(out.stop_reason, StopReason::Cancelled);
    assert_eq!(chunks, 2);
    let cancel = CancelHandle::new();
    cancel.cancel();
    let out = g
        .generate(&r, Some(&cancel), &mut |_| Flow::Continue)
        .unwrap();
    assert_eq!(out.stop_reason, StopReason::Cancelled);
    assert!(out.tokens.is_empty());
}

fn error_of(g: &Generator, constraint: Constraint) -> nodespace::Error {
    let r = request("hello", constraint, SamplingOptions::greedy());
    match g.generate(&r, None, &mut |_| Flow::Continue) {
        Ok(out) => panic!("accepted, wrote {:?}", out.text),
        Err(e) => e,
    }
}

#[test]
fn malformed_and_unsatisfiable_constraints_are_invalid_arguments() {
    let g = load("gen-llama");
    let cases = [
        (
            Constraint::JsonSchema("{\"type\": ".into()),
            "not valid JSON",
        ),
        (
            Constraint::JsonSchema(r#"{"type": "strin"}"#.into()),
            "JSON Schema",
        ),
        (
            Constraint::JsonSchema(r#"{"type": "string", "minLength": 5, "maxLength": 2}"#.into()),
            "JSON Schema",
        ),
        (Constraint::Regex("(ab".into()), "regex"),
        (Constraint::Grammar("start: foo\n".into()), "grammar"),
        (Constraint::Grammar("start: \"a\" )\n".into()), "grammar"),
        (Constraint::Choices(vec![]), "empty"),
        (
            Constraint::Choices(vec!["a".into(), String::new()]),
            "choice 1",
        ),
    ];
    for (constraint, names) in cases {
        let e = error_of(&g, constraint.clone());
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{constraint:?}: {e}");
        assert!(e.message().contains(names), "{constraint:?}: {e}");
        println!("{constraint:?}: {e}");
    }
    // The regex error gives its position.
    let e = error_of(&g, Constraint::Regex("ab(c".into()));
    assert!(e.message().contains("unclosed group"), "{e}");
}
