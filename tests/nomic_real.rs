//! nomic-embed-text-v1.5, converted by models/convert from its f16 GGUF, against llama.cpp's
//! embeddings of the same GGUF (tests/data/nomic_reference.json, made by
//! models/make_nomic_reference.py; llama.cpp was fed our tokenizer's ids, which this test
//! checks too). 13 texts with the task prefixes, from one token to ~2,000 (the context is
//! 2,048), one at a time and as one padded batch. Skips loudly when the model is not
//! installed (scripts/setup.sh installs it).
//!
//! Bound: cosine >= 0.9999 per text. Both sides run fp32 arithmetic on the same f16 weights
//! (ours dequantized exactly to fp32; llama.cpp's CPU kernels round activations to f16 for
//! f16 matrices), so the difference is llama.cpp's activation rounding, not the CPU: the
//! bound holds on AVX2, AVX-512 and NEON alike.

mod common;

use common::*;
use nodespace::{Embedder, EmbedderOptions};

fn reference() -> (Vec<String>, Vec<Vec<u32>>, Vec<Vec<f32>>) {
    let reference = read_json(&repo().join("tests/data/nomic_reference.json"));
    let texts = strings(&reference["texts"]);
    let ids = reference["input_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            v.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as u32)
                .collect()
        })
        .collect();
    let vectors = reference["embeddings"]
        .as_array()
        .unwrap()
        .iter()
        .map(floats)
        .collect();
    (texts, ids, vectors)
}

fn check(batch: bool) {
    init();
    let Some(dir) = real("nomic-embed-text-v1.5") else {
        return;
    };
    let (texts, _, want) = reference();
    let embedder = Embedder::new(EmbedderOptions::new(&dir)).unwrap();
    assert_eq!(embedder.dimension(), 768);
    assert_eq!(embedder.info().max_length, 2048);
    let got = if batch {
        embedder.embed(&texts).unwrap()
    } else {
        texts
            .iter()
            .map(|t| embedder.embed(&[t]).unwrap().remove(0))
            .collect()
    };
    let mut worst = (1.0f64, 0usize);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        let c = cosine(g, w);
        if c < worst.0 {
            worst = (c, i);
        }
    }
    eprintln!(
        "nomic-embed-text-v1.5 ({}): min cosine with llama.cpp {:.7} (text {})",
        if batch { "one batch" } else { "one at a time" },
        worst.0,
        worst.1
    );
    assert!(
        worst.0 >= 0.9999,
        "text {} {:?}: cosine {}",
        worst.1,
        texts[worst.1].chars().take(60).collect::<String>(),
        worst.0
    );
}

#[test]
fn matches_llama_cpp_one_at_a_time() {
    check(false);
}

#[test]
fn matches_llama_cpp_in_one_batch() {
    check(true);
}

/// The ids llama.cpp was fed are what the runtime's tokenizer.json gives, texts of 1,000+
/// tokens included.
#[test]
fn tokenizer_gives_the_reference_ids() {
    init();
    let Some(dir) = real("nomic-embed-text-v1.5") else {
        return;
    };
    let (texts, ids, _) = reference();
    let tokenizer = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).unwrap();
    assert!(
        ids.iter().any(|i| i.len() > 1000),
        "no text of 1,000+ tokens"
    );
    for (text, want) in texts.iter().zip(&ids) {
        let got = tokenizer.encode(text.as_str(), true).unwrap();
        let start: String = text.chars().take(60).collect();
        assert_eq!(got.get_ids(), want.as_slice(), "{start:?}");
    }
}

