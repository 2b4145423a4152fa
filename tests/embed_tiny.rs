//! Embeddings on the tiny committed models, checked against the independent Python
//! reference in each folder's expected.json (tokenizers + onnxruntime + numpy pooling).

mod common;

use common::*;
use nodespace::{Embedder, EmbedderOptions, ErrorKind, Pooling};

fn load(name: &str) -> Embedder {
    init();
    Embedder::new(EmbedderOptions::new(tiny(name))).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn expected(name: &str) -> (Vec<String>, Vec<Vec<f32>>, serde_json::Value) {
    let json = read_json(&tiny(name).join("expected.json"));
    let texts = strings(&json["texts"]);
    let vectors = json["embeddings"]
        .as_array()
        .unwrap()
        .iter()
        .map(floats)
        .collect();
    (texts, vectors, json)
}

fn assert_matches(name: &str, got: &[Vec<f32>], want: &[Vec<f32>], tol: f32) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let diff = max_abs_diff(g, w);
        assert!(
            diff <= tol,
            "{name}: text {i} differs from the reference by {diff}"
        );
    }
}

#[test]
fn every_tiny_model_matches_its_reference() {
    for name in [
        "embed-bert",
        "embed-bert-nott",
        "embed-pooled",
        "embed-decoder",
    ] {
        let embedder = load(name);
        let (texts, want, json) = expected(name);
        assert_eq!(
            embedder.dimension(),
            json["dimension"].as_u64().unwrap() as usize,
            "{name}"
        );
        assert_eq!(
            embedder.info().max_length,
            json["max_length"].as_u64().unwrap() as usize,
            "{name}"
        );
        // All texts at once: sorted, batched and padded internally, returned in input order.
        let got = embedder.embed(&texts).unwrap();
        assert_matches(name, &got, &want, 2e-5);
        for v in &got {
            let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-5, "{name}: norm {norm}");
        }
    }
}

#[test]
fn detected_settings() {
    let info = load("embed-bert").info().clone();
    assert_eq!(info.pooling, Some(Pooling::Mean));
    assert_eq!(info.output_name, "last_hidden_state");
    assert_eq!(info.provider.name, "CPUExecutionProvider");
    // This build has no provider feature: auto says so instead of a failed attempt.
    let reason = info.provider.fallback_reason.as_deref().unwrap_or("");
    assert!(
        reason.starts_with("auto: this build has no GPU provider")
            && reason.contains("cuda")
            && reason.ends_with("using CPU"),
        "auto on a CPU-only build must say why it runs on CPU: {reason:?}"
    );
    assert_eq!(load("embed-bert-nott").info().pooling, Some(Pooling::Cls));
    let pooled = load("embed-pooled").info().clone();
    assert_eq!(pooled.pooling, None);
    assert_eq!(pooled.output_name, "sentence_embedding");
    assert_eq!(
        load("embed-decoder").info().pooling,
        Some(Pooling::LastToken)
    );
}

#[test]
fn batching_does_not_change_results() {
    for name in ["embed-bert", "embed-decoder"] {
        let embedder = load(name);
        let (texts, _, _) = expected(name);
        let together = embedder.embed(&texts).unwrap();
        for (i, text) in texts.iter().enumerate() {
            let alone = embedder.embed(&[text]).unwrap();
            let diff = max_abs_diff(&alone[0], &together[i]);
            assert!(
                diff < 1e-5,
                "{name}: text {i} alone vs batched differs by {diff}"
            );
        }
    }
}

#[test]
fn small_token_budget_gives_same_vectors() {
    init();
    let (texts, want, _) = expected("embed-bert");
    let mut options = EmbedderOptions::new(tiny("embed-bert"));
    options.batch_token_budget = 20;
    options.max_batch_size = 3;
    let got = Embedder::new(options).unwrap().embed(&texts).unwrap();
    assert_matches("embed-bert budget 20", &got, &want, 2e-5);
}

#[test]
fn quantized_variant_is_selectable() {
    init();
    let json = read_json(&tiny("embed-bert").join("expected.json"));
    let variant = &json["variants"]["onnx/model_quantized.onnx"];
    let want: Vec<Vec<f32>> = variant["embeddings"]
        .as_array()
        .unwrap()
        .iter()
        .map(floats)
        .collect();
    let mut options = EmbedderOptions::new(tiny("embed-bert"));
    options.variant = Some("quantized".into());
    let embedder = Embedder::new(options).unwrap();
    assert!(embedder
        .info()
        .model_path
        .ends_with("onnx/model_quantized.onnx"));
    let texts = strings(&json["texts"]);
    // The reference was computed on one machine, and holds on any CPU: the fixture's
    // weights are 7-bit (models/make_tiny_embedders.py), so no ISA's int8 kernel saturates
    // and the integer products are exact everywhere; only fp32 rounding differs (<= 1e-7
    // measured under qemu as Haswell, Skylake-Server and SandyBridge), far inside 2e-5.
    // One text per run matches the one-by-one reference...
    let alone: Vec<Vec<f32>> = texts
        .iter()
        .map(|t| embedder.embed(&[t]).unwrap().remove(0))
        .collect();
    assert_matches("embed-bert quantized", &alone, &want, 2e-5);
    // ...while in a batch, dynamic int8 quantization scales activations over the whole
    // batch (padding included), so vectors move slightly.
    for (g, w) in embedder.embed(&texts).unwrap().iter().zip(&want) {
        assert!(
            cosine(g, w) > 0.999,
            "batched int8 vector too far from the reference"
        );
    }
}

