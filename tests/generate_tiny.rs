//! Generation on the tiny committed decoders: greedy ids against each folder's
//! expected.json (an independent numpy reference), streaming, stopping, cancellation.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use nodespace::{
    CancelHandle, ChatMessage, ErrorKind, Flow, GenerateRequest, Generator, GeneratorOptions,
    Prompt, SamplingOptions, StopReason,
};

fn load(name: &str) -> Generator {
    init();
    Generator::new(GeneratorOptions::new(tiny(name))).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn greedy(prompt: Prompt, max_new_tokens: usize) -> GenerateRequest {
    let mut r = GenerateRequest::new(prompt);
    r.max_new_tokens = Some(max_new_tokens);
    r.sampling = Some(SamplingOptions::greedy());
    r
}

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

/// The prompt of an expected.json case: a raw `prompt` string or chat `messages`.
fn case_prompt(case: &serde_json::Value) -> Prompt {
    if let Some(messages) = case.get("messages").and_then(|m| m.as_array()) {
        Prompt::Chat(
            messages
                .iter()
                .map(|m| {
                    ChatMessage::new(m["role"].as_str().unwrap(), m["content"].as_str().unwrap())
                })
                .collect(),
        )
    } else {
        Prompt::Text(
            case["prompt"]
                .as_str()
                .expect("case has a prompt or messages")
                .to_string(),
        )
    }
}

#[test]
fn greedy_ids_match_the_reference_for_every_decoder() {
    for name in DECODERS {
        let g = load(name);
        let expected = read_json(&tiny(name).join("expected.json"));
        let cases = expected["cases"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: expected.json has no cases"));
        assert!(!cases.is_empty());
        for (i, case) in cases.iter().enumerate() {
            let prompt = case_prompt(case);
            let want_prompt = ids(&case["prompt_ids"]);
            assert_eq!(
                g.prompt_tokens(&prompt).unwrap(),
                want_prompt,
                "{name} case {i}: prompt ids"
            );
            let want = ids(&case["generated_ids"]);
            let (result, chunks) = run(&g, &greedy(prompt, want.len()));
            assert_eq!(result.tokens, want, "{name} case {i}: generated ids");
            assert_eq!(
                chunks.concat(),
                result.text,
                "{name} case {i}: chunks != text"
            );
        }
    }
}

#[test]
fn detected_graph_settings() {
    let info = load("gen-fp16kv").info().clone();
    assert_eq!(info.kv_dtype, "float16");
    assert!(info.layers >= 1 && info.head_dim > 0);
    let llama = load("gen-llama").info().clone();
    assert_eq!(llama.kv_dtype, "float32");
    assert!(llama.has_chat_template);
    assert!(!load("gen-notemplate").info().has_chat_template);
    // Only the GroupQueryAttention graph marked past_present_share_buffer extends its
    // cache in place (its longest reference case, 48 + 24 tokens, outgrows the first
    // 64-position buffers, so the reference test also covers growing them).
    assert!(!llama.kv_in_place);
    assert!(load("gen-fused").info().kv_in_place);
}

/// gen-llama is laid out as Optimum exports a model over 2 GB: the weights in ONNX external
/// data beside the graph (the reference test above checks its tokens). A copy loads from
/// anywhere (the data is found beside the graph, not in the working directory); without the
/// data file, loading fails with ModelInvalid naming the missing file.
#[test]
fn optimum_external_data_folder_runs_as_it_is() {
    let expected = read_json(&tiny("gen-llama").join("expected.json"));
    let data = tiny("gen-llama")
        .join("onnx")
        .join(expected["external_data"].as_str().unwrap());
    let graph = tiny("gen-llama").join("onnx/model.onnx");
    assert!(
        std::fs::metadata(&data).unwrap().len() > 5 * std::fs::metadata(&graph).unwrap().len(),
        "the weights are not in {}",
        data.display()
    );
    let copy = ScratchModel::copy_of("gen-llama", "external");
    let g = Generator::new(GeneratorOptions::new(&*copy)).unwrap();
    let case = &expected["cases"][0];
    let mut request = GenerateRequest::new(Prompt::Text(case["prompt"].as_str().unwrap().into()));
    request.max_new_tokens = Some(8);
    request.sampling = Some(SamplingOptions::greedy());
    let got = g.generate(&request, None, &mut |_| Flow::Continue).unwrap();
    let want: Vec<u32> = case["generated_ids"].as_array().unwrap()[..8]
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect();
    assert_eq!(got.tokens, want);

    let data_copy = copy.join("onnx/model.onnx_data");
    let bytes = std::fs::read(&data_copy).unwrap();
    std::fs::write(&data_copy, &bytes[..bytes.len() / 2]).unwrap();
    let err = Generator::new(GeneratorOptions::new(&*copy))
        .err()
        .expect("a graph with truncated external data must not load");
    assert_eq!(err.kind(), nodespace::ErrorKind::ModelInvalid, "{err}");

    std::fs::remove_file(&data_copy).unwrap();
    let err = Generator::new(GeneratorOptions::new(&*copy))
        .err()
        .expect("a graph without its external data must not load");
    assert_eq!(err.kind(), nodespace::ErrorKind::ModelInvalid, "{err}");
    assert!(err.to_string().contains("model.onnx_data"), "{err}");
}

#[test]
fn onnxruntime_genai_folder_runs_as_it_is() {
    // genai_config.json instead of config.json / generation_config.json, model.onnx at the
    // root, no metadata in the graph: the settings and the in-place cache come from the
    // config (the reference test above checks the tokens).
    let info = load("gen-genai").info().clone();
    let genai = read_json(&tiny("gen-genai").join("genai_config.json"));
    let decoder = &genai["model"]["decoder"];
    assert!(info.model_path.ends_with("gen-genai/model.onnx"));
    assert_eq!(
        info.head_dim,
        decoder["head_size"].as_u64().unwrap() as usize
    );
    assert_eq!(
        info.kv_heads,
        decoder["num_key_value_heads"].as_u64().unwrap() as usize
    );
    assert_eq!(
        info.layers,
        decoder["num_hidden_layers"].as_u64().unwrap() as usize
    );
    assert_eq!(
        info.context_length,
        genai["model"]["context_length"].as_u64().unwrap() as usize
    );
    assert_eq!(info.eos_token_ids, ids(&genai["model"]["eos_token_id"]));
    assert!(info.has_chat_template);
    assert!(info.kv_in_place, "search.past_present_share_buffer is true");

    // The flag is for the graph genai_config names: another file keeps a returned cache,
    // with the same tokens.
    let dir = ScratchModel::copy_of("gen-genai", "genai-other-file");
    let path = dir.join("genai_config.json");
    let mut config = read_json(&path);
    config["model"]["decoder"]["filename"] = "other.onnx".into();
    std::fs::write(&path, config.to_string()).unwrap();
    let other = Generator::new(GeneratorOptions::new(dir.to_path_buf())).unwrap();
    assert!(!other.info().kv_in_place);
    let expected = read_json(&tiny("gen-genai").join("expected.json"));
    let case = &expected["cases"][0];
    let want = ids(&case["generated_ids"]);
    assert_eq!(
        run(&other, &greedy(case_prompt(case), want.len())).0.tokens,
        want
    );
}

#[test]
fn chat_without_template_is_a_clear_error_and_raw_prompts_work() {
    let g = load("gen-notemplate");
    let err = g
        .generate(
            &greedy(Prompt::Chat(vec![ChatMessage::new("user", "hi")]), 4),
            None,
            &mut |_| Flow::Continue,
        )
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert!(err.message().contains("no chat template"), "{err}");
    let (r, _) = run(&g, &greedy(Prompt::Text("hello".into()), 4));
    assert!(r.stats.generated_tokens > 0);
}

/// Gemma 3's own template (gen-gemma-optimum carries it verbatim in tokenizer_config.json):
/// the reference test above checks its renderings (system folded into the first user turn,
/// a multi-turn chat) against transformers'; its own error on broken alternation comes back
/// as ErrorKind::Template (NS_ERR_TEMPLATE) with the template's message, not as a crash or a silent render.
#[test]
fn gemma_template_error_on_broken_alternation_is_a_status_with_its_message() {
    let g = load("gen-gemma-optimum");
    for chat in [
        vec![ChatMessage::new("user", "a"), ChatMessage::new("user", "b")],
        vec![ChatMessage::new("assistant", "a")],
    ] {
        let err = g
            .generate(&greedy(Prompt::Chat(chat), 4), None, &mut |_| {
                Flow::Continue
            })
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Template, "{err}");
        assert!(
            err.message()
                .contains("Conversation roles must alternate user/assistant/user/assistant/..."),
            "{err}"
        );
    }
}

/// Every id of a list of EOS ids stops generation, wherever it stands in the list (Gemma's
/// `[<eos>, <end_of_turn>]`): two tokens of the greedy output, x first at step i and y
/// first at step j > i, are made EOS ids in turn, with the model's own ids beside them.
#[test]
fn every_eos_id_of_a_list_stops_generation() {
    let name = "gen-gemma";
    let g = load(name);
    let prompt = Prompt::Text("hello world".into());
    let full = run(&g, &greedy(prompt.clone(), 24)).0;
    let first = |t: u32| full.tokens.iter().position(|&u| u == t).unwrap();
    let x = full.tokens[0];
    let y = *full.tokens.iter().find(|&&t| t != x).unwrap();
    let j = first(y);
    let eos = g.info().eos_token_ids.clone();
    assert_eq!(eos.len(), 2, "{eos:?}");
    let folder = ScratchModel::copy_of(name, "eos-list");
    for (list, stop_at) in [
        (vec![eos[0], y, eos[1]], j), // y in the middle
        (vec![eos[0], eos[1], y], j), // y last
        (vec![y, eos[0], x], 0),      // x last, y never reached
    ] {
        let ids: Vec<String> = list.iter().map(u32::to_string).collect();
        std::fs::write(
            folder.join("generation_config.json"),
            format!("{{\"eos_token_id\": [{}]}}", ids.join(", ")),
        )
        .unwrap();
        let g = Generator::new(GeneratorOptions::new(&*folder)).unwrap();
        let result = run(&g, &greedy(prompt.clone(), 24)).0;
        assert_eq!(result.stop_reason, StopReason::Eos, "eos {list:?}");
        assert_eq!(result.tokens, full.tokens[..stop_at], "eos {list:?}");
    }
}

/// The layout is told from the graph's inputs, whatever config.json's model_type says (all
/// three are gemma3_text here): without attention_mask the graph wants position ids from 1
/// (transformers.js), with it from 0 (Optimum: computed in the graph; ours: fed). Feeding
/// gen-gemma 0-based ids changes its tokens (its expected.json is checked above).
#[test]
fn gemma_layouts_run_as_they_are() {
    for name in ["gen-gemma", "gen-gemma-optimum"] {
        let info = load(name).info().clone();
        assert_eq!(info.family, "gemma3_text", "{name}");
        let expected = read_json(&tiny(name).join("expected.json"));
        let inputs = expected["inputs"].as_object().unwrap();
        assert_eq!(
            inputs.contains_key("attention_mask"),
            name == "gen-gemma-optimum",
            "{name}"
        );
        assert_eq!(
            inputs.contains_key("position_ids"),
            name == "gen-gemma",
            "{name}"
        );
    }
}

#[test]
fn stop_string_is_never_emitted_even_across_tokens() {
    let g = load("gen-llama");
    let (full, _) = run(&g, &greedy(Prompt::Text("hello world".into()), 24));
    assert!(
        full.text.chars().count() >= 6,
        "reference text too short: {:?}",
        full.text
    );
    // A stop string that starts inside the text, spanning whatever tokens it spans.
    let chars: Vec<char> = full.text.chars().collect();
    let start = chars.len() / 2;
    let stop: String = chars[start..(start + 3).min(chars.len())].iter().collect();
    let mut r = greedy(Prompt::Text("hello world".into()), 24);
    r.stop = vec![stop.clone()];
    let (result, chunks) = run(&g, &r);
    assert_eq!(result.stop_reason, StopReason::StopString);
    let prefix: String = full.text[..full.text.find(&stop).unwrap()].to_string();
    assert_eq!(result.text, prefix);
    assert_eq!(chunks.concat(), prefix);
    assert!(!chunks.concat().contains(&stop));

    // An empty stop string cannot be "never emitted": it is refused, naming which one.
    r.stop = vec!["ok".into(), String::new()];
    let err = g.generate(&r, None, &mut |_| Flow::Continue).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.message().contains("stop string 1 is empty"), "{err}");
}

