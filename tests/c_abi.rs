//! The C ABI, called from C: the examples and tests/c/abi_cases.c are compiled with the
//! system C compiler against include/nodespace.h and the built shared library
//! (`cargo build --release` first: cargo does not build the cdylib for tests).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::*;

/// target/<profile>, where the shared library of the same profile as this test lives.
fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

fn shared_library() -> PathBuf {
    let lib = lib_dir().join(if cfg!(target_os = "macos") {
        "libnodespace.dylib"
    } else {
        "libnodespace.so"
    });
    assert!(
        lib.exists(),
        "{} is missing: run `cargo build{}` before the tests",
        lib.display(),
        if cfg!(debug_assertions) {
            ""
        } else {
            " --release"
        }
    );
    lib
}

/// Compile `sources` into an executable linked against libnodespace (once per name).
fn compile(name: &str, sources: &[&str]) -> PathBuf {
    let out_dir = lib_dir().join("c-tests");
    std::fs::create_dir_all(&out_dir).unwrap();
    let exe = out_dir.join(name);
    let lib_dir = shared_library().parent().unwrap().to_path_buf();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&cc)
        .args([
            "-std=c11",
            "-D_GNU_SOURCE",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-g",
            "-O1",
        ])
        .arg(format!("-I{}", repo().join("include").display()))
        .args(sources.iter().map(|s| repo().join(s)))
        .arg(format!("-L{}", lib_dir.display()))
        .arg(format!("-Wl,-rpath,{}", lib_dir.display()))
        .args(["-lnodespace", "-lpthread", "-lm", "-o"])
        .arg(&exe)
        .status()
        .unwrap_or_else(|e| panic!("cannot run the C compiler {cc}: {e}"));
    assert!(status.success(), "compiling {sources:?} failed");
    exe
}

fn cases_exe() -> &'static Path {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| compile("abi_cases", &["tests/c/abi_cases.c"]))
}

fn run(exe: &Path, args: &[&str]) -> (bool, String, String) {
    init();
    let out = Command::new(exe)
        .args(args)
        .env("NS_TINY", repo().join("models/tiny"))
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", exe.display()));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.success(), stdout, stderr)
}

fn case(name: &str, arg: Option<&Path>) {
    let arg = arg.map(|p| p.display().to_string());
    let mut args = vec![name];
    if let Some(a) = &arg {
        args.push(a);
    }
    let (ok, stdout, stderr) = run(cases_exe(), &args);
    print!("{stdout}");
    assert!(
        ok,
        "C case {name} failed (it must return a status, never crash or hang):\n{stdout}{stderr}"
    );
}

