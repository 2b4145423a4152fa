//! The example CLI's help and usage errors: `--help`/`-h` print usage to stdout and exit 0,
//! no command or an unknown one print usage to stderr and exit 2 (naming the unknown
//! command). `cargo test` builds the examples beside the test binaries
//! (target/<profile>/examples/cli); when the CLI is not there the tests say so and pass.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use common::{init, tiny};

fn cli() -> Option<PathBuf> {
    let exe = if cfg!(windows) { "cli.exe" } else { "cli" };
    // target/<profile>/deps/cli-<hash> -> target/<profile>/examples/cli
    let beside = std::env::current_exe()
        .ok()
        .and_then(|p| Some(p.parent()?.parent()?.join("examples").join(exe)));
    let release = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target/release/examples")
        .join(exe);
    let found = beside.into_iter().chain([release]).find(|p| p.is_file());
    if found.is_none() {
        eprintln!("SKIPPED: no examples/cli built (cargo build --release --example cli)");
    }
    found
}

fn run(cli: &PathBuf, args: &[&str]) -> Output {
    Command::new(cli).args(args).output().expect("run the cli")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_prints_usage_to_stdout_and_succeeds() {
    let Some(cli) = cli() else { return };
    for args in [&["--help"][..], &["-h"], &["help"]] {
        let out = run(&cli, args);
        assert_eq!(out.status.code(), Some(0), "cli {args:?}");
        let stdout = text(&out.stdout);
        for command in ["cli embed", "cli info", "cli generate", "cli chat"] {
            assert!(stdout.contains(command), "cli {args:?}: {stdout}");
        }
        assert!(out.stderr.is_empty(), "cli {args:?}: {}", text(&out.stderr));
    }
}

#[test]
fn command_help_prints_that_commands_usage() {
    let Some(cli) = cli() else { return };
    for command in ["embed", "info", "generate", "chat"] {
        for flag in ["--help", "-h"] {
            let out = run(&cli, &[command, flag]);
            assert_eq!(out.status.code(), Some(0), "cli {command} {flag}");
            let stdout = text(&out.stdout);
            assert!(
                stdout.starts_with("usage:"),
                "cli {command} {flag}: {stdout}"
            );
            assert!(
                stdout.contains(&format!("cli {command} ")),
                "cli {command} {flag}: {stdout}"
            );
        }
    }
    // Also after other flags.
    let out = run(&cli, &["embed", "--model", "nowhere", "--help"]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn no_command_prints_usage_to_stderr() {
    let Some(cli) = cli() else { return };
    let out = run(&cli, &[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("no command given") && stderr.contains("cli embed"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn unknown_command_is_named() {
    let Some(cli) = cli() else { return };
    let out = run(&cli, &["xyz"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("error: unknown command 'xyz'"), "{stderr}");
    assert!(stderr.contains("cli generate"), "{stderr}");
}

/// `generate --lookup on|off --json` on a tiny fused decoder: the same greedy tokens both
/// ways, the stats carry drafted_tokens and accepted_tokens (0 with lookup off; drafts on a
/// prompt of repeated words, which the tiny decoder's output repeats), a bad value is named.
#[test]
fn generate_lookup_flag_and_json_stats() {
    let Some(cli) = cli() else { return };
    init();
    let model = tiny("gen-fused");
    let model = model.to_str().unwrap();
    let json = |lookup: &str, prompt: &str| -> serde_json::Value {
        let out = run(
            &cli,
            &[
                "generate",
                "--model",
                model,
                "--prompt",
                prompt,
                "--greedy",
                "--max-new-tokens",
                "60",
                "--lookup",
                lookup,
                "--json",
            ],
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("one JSON object")
    };
    let mut drafted = 0;
    for prompt in [
        "the fox the fox the fox",
        "1 2 1 2 1 2",
        "a b a b a b",
        "hello world hello world",
    ] {
        let (on, off) = (json("on", prompt), json("off", prompt));
        assert_eq!(
            on["tokens"], off["tokens"],
            "{prompt}: --lookup changed the greedy tokens"
        );
        assert_eq!(off["stats"]["drafted_tokens"], 0, "{prompt}");
        assert_eq!(off["stats"]["accepted_tokens"], 0, "{prompt}");
        let d = on["stats"]["drafted_tokens"]
            .as_u64()
            .expect("drafted_tokens");
        assert!(
            on["stats"]["accepted_tokens"]
                .as_u64()
                .expect("accepted_tokens")
                <= d
        );
        drafted += d;
    }
    assert!(drafted > 0, "no drafts on prompts of repeated words");
    let out = run(
        &cli,
        &[
            "generate", "--model", model, "--prompt", "x", "--lookup", "maybe",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--lookup maybe: expected on, off or force"),
        "{}",
        text(&out.stderr)
    );
}

/// `--choice`, `--regex`, `--json-schema FILE` and `--grammar FILE` constrain the output
/// (the tiny model's random weights would not write these by chance); a malformed one
/// fails naming the error, two at once are refused.
#[test]
fn generate_constraint_flags() {
    let Some(cli) = cli() else { return };
    init();
    let model = tiny("gen-llama");
    let model = model.to_str().unwrap();
    let dir = std::env::temp_dir().join(format!("ns-cli-constraints-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let schema = dir.join("schema.json");
    std::fs::write(
        &schema,
        r#"{"type": "object", "properties": {"n": {"type": "integer", "minimum": 0, "maximum": 99}},
            "required": ["n"], "additionalProperties": false, "x-guidance": {"whitespace_flexible": false}}"#,
    )
    .unwrap();
    let grammar = dir.join("yes_no.lark");
    std::fs::write(&grammar, "start: (\"yes\" | \"no\") \"!\"\n").unwrap();
    let generate = |flags: &[&str]| -> Output {
        let mut args = vec![
            "generate", "--model", model, "--prompt", "the fox", "--greedy", "--json",
        ];
        args.extend_from_slice(flags);
        run(&cli, &args)
    };
    let text_of = |flags: &[&str]| -> String {
        let out = generate(flags);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{flags:?}: {}",
            text(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
        assert_eq!(v["stop_reason"], "eos", "{flags:?}: {v}");
        v["text"].as_str().unwrap().to_string()
    };
    let choice = text_of(&["--choice", "red,green,blue"]);
    assert!(
        ["red", "green", "blue"].contains(&choice.as_str()),
        "{choice:?}"
    );
    let number = text_of(&["--regex", "[0-9]{3}"]);
    assert!(
        number.len() == 3 && number.bytes().all(|b| b.is_ascii_digit()),
        "{number:?}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&text_of(&["--json-schema", schema.to_str().unwrap()])).unwrap();
    assert!(json["n"].as_u64().is_some_and(|n| n <= 99), "{json}");
    let answer = text_of(&["--grammar", grammar.to_str().unwrap()]);
    assert!(answer == "yes!" || answer == "no!", "{answer:?}");

    let out = generate(&["--regex", "[0-9"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("invalid regex"),
        "{}",
        text(&out.stderr)
    );
    let out = generate(&["--regex", "a", "--choice", "a,b"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("at most one of"),
        "{}",
        text(&out.stderr)
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// `--tools FILE` with `--tool-choice one`: one call, in the JSON output's `tool_calls` and
/// printed after the text; `--messages FILE` renders a follow-up turn with the call and its
/// result; bad values are errors naming the flag.
#[test]
fn generate_tool_flags() {
    let Some(cli) = cli() else { return };
    init();
    let model = tiny("gen-llama");
    let model = model.to_str().unwrap();
    let dir = std::env::temp_dir().join(format!("ns-cli-tools-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let tools = dir.join("tools.json");
    std::fs::write(
        &tools,
        r#"[{"type": "function", "function": {"name": "find", "parameters": {"type": "object",
            "properties": {"n": {"type": "integer", "minimum": 1, "maximum": 9}}, "required": ["n"]}}}]"#,
    )
    .unwrap();
    let tools = tools.to_str().unwrap();
    let chat = dir.join("chat.json");
    std::fs::write(
        &chat,
        r#"[{"role": "system", "content": "s"}, {"role": "user", "content": "find 2"},
            {"role": "assistant", "content": "", "tool_calls": [{"name": "find", "arguments": {"n": 2}}]},
            {"role": "tool", "content": "ok"}]"#,
    )
    .unwrap();
    let chat = chat.to_str().unwrap();
    let base = [
        "generate",
        "--model",
        model,
        "--greedy",
        "--max-new-tokens",
        "100",
    ];
    let run_with = |flags: &[&str]| -> Output {
        let mut args = base.to_vec();
        args.extend_from_slice(flags);
        run(&cli, &args)
    };
    let out = run_with(&[
        "--user",
        "find 3",
        "--tools",
        tools,
        "--tool-choice",
        "one",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(v["stop_reason"], "eos", "{v}");
    let calls = v["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 1, "{v}");
    assert_eq!(calls[0]["name"], "find");
    assert!(
        calls[0]["arguments"]["n"]
            .as_u64()
            .is_some_and(|n| (1..=9).contains(&n)),
        "{v}"
    );
    let out = run_with(&["--user", "find 3", "--tools", tools, "--tool-choice", "one"]);
    assert!(
        text(&out.stdout).contains("[tool call] find {\"n\":"),
        "{}",
        text(&out.stdout)
    );
    let out = run_with(&["--messages", chat, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["prompt_tokens"].as_array().unwrap().len() > 30, "{v}");
    for (flags, says) in [
        (
            vec!["--user", "x", "--tools", tools, "--tool-choice", "maybe"],
            "--tool-choice maybe",
        ),
        (vec!["--user", "x", "--tool-choice", "one"], "needs --tools"),
        (vec!["--user", "x", "--messages", chat], "give one of"),
        (vec!["--messages", tools], "--messages"),
        (vec!["--user", "x", "--tools", chat], "--tools"),
    ] {
        let out = run_with(&flags);
        assert_eq!(out.status.code(), Some(1), "{flags:?}");
        assert!(
            text(&out.stderr).contains(says),
            "{flags:?}: {}",
            text(&out.stderr)
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// `cli info` on a generation model names its family (config.json's model_type), how the
/// graph stores its weights (the converter's `quantization` metadata), its context and
/// whether prompt lookup is on (off, with the reason, on a dynamic int8 graph).
#[test]
fn info_shows_family_weights_and_context() {
    let Some(cli) = cli() else { return };
    init();
    let info = |dir: &std::path::Path, variant: Option<&str>| -> String {
        let mut args = vec!["info", "--model", dir.to_str().unwrap()];
        args.extend(variant.map(|v| ["--variant", v]).into_iter().flatten());
        let out = run(&cli, &args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    let tiny_info = info(&tiny("gen-fused"), None);
    assert!(tiny_info.contains("family:      llama\n"), "{tiny_info}");
    assert!(
        tiny_info.contains("weights:     not recorded in the graph\n"),
        "{tiny_info}"
    );
    assert!(
        tiny_info.contains("context:     128 tokens\n"),
        "{tiny_info}"
    );
    assert!(
        tiny_info.contains("lookup:      on (drafts cannot change the output)\n"),
        "{tiny_info}"
    );
    let int8_info = info(&tiny("gen-llama"), Some("quantized"));
    assert!(
        int8_info.contains("lookup:      off by default: the graph quantizes activations with one scale per pass (DynamicQuantizeLinear)"),
        "{int8_info}"
    );

    let Some(qwen) = common::real("Qwen2.5-Coder-0.5B-Instruct") else {
        return;
    };
    let qwen_info = info(&qwen, None);
    assert!(qwen_info.contains("family:      qwen2\n"), "{qwen_info}");
    assert!(
        qwen_info
            .contains("weights:     fp32, dequantized from GGUF Q4_K, Q5_0, Q6_K, Q8_0 blocks\n"),
        "{qwen_info}"
    );
    assert!(
        qwen_info.contains("context:     32768 tokens\n"),
        "{qwen_info}"
    );
    let qwen_q4 = info(&qwen, Some("q4"));
    assert!(
        qwen_q4.contains(
            "weights:     GGUF Q4_K blocks as 4-bit MatMulNBits, Q5_0/Q6_K/Q8_0 as 8-bit, kept exactly; fp32 norms\n"
        ),
        "{qwen_q4}"
    );
    let smollm2 = common::real("SmolLM2-135M-Instruct").unwrap();
    let q4_info = info(&smollm2, Some("q4"));
    assert!(q4_info.contains("family:      llama\n"), "{q4_info}");
    assert!(
        q4_info.contains("GGUF Q4_1 blocks as 4-bit MatMulNBits"),
        "{q4_info}"
    );
}

/// `cli info` on an embedder lists its named prompts and says what happens to long texts;
/// `embed --fail-on-truncation` makes a text over the max length an error naming it.
#[test]
fn embed_prompts_and_truncation_flags() {
    let Some(cli) = cli() else { return };
    init();
    let dir = tiny("embed-bert-nott");
    let model = dir.to_str().unwrap();
    let out = run(&cli, &["info", "--model", model]);
    let info = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        info.contains("prompts:     passage, query (--prompt-name)\n"),
        "{info}"
    );
    assert!(info.contains("longer texts are truncated"), "{info}");
    let long = "cat ".repeat(600);
    let cut = run(&cli, &["embed", "--model", model, "--json", &long]);
    assert_eq!(cut.status.code(), Some(0), "{}", text(&cut.stderr));
    let refused = run(
        &cli,
        &[
            "embed",
            "--model",
            model,
            "--fail-on-truncation",
            "--json",
            "a",
            &long,
        ],
    );
    assert_eq!(refused.status.code(), Some(1));
    let err = text(&refused.stderr);
    assert!(err.contains("text 1 is 602 tokens"), "{err}");
    assert!(
        refused.stdout.is_empty(),
        "vectors printed before the error"
    );
}