#[test]
fn chunks_are_whole_utf8_and_concatenate_to_the_text() {
    for name in ["gen-llama", "gen-gemma", "gen-gemma-optimum"] {
        let g = load(name);
        let (result, chunks) = run(&g, &greedy(Prompt::Text("naïve café 東京 🍕".into()), 40));
        assert_eq!(chunks.concat(), result.text);
        for c in &chunks {
            assert!(!c.is_empty());
            // &str is UTF-8 by construction; a split character would show up as U+FFFD.
            assert!(!c.contains('\u{FFFD}') || result.text.contains('\u{FFFD}'));
        }
    }
}

#[test]
fn sampling_is_reproducible_with_a_seed() {
    let g = load("gen-llama");
    let mut r = GenerateRequest::new(Prompt::Text("hello".into()));
    r.max_new_tokens = Some(20);
    r.sampling = Some(SamplingOptions {
        temperature: 1.5,
        top_p: 0.95,
        top_k: 50,
        seed: Some(42),
        ..SamplingOptions::greedy()
    });
    let a = run(&g, &r).0.tokens;
    let b = run(&g, &r).0.tokens;
    assert_eq!(a, b);
    r.sampling.as_mut().unwrap().seed = Some(43);
    let c = run(&g, &r).0.tokens;
    let greedy_tokens = run(&g, &greedy(Prompt::Text("hello".into()), 20)).0.tokens;
    assert!(
        c != a || a != greedy_tokens,
        "seeded sampling looks like greedy decoding"
    );
}