macro_rules! cases {
    ($($name:ident),* $(,)?) => { $( #[test] fn $name() { case(stringify!($name), None); } )* };
}

cases!(
    null_handle,
    null_out_pointer,
    null_texts,
    invalid_utf8,
    count_zero,
    buffer_too_small,
    empty_text_is_valid,
    embed_prompt_and_truncation,
    struct_size_zero,
    struct_size_too_large,
    missing_model_folder,
    init_sizes,
    calls_during_thread_teardown,
    runtime_path_missing,
    cancel_while_queued,
    empty_stop_string,
    wrong_model_kind,
    callback_stops_at_once,
    cancel_mid_decode,
    free_null,
    internal_panic,
    bad_sampling_values,
    chat_without_template,
    prompt_too_long,
    use_after_free_detected,
    log_callback,
    lookup_option_and_stats,
    threads_share_embedder,
    two_generations_at_once,
    constraints,
    tools,
);

#[test]
fn truncated_onnx() {
    let dir = ScratchModel::copy_of("embed-bert", "c-truncated");
    let model = dir.join("onnx/model.onnx");
    let bytes = std::fs::read(&model).unwrap();
    std::fs::write(&model, &bytes[..bytes.len() / 2]).unwrap();
    case("truncated_onnx", Some(&*dir));
}

#[test]
fn garbage_tokenizer() {
    let dir = ScratchModel::copy_of("embed-bert", "c-tokenizer");
    std::fs::write(dir.join("tokenizer.json"), b"\x00garbage{").unwrap();
    case("garbage_tokenizer", Some(&*dir));
}

#[test]
fn token_ids_and_older_request() {
    let expected = read_json(&tiny("gen-llama").join("expected.json"));
    let case0 = &expected["cases"][0];
    assert_eq!(case0["prompt"], "hello world");
    let ids: Vec<String> = case0["generated_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.to_string())
        .collect();
    let ids = ids.join(",");
    case("token_ids_and_older_request", Some(Path::new(&ids)));
}

#[test]
fn runtime_of_the_wrong_version() {
    let lib = lib_dir().join("c-tests/libfake_onnxruntime.so");
    std::fs::create_dir_all(lib.parent().unwrap()).unwrap();
    let status = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args(["-shared", "-fPIC", "-o"])
        .arg(&lib)
        .arg(repo().join("tests/c/fake_onnxruntime.c"))
        .status()
        .unwrap();
    assert!(status.success());
    case("runtime_wrong_library", Some(&lib));
}

#[test]
fn runtime_that_is_not_onnxruntime() {
    // Any shared library without OrtGetApiBase: the C library itself.
    let libc = [
        "/lib/x86_64-linux-gnu/libc.so.6",
        "/lib/aarch64-linux-gnu/libc.so.6",
        "/usr/lib/libc.so.6",
    ]
    .into_iter()
    .map(Path::new)
    .find(|p| p.exists());
    let Some(libc) = libc else {
        eprintln!("*** SKIPPED: no libc.so.6 at a known path ***");
        return;
    };
    case("runtime_wrong_library", Some(libc));
}

#[test]
fn runtime_not_a_library() {
    let file = lib_dir().join("c-tests/not-a-library.so");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, "this is text, not a shared library\n").unwrap();
    case("runtime_not_a_library", Some(&file));
}

#[test]
fn cancel_mid_prefill() {
    // Needs a prompt whose prefill takes long enough to interrupt: the real SmolLM2.
    let Some(model) = real("SmolLM2-135M-Instruct") else {
        return;
    };
    case("cancel_mid_prefill", Some(&model));
}

#[test]
fn embed_example() {
    let exe = compile("embed", &["examples/c/embed.c"]);
    let (ok, stdout, stderr) = run(
        &exe,
        &[
            tiny("embed-bert").to_str().unwrap(),
            "a cat",
            "a cat",
            "stock prices fell",
        ],
    );
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("32 dimensions"), "{stdout}");
    // Identical texts have cosine 1; the matrix row of text 0 starts with two ones.
    assert!(stdout.contains("cos[0]: 1.0000 1.0000"), "{stdout}");
}

#[test]
fn generate_example() {
    let exe = compile("generate", &["examples/c/generate.c"]);
    let (ok, stdout, stderr) = run(&exe, &[tiny("gen-llama").to_str().unwrap(), "hello", "12"]);
    assert!(ok, "{stdout}{stderr}");
    assert!(stderr.contains("generated"), "{stderr}");
    // Greedy output equals the Rust API's for the same chat.
    init();
    let generator =
        nodespace::Generator::new(nodespace::GeneratorOptions::new(tiny("gen-llama"))).unwrap();
    let mut request = nodespace::GenerateRequest::new(nodespace::Prompt::Chat(vec![
        nodespace::ChatMessage::new("user", "hello"),
    ]));
    request.max_new_tokens = Some(12);
    request.sampling = Some(nodespace::SamplingOptions::greedy());
    let expected = generator
        .generate(&request, None, &mut |_| nodespace::Flow::Continue)
        .unwrap();
    assert_eq!(stdout.trim_end_matches('\n'), expected.text);
    // With a JSON Schema file: JSON that validates (the tiny model's random weights would
    // never write it by chance). Short strings: the tiny model's context is 128 tokens.
    let dir = ScratchModel::copy_of("gen-llama", "c-schema");
    let schema = dir.join("schema.json");
    std::fs::write(
        &schema,
        r#"{"type": "array", "minItems": 1, "maxItems": 2, "items": {"type": "object",
            "properties": {"owner": {"type": "string", "maxLength": 8}, "due": {"type": ["string", "null"], "maxLength": 8}},
            "required": ["owner", "due"], "additionalProperties": false}}"#,
    )
    .unwrap();
    let (ok, stdout, stderr) = run(
        &exe,
        &[
            tiny("gen-llama").to_str().unwrap(),
            "hello",
            "120",
            schema.to_str().unwrap(),
        ],
    );
    assert!(ok, "{stdout}{stderr}");
    let value: serde_json::Value = serde_json::from_str(stdout.trim_end_matches('\n'))
        .unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"));
    let schema = read_json(&schema);
    assert!(
        jsonschema::validator_for(&schema).unwrap().is_valid(&value),
        "{value}"
    );
    // With --tools: one call, printed by the on_tool_call callback after the text.
    let tools = dir.join("tools.json");
    std::fs::write(
        &tools,
        r#"[{"type": "function", "function": {"name": "find", "parameters": {"type": "object",
            "properties": {"n": {"type": "integer", "minimum": 1, "maximum": 9}}, "required": ["n"]}}}]"#,
    )
    .unwrap();
    let (ok, stdout, stderr) = run(
        &exe,
        &[
            tiny("gen-llama").to_str().unwrap(),
            "find 3",
            "100",
            "--tools",
            tools.to_str().unwrap(),
        ],
    );
    assert!(ok, "{stdout}{stderr}");
    assert!(
        stdout.starts_with("<tool_call>\n{\"name\": \"find\""),
        "{stdout}"
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("tool call 0: find "))
        .unwrap_or_else(|| panic!("{stdout}"));
    let arguments: serde_json::Value =
        serde_json::from_str(&line["tool call 0: find ".len()..]).unwrap();
    assert!(
        arguments["n"]
            .as_u64()
            .is_some_and(|n| (1..=9).contains(&n)),
        "{line}"
    );
}

#[test]
fn only_ns_symbols_are_exported() {
    let lib = shared_library();
    let out = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(&lib)
        .output()
        .expect("nm is needed for this test");
    let listing = String::from_utf8_lossy(&out.stdout);
    let symbols: Vec<&str> = listing
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    assert!(
        symbols.contains(&"ns_embed_batch"),
        "ns_embed_batch not exported:\n{listing}"
    );
    let foreign: Vec<&&str> = symbols.iter().filter(|s| !s.starts_with("ns_")).collect();
    assert!(
        foreign.is_empty(),
        "symbols other than ns_* are exported: {foreign:?}"
    );
}