#[test]
fn prompts_from_sentence_transformers_config() {
    init();
    let json = read_json(&tiny("embed-bert-nott").join("expected.json"));
    let texts = strings(&json["texts"]);
    for name in ["query", "passage"] {
        let mut options = EmbedderOptions::new(tiny("embed-bert-nott"));
        options.prompt_name = Some(name.into());
        let embedder = Embedder::new(options).unwrap();
        let want: Vec<Vec<f32>> = json["prompted"][name]["embeddings"]
            .as_array()
            .unwrap()
            .iter()
            .map(floats)
            .collect();
        assert_matches(name, &embedder.embed(&texts).unwrap(), &want, 2e-5);
    }
    let mut options = EmbedderOptions::new(tiny("embed-bert-nott"));
    options.prompt_name = Some("document".into());
    let err = Embedder::new(options).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(
        err.message().contains("query") && err.message().contains("document"),
        "{err}"
    );
}

#[test]
fn prompt_chosen_per_call_with_one_model() {
    init();
    let json = read_json(&tiny("embed-bert-nott").join("expected.json"));
    let texts = strings(&json["texts"]);
    let plain = Embedder::new(EmbedderOptions::new(tiny("embed-bert-nott"))).unwrap();
    assert_eq!(
        plain.info().prompts.keys().collect::<Vec<_>>(),
        ["passage", "query"]
    );
    let unprompted = plain.embed(&texts).unwrap();
    for name in ["query", "passage"] {
        let got = plain.embed_with_prompt(&texts, name).unwrap();
        let want: Vec<Vec<f32>> = json["prompted"][name]["embeddings"]
            .as_array()
            .unwrap()
            .iter()
            .map(floats)
            .collect();
        assert_matches(name, &got, &want, 2e-5);
        // The same bits as an embedder made for that prompt: applied once, not twice.
        let mut options = EmbedderOptions::new(tiny("embed-bert-nott"));
        options.prompt_name = Some(name.into());
        let dedicated = Embedder::new(options).unwrap();
        assert_eq!(got, dedicated.embed(&texts).unwrap(), "{name}");
        // A per-call prompt replaces the embedder's own, it does not stack on it.
        let other = if name == "query" { "passage" } else { "query" };
        assert_eq!(
            dedicated.embed_with_prompt(&texts, other).unwrap(),
            plain.embed_with_prompt(&texts, other).unwrap()
        );
    }
    // The per-call choice leaves the embedder's own prompt alone.
    assert_eq!(plain.embed(&texts).unwrap(), unprompted);
    let err = plain.embed_with_prompt(&texts, "document").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(
        err.message().contains("'document'") && err.message().contains("passage, query"),
        "{err}"
    );
}

#[test]
fn truncation_is_silent_only_when_asked() {
    init();
    let mut options = EmbedderOptions::new(tiny("embed-bert"));
    options.max_length = Some(16);
    let cutting = Embedder::new(options.clone()).unwrap();
    assert!(!cutting.info().fail_on_truncation);
    options.fail_on_truncation = true;
    let strict = Embedder::new(options).unwrap();
    assert!(strict.info().fail_on_truncation);
    assert_eq!(strict.info().max_length, 16);

    let short = "a short note";
    let long = "cat ".repeat(40);
    // Texts that fit give the same vectors either way.
    assert_eq!(
        strict.embed(&[short]).unwrap(),
        cutting.embed(&[short]).unwrap()
    );
    // The default cuts the long text to 16 tokens: the same vector as its first 14 words
    // (plus [CLS] and [SEP]).
    let first_words = "cat ".repeat(14);
    assert_eq!(
        cutting.embed(&[long.as_str()]).unwrap(),
        cutting.embed(&[first_words.as_str()]).unwrap()
    );
    assert_eq!(
        strict.embed(&[first_words.as_str()]).unwrap(),
        cutting.embed(&[first_words.as_str()]).unwrap()
    );
    // fail_on_truncation refuses it, naming the text and its length, and writes nothing.
    let err = strict.embed(&[short, long.as_str()]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ContextOverflow);
    assert!(
        err.message().contains("text 1 is 42 tokens") && err.message().contains("at most 16"),
        "{err}"
    );
    let fifteen_words = "cat ".repeat(15);
    let err = strict.embed(&[fifteen_words.as_str()]).unwrap_err();
    assert!(err.message().contains("text 0 is 17 tokens"), "{err}");
}