#[test]
fn callback_stop_and_cancel_handle() {
    let g = load("gen-llama");
    let calls = AtomicUsize::new(0);
    let r = greedy(Prompt::Text("hello".into()), 30);
    let result = g
        .generate(&r, None, &mut |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            Flow::Stop
        })
        .unwrap();
    assert_eq!(result.stop_reason, StopReason::Cancelled);
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    let cancel = CancelHandle::new();
    let mut seen = 0;
    let result = g
        .generate(&r, Some(&cancel), &mut |_| {
            seen += 1;
            if seen == 3 {
                cancel.cancel();
            }
            Flow::Continue
        })
        .unwrap();
    assert_eq!(result.stop_reason, StopReason::Cancelled);
    assert!(result.tokens.len() < 30);
    // Still cancelled: returns at once. After reset, it works again.
    let again = g
        .generate(&r, Some(&cancel), &mut |_| Flow::Continue)
        .unwrap();
    assert_eq!(
        (again.stop_reason, again.tokens.len()),
        (StopReason::Cancelled, 0)
    );
    cancel.reset();
    assert_ne!(
        g.generate(&r, Some(&cancel), &mut |_| Flow::Continue)
            .unwrap()
            .stop_reason,
        StopReason::Cancelled
    );
}

/// With every session busy, a queued generation waits in the pool; cancelling it must end
/// that wait at once (not when the running one frees its session), and the running one
/// must not notice.
#[test]
fn cancel_of_a_queued_generation_returns_promptly() {
    init();
    let mut options = GeneratorOptions::new(tiny("gen-llama"));
    options.max_sessions = 1;
    let g = Generator::new(options).unwrap();
    let r = greedy(Prompt::Text("hello".into()), 20);
    let solo = run(&g, &r).0.tokens;
    let (holding_tx, holding_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    std::thread::scope(|s| {
        // The running generation holds the only session inside its first callback.
        let (g, r) = (&g, &r);
        let running = s.spawn(move || {
            let mut first = true;
            g.generate(r, None, &mut |_| {
                if std::mem::take(&mut first) {
                    holding_tx.send(()).unwrap();
                    release_rx.recv().unwrap();
                }
                Flow::Continue
            })
            .unwrap()
        });
        holding_rx.recv().unwrap();
        let cancel = CancelHandle::new();
        let queued_cancel = cancel.clone();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let queued = s.spawn(move || {
            let result = g
                .generate(r, Some(&queued_cancel), &mut |_| Flow::Continue)
                .unwrap();
            done_tx.send(std::time::Instant::now()).unwrap();
            result
        });
        std::thread::sleep(std::time::Duration::from_millis(100)); // now waiting in the pool
        let cancelled_at = std::time::Instant::now();
        cancel.cancel();
        // Released after at most 2 s either way, so a broken cancel fails instead of hanging.
        let returned_at = done_rx.recv_timeout(std::time::Duration::from_secs(2));
        release_tx.send(()).unwrap();
        let result = queued.join().unwrap();
        let returned_at = returned_at.unwrap_or_else(|_| std::time::Instant::now());
        let waited = returned_at.duration_since(cancelled_at);
        assert_eq!(result.stop_reason, StopReason::Cancelled);
        assert!(result.tokens.is_empty());
        assert!(
            waited < std::time::Duration::from_millis(50),
            "the queued cancel took {waited:?}"
        );
        let finished = running.join().unwrap();
        assert_eq!(
            finished.tokens, solo,
            "the running generation was disturbed"
        );
    });
}

#[test]
fn context_limits() {
    // gen-fused's attention holds a spare row: at the context's end it takes the position
    // past the last one, which the KV cache and the rotary tables must have.
    for name in ["gen-llama", "gen-fused", "gen-genai"] {
        context_limits_of(name);
    }
}

fn context_limits_of(name: &str) {
    let g = load(name);
    let context = g.info().context_length;
    let long = "x y ".repeat(context);
    let err = g
        .generate(&greedy(Prompt::Text(long), 4), None, &mut |_| {
            Flow::Continue
        })
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ContextOverflow);
    // A prompt that leaves little room stops at the context, not at max_new_tokens.
    let tokens = g
        .prompt_tokens(&Prompt::Text("x y ".repeat(context / 8)))
        .unwrap()
        .len();
    assert!(tokens < context, "test prompt already too long");
    let (r, _) = run(
        &g,
        &greedy(Prompt::Text("x y ".repeat(context / 8)), context),
    );
    assert!(
        matches!(r.stop_reason, StopReason::ContextFull | StopReason::Eos),
        "{name}: {:?}",
        r.stop_reason
    );
    assert!(tokens + r.tokens.len() <= context, "{name}");
}

