//! Model folders with arbitrary config files (config.json, tokenizer_config.json,
//! generation_config.json, 1_Pooling/config.json, modules.json, ...): loading gives a model
//! or an error, never a panic.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use nodespace::{Embedder, EmbedderOptions, Generator, GeneratorOptions};

const EMBED_FILES: [&str; 6] =
    ["config.json", "tokenizer_config.json", "1_Pooling/config.json", "modules.json", "sentence_bert_config.json", "config_sentence_transformers.json"];
const GEN_FILES: [&str; 4] = ["config.json", "tokenizer_config.json", "generation_config.json", "chat_template.jinja"];

fn scratch(model: &str) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/tiny").join(model);
    let dst = std::env::temp_dir().join(format!("nodespace-fuzz-{model}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dst);
    assert!(std::process::Command::new("cp").arg("-r").arg(&src).arg(&dst).status().unwrap().success());
    dst
}

fn folders() -> &'static (PathBuf, PathBuf) {
    static F: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    F.get_or_init(|| (scratch("embed-bert"), scratch("gen-llama")))
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else { return };
    let (embed_dir, gen_dir) = folders();
    if pick & 1 == 0 {
        let file = EMBED_FILES[(pick as usize >> 1) % EMBED_FILES.len()];
        let path = embed_dir.join(file);
        let original = std::fs::read(&path).ok();
        std::fs::write(&path, body).unwrap();
        let _ = Embedder::new(EmbedderOptions::new(embed_dir));
        match original {
            Some(bytes) => std::fs::write(&path, bytes).unwrap(),
            None => std::fs::remove_file(&path).unwrap(),
        }
    } else {
        let file = GEN_FILES[(pick as usize >> 1) % GEN_FILES.len()];
        let path = gen_dir.join(file);
        let original = std::fs::read(&path).ok();
        std::fs::write(&path, body).unwrap();
        let _ = Generator::new(GeneratorOptions::new(gen_dir));
        match original {
            Some(bytes) => std::fs::write(&path, bytes).unwrap(),
            None => std::fs::remove_file(&path).unwrap(),
        }
    }
});