#[test]
fn normalize_off_and_matryoshka_truncation() {
    init();
    let (texts, want, _) = expected("embed-bert");
    let mut options = EmbedderOptions::new(tiny("embed-bert"));
    options.normalize = false;
    let raw = Embedder::new(options).unwrap().embed(&texts).unwrap();
    for (r, w) in raw.iter().zip(&want) {
        assert!(cosine(r, w) > 0.99999);
        let norm: f32 = r.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() > 1e-3, "unnormalized vector has norm 1");
    }
    let mut options = EmbedderOptions::new(tiny("embed-bert"));
    options.output_dimension = Some(8);
    let short = Embedder::new(options).unwrap();
    assert_eq!(short.dimension(), 8);
    let got = short.embed(&texts).unwrap();
    for (g, r) in got.iter().zip(&raw) {
        assert!(cosine(g, &r[..8]) > 0.99999);
        let norm: f32 = g.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
    }
    let mut options = EmbedderOptions::new(tiny("embed-bert"));
    options.output_dimension = Some(33);
    assert_eq!(
        Embedder::new(options).err().unwrap().kind(),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn pooling_override() {
    init();
    let mut options = EmbedderOptions::new(tiny("embed-bert"));
    options.pooling = Some(Pooling::Cls);
    let cls = Embedder::new(options).unwrap();
    assert_eq!(cls.info().pooling, Some(Pooling::Cls));
    let (texts, want, _) = expected("embed-bert");
    let got = cls.embed(&texts[..1]).unwrap();
    assert!(
        cosine(&got[0], &want[0]) < 0.9999,
        "CLS pooling gave the mean-pooled vector"
    );
}

#[test]
fn shared_between_threads_with_identical_results() {
    let embedder = load("embed-bert");
    let (texts, _, _) = expected("embed-bert");
    let single = embedder.embed(&texts).unwrap();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    (0..5)
                        .map(|_| embedder.embed(&texts).unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            for got in h.join().unwrap() {
                assert_eq!(got, single, "a thread got different bits");
            }
        }
    });
}

#[test]
fn input_errors() {
    let embedder = load("embed-bert");
    let empty: [&str; 0] = [];
    let err = embedder.embed(&empty).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.message().contains("empty"), "{err}");
    let mut small = vec![0.0; 10];
    let err = embedder.embed_into(&["a"], &mut small).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BufferTooSmall);
    assert!(err.message().contains("32"), "{err}");
    // The empty string is valid input.
    assert_eq!(embedder.embed(&[""]).unwrap()[0].len(), 32);
}

#[test]
fn model_folder_errors() {
    init();
    let missing = std::env::temp_dir().join("nodespace-no-such-model");
    let err = Embedder::new(EmbedderOptions::new(&missing)).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::ModelNotFound);
    assert!(err.message().contains("nodespace-no-such-model"), "{err}");

    let mut options = EmbedderOptions::new(tiny("embed-bert"));
    options.variant = Some("int4".into());
    let err = Embedder::new(options).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::ModelNotFound);
    assert!(
        err.message().contains("quantized"),
        "should list available variants: {err}"
    );

    let dir = ScratchModel::copy_of("embed-bert", "garbage-tokenizer");
    std::fs::write(dir.join("tokenizer.json"), "{ not json").unwrap();
    let err = Embedder::new(EmbedderOptions::new(&*dir)).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::Tokenizer);
    assert!(err.message().contains("tokenizer.json"), "{err}");

    let dir = ScratchModel::copy_of("embed-bert", "bad-pooling");
    std::fs::write(
        dir.join("1_Pooling/config.json"),
        r#"{"pooling_mode_mean_tokens": true, "pooling_mode_cls_token": true}"#,
    )
    .unwrap();
    let err = Embedder::new(EmbedderOptions::new(&*dir)).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::ModelInvalid);
    assert!(
        err.message().contains("1_Pooling") && err.message().contains("several"),
        "{err}"
    );

    let dir = ScratchModel::copy_of("embed-bert", "truncated-onnx");
    let model = dir.join("onnx/model.onnx");
    let bytes = std::fs::read(&model).unwrap();
    std::fs::write(&model, &bytes[..bytes.len() / 3]).unwrap();
    let err = Embedder::new(EmbedderOptions::new(&*dir)).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::ModelInvalid, "{err}");
    assert!(err.message().contains("model.onnx"), "{err}");
}

#[test]
fn generation_model_is_rejected() {
    init();
    let dir = tiny("gen-llama");
    if !dir.exists() {
        panic!("models/tiny/gen-llama is missing: run models/make_tiny_decoders.py");
    }
    let err = Embedder::new(EmbedderOptions::new(&*dir)).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::ModelInvalid);
    assert!(err.message().contains("not an embedding model"), "{err}");
}