#[test]
fn concurrent_generations_are_independent() {
    let g = load("gen-llama");
    let solo = run(&g, &greedy(Prompt::Text("hello".into()), 20)).0.tokens;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| run(&g, &greedy(Prompt::Text("hello".into()), 20)).0.tokens))
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), solo);
        }
    });
}

#[test]
fn invalid_sampling_values_are_rejected() {
    let g = load("gen-llama");
    let mut r = GenerateRequest::new(Prompt::Text("hi".into()));
    r.sampling = Some(SamplingOptions {
        temperature: f32::NAN,
        ..SamplingOptions::greedy()
    });
    let err = g.generate(&r, None, &mut |_| Flow::Continue).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.message().contains("temperature"));
}

#[test]
fn follow_up_turn_reuses_the_kv_cache_with_identical_output() {
    for name in ["gen-llama", "gen-fused"] {
        follow_up_turn_reuses_the_kv_cache(name);
    }
}

fn follow_up_turn_reuses_the_kv_cache(name: &str) {
    let with_reuse = load(name);
    let mut options = GeneratorOptions::new(tiny(name));
    options.reuse_prefix = false;
    let without = Generator::new(options).unwrap();
    let mut chat = vec![ChatMessage::new("user", "hello there")];
    let first = run(&with_reuse, &greedy(Prompt::Chat(chat.clone()), 12)).0;
    assert_eq!(first.stats.reused_prompt_tokens, 0);
    chat.push(ChatMessage::new("assistant", first.text.clone()));
    chat.push(ChatMessage::new("user", "tell me more"));
    let reused = run(&with_reuse, &greedy(Prompt::Chat(chat.clone()), 12)).0;
    let fresh = run(&without, &greedy(Prompt::Chat(chat.clone()), 12)).0;
    assert!(
        reused.stats.reused_prompt_tokens > first.prompt_tokens.len() / 2,
        "reused only {} tokens",
        reused.stats.reused_prompt_tokens
    );
    assert_eq!(fresh.stats.reused_prompt_tokens, 0);
    assert_eq!(
        reused.tokens, fresh.tokens,
        "reusing the cache changed the output"
    );
    // A different conversation shares only the template's start: still correct.
    let other = vec![ChatMessage::new("user", "something else")];
    assert_eq!(
        run(&with_reuse, &greedy(Prompt::Chat(other.clone()), 12))
            .0
            .tokens,
        run(&without, &greedy(Prompt::Chat(other), 12)).0.tokens
    );
}

#[test]
fn chunked_prefill_gives_the_same_tokens() {
    for name in ["gen-llama", "gen-fused"] {
        let whole = load(name);
        let mut options = GeneratorOptions::new(tiny(name));
        options.prefill_chunk = 7;
        let chunked = Generator::new(options).unwrap();
        let prompt =
            Prompt::Text("a prompt long enough to need several chunks of seven tokens each".into());
        assert!(whole.prompt_tokens(&prompt).unwrap().len() > 14);
        assert_eq!(
            run(&chunked, &greedy(prompt.clone(), 16)).0.tokens,
            run(&whole, &greedy(prompt, 16)).0.tokens,
            "{name}"
        );
    }
}