/// output_dimension follows the model card's Matryoshka procedure (layer norm over the pooled
/// vector, truncate, L2-normalize) at every size it was trained for, against the reference
/// made from llama.cpp's pooled vectors with numpy.
#[test]
fn matryoshka_sizes_match_the_model_card_procedure() {
    init();
    let Some(dir) = real("nomic-embed-text-v1.5") else {
        return;
    };
    let data = read_json(&repo().join("tests/data/nomic_reference.json"));
    let (texts, _, _) = reference();
    let chosen: Vec<&str> = data["matryoshka"]["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| texts[i.as_u64().unwrap() as usize].as_str())
        .collect();
    for dim in [768usize, 512, 256, 128, 64] {
        let mut options = EmbedderOptions::new(&dir);
        options.output_dimension = Some(dim);
        let embedder = Embedder::new(options).unwrap();
        assert_eq!(embedder.dimension(), dim);
        assert_eq!(
            embedder.info().matryoshka_dimensions,
            [768, 512, 256, 128, 64]
        );
        let got = embedder.embed(&chosen).unwrap();
        for (i, want) in data["matryoshka"][dim.to_string()]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
        {
            let c = cosine(&got[i], &floats(want));
            assert!(c >= 0.9999, "{dim} dimensions, text {i}: cosine {c}");
        }
    }
}

/// A size the model was not trained for is refused, naming the ones it was.
#[test]
fn untrained_matryoshka_size_is_refused() {
    init();
    let Some(dir) = real("nomic-embed-text-v1.5") else {
        return;
    };
    for dim in [300usize, 1000] {
        let mut options = EmbedderOptions::new(&dir);
        options.output_dimension = Some(dim);
        let e = Embedder::new(options)
            .err()
            .expect("an untrained size loads");
        assert_eq!(e.kind(), nodespace::ErrorKind::InvalidArgument, "{e}");
        assert!(e.to_string().contains(&dim.to_string()), "{e}");
        if dim == 300 {
            assert!(e.to_string().contains("768, 512, 256, 128, 64"), "{e}");
        }
    }
}

/// One loaded model serves every task: `embed_with_prompt` prepends the card's prefix once
/// (the same bits as the prefixed text, and llama.cpp's vector of it).
#[test]
fn task_prompts_chosen_per_call() {
    init();
    let Some(dir) = real("nomic-embed-text-v1.5") else {
        return;
    };
    let (texts, _, want) = reference();
    let embedder = Embedder::new(EmbedderOptions::new(&dir)).unwrap();
    assert_eq!(embedder.info().prompt, None);
    let mut used = 0;
    for (name, prefix) in [
        ("query", "search_query: "),
        ("document", "search_document: "),
        ("clustering", "clustering: "),
        ("classification", "classification: "),
    ] {
        assert_eq!(embedder.info().prompts[name], prefix);
        let chosen: Vec<usize> = (0..texts.len())
            .filter(|&i| texts[i].starts_with(prefix))
            .collect();
        let bare: Vec<&str> = chosen.iter().map(|&i| &texts[i][prefix.len()..]).collect();
        let full: Vec<&str> = chosen.iter().map(|&i| texts[i].as_str()).collect();
        let got = embedder.embed_with_prompt(&bare, name).unwrap();
        assert_eq!(got, embedder.embed(&full).unwrap(), "{name}");
        for (g, &i) in got.iter().zip(&chosen) {
            let c = cosine(g, &want[i]);
            assert!(c >= 0.9999, "{name}: text {i}: cosine {c}");
        }
        used += chosen.len();
    }
    assert!(used >= 10, "only {used} reference texts have a task prefix");
}

/// Texts up to the 2,048-token context embed with fail_on_truncation; a longer one is an
/// error naming its length (the default cuts it to 2,048 tokens).
#[test]
fn truncation_refused_when_asked() {
    init();
    let Some(dir) = real("nomic-embed-text-v1.5") else {
        return;
    };
    let (texts, ids, want) = reference();
    let longest = (0..texts.len()).max_by_key(|&i| ids[i].len()).unwrap();
    assert!(ids[longest].len() > 2000 && ids[longest].len() <= 2048);
    let mut options = EmbedderOptions::new(&dir);
    options.fail_on_truncation = true;
    let strict = Embedder::new(options).unwrap();
    let got = strict.embed(&[texts[longest].as_str()]).unwrap();
    assert!(cosine(&got[0], &want[longest]) >= 0.9999);
    let doubled = format!("{} {}", texts[longest], texts[longest]);
    let e = strict.embed(&["short", doubled.as_str()]).unwrap_err();
    assert_eq!(e.kind(), nodespace::ErrorKind::ContextOverflow, "{e}");
    assert!(
        e.message().contains("text 1 is 40") && e.message().contains("at most 2048"),
        "{e}"
    );
    let cutting = Embedder::new(EmbedderOptions::new(&dir)).unwrap();
    assert_eq!(cutting.embed(&[doubled.as_str()]).unwrap()[0].len(), 768);
}
