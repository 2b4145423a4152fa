//! EmbeddingGemma-300M, converted by models/convert from its sentence-transformers folder
//! (safetensors), against sentence-transformers on that same folder
//! (tests/data/embeddinggemma_reference.json, made by models/make_embeddinggemma_reference.py):
//! 15 texts with their named prompts, from an empty one to ~2,000 tokens (the context is
//! 2,048; texts of 385 and 1,245 tokens pass the sliding layers' 257-token bidirectional
//! window), one at a time and as one padded batch, the Matryoshka sizes, and the token ids.
//! Skips loudly when the model is not installed (scripts/setup.sh installs it).
//!
//! Bound: cosine >= 0.99999 per text. Both sides compute in fp32 from the same fp32 weights
//! (measured >= 0.9999999); what is left is the order of fp32 sums, which differs between
//! CPUs' kernels by far less than the bound.

mod common;

use common::*;
use nodespace::{Embedder, EmbedderOptions};

struct Reference {
    texts: Vec<String>,
    prompts: Vec<Option<String>>,
    ids: Vec<Vec<u32>>,
    vectors: Vec<Vec<f32>>,
    json: serde_json::Value,
}

fn reference() -> Reference {
    let json = read_json(&repo().join("tests/data/embeddinggemma_reference.json"));
    let matrix = |v: &serde_json::Value| v.as_array().unwrap().iter().map(floats).collect();
    Reference {
        texts: strings(&json["texts"]),
        prompts: json["prompt_names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().map(str::to_string))
            .collect(),
        ids: json["input_ids"]
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
            .collect(),
        vectors: matrix(&json["embeddings"]),
        json,
    }
}

/// Each text with its prompt through `embed_with_prompt` (one call per prompt name, the
/// texts of that name together in one padded batch), or one text per call.
fn embed_all(embedder: &Embedder, r: &Reference, batched: bool) -> Vec<Vec<f32>> {
    let mut out = vec![Vec::new(); r.texts.len()];
    let mut names: Vec<Option<&str>> = r.prompts.iter().map(Option::as_deref).collect();
    names.sort();
    names.dedup();
    for name in names {
        let chosen: Vec<usize> = (0..r.texts.len())
            .filter(|&i| r.prompts[i].as_deref() == name)
            .collect();
        let groups: Vec<Vec<usize>> = if batched {
            vec![chosen]
        } else {
            chosen.into_iter().map(|i| vec![i]).collect()
        };
        for group in groups {
            let texts: Vec<&str> = group.iter().map(|&i| r.texts[i].as_str()).collect();
            let vectors = match name {
                Some(name) => embedder.embed_with_prompt(&texts, name).unwrap(),
                None => embedder.embed(&texts).unwrap(),
            };
            for (v, i) in vectors.into_iter().zip(group) {
                out[i] = v;
            }
        }
    }
    out
}

fn check(batched: bool) {
    init();
    let Some(dir) = real("embeddinggemma-300m") else {
        return;
    };
    let r = reference();
    let embedder = Embedder::new(EmbedderOptions::new(&dir)).unwrap();
    assert_eq!(embedder.dimension(), 768);
    assert_eq!(embedder.info().max_length, 2048);
    assert_eq!(
        embedder.info().pooling,
        None,
        "the graph pools (Dense modules)"
    );
    let got = embed_all(&embedder, &r, batched);
    let mut worst = (1.0f64, 0usize);
    for (i, (g, w)) in got.iter().zip(&r.vectors).enumerate() {
        let c = cosine(g, w);
        if c < worst.0 {
            worst = (c, i);
        }
    }
    eprintln!(
        "embeddinggemma-300m ({}): min cosine with sentence-transformers {:.7} (text {})",
        if batched {
            "batched per prompt"
        } else {
            "one at a time"
        },
        worst.0,
        worst.1
    );
    assert!(worst.0 >= 0.99999, "text {}: cosine {}", worst.1, worst.0);
}

#[test]
fn matches_sentence_transformers_one_at_a_time() {
    check(false);
}

#[test]
fn matches_sentence_transformers_batched() {
    check(true);
}

/// The folder's tokenizer.json gives sentence-transformers' ids (prompt prepended, the
/// input stripped as encode() does), texts of 1,000+ tokens included.
#[test]
fn tokenizer_gives_the_reference_ids() {
    init();
    let Some(dir) = real("embeddinggemma-300m") else {
        return;
    };
    let r = reference();
    let embedder = Embedder::new(EmbedderOptions::new(&dir)).unwrap();
    let tokenizer = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).unwrap();
    assert!(
        r.ids.iter().any(|i| i.len() > 1000),
        "no text of 1,000+ tokens"
    );
    for (i, text) in r.texts.iter().enumerate() {
        let prefix = r.prompts[i]
            .as_deref()
            .map_or("", |name| embedder.info().prompts[name].as_str());
        let full = format!("{prefix}{text}");
        let got = tokenizer.encode(full.trim(), true).unwrap();
        assert_eq!(got.get_ids(), r.ids[i].as_slice(), "text {i}");
    }
}

/// output_dimension at each size the card lists gives sentence-transformers' truncate_dim.
#[test]
fn matryoshka_sizes_match_truncate_dim() {
    init();
    let Some(dir) = real("embeddinggemma-300m") else {
        return;
    };
    let r = reference();
    // The reference's short texts (the long ones cost minutes in CI; their full-size
    // vectors are checked above, and the cut is the same arithmetic at any length).
    let listed: Vec<usize> = r.json["matryoshka"]["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_u64().unwrap() as usize)
        .collect();
    for dim in [512usize, 256, 128] {
        let mut options = EmbedderOptions::new(&dir);
        options.output_dimension = Some(dim);
        let embedder = Embedder::new(options).unwrap();
        assert_eq!(embedder.info().matryoshka_dimensions, [768, 512, 256, 128]);
        for (k, &i) in listed.iter().enumerate() {
            if r.ids[i].len() > 100 {
                continue;
            }
            let text = [r.texts[i].as_str()];
            let got = match r.prompts[i].as_deref() {
                Some(name) => embedder.embed_with_prompt(&text, name).unwrap(),
                None => embedder.embed(&text).unwrap(),
            };
            let want = floats(&r.json["matryoshka"][dim.to_string()][k]);
            let c = cosine(&got[0], &want);
            assert!(c >= 0.99999, "{dim} dimensions, text {i}: cosine {c}");
        }
    }
    let mut options = EmbedderOptions::new(&dir);
    options.output_dimension = Some(64);
    let e = Embedder::new(options)
        .err()
        .expect("64 is not a trained size");
    assert!(e.to_string().contains("768, 512, 256, 128"), "{e}");
}
