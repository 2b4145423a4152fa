//! Model folders written by onnxruntime-genai's model builder: `genai_config.json` instead
//! of transformers' `config.json` / `generation_config.json`.

use serde_json::{Map, Value as Json};

use crate::model::JsonExt;

/// What a `genai_config.json` says, in the shapes the generator reads elsewhere.
pub(crate) struct GenaiConfig {
    /// The `config.json` keys the generator uses (layers, heads, head size, context, ids).
    pub config: Json,
    /// The `generation_config.json` keys it uses, from genai's `search` section.
    pub generation: Json,
    /// `search.past_present_share_buffer`: the decoder's past and present may be one buffer.
    pub share_buffer: bool,
    /// `model.decoder.filename`: the graph the settings are for.
    pub decoder_file: Option<String>,
}

impl GenaiConfig {
    pub fn from_json(genai: &Json) -> Self {
        let model = genai.get("model").unwrap_or(&Json::Null);
        let decoder = model.get("decoder").unwrap_or(&Json::Null);
        let search = genai.get("search").unwrap_or(&Json::Null);
        let mut config = Map::new();
        let mut copy = |from: &Json, key: &str, to: &str| {
            if let Some(v) = from.get(key) {
                config.insert(to.into(), v.clone());
            }
        };
        for key in [
            "num_hidden_layers",
            "num_attention_heads",
            "num_key_value_heads",
            "hidden_size",
        ] {
            copy(decoder, key, key);
        }
        copy(decoder, "head_size", "head_dim");
        copy(model, "context_length", "max_position_embeddings");
        copy(model, "type", "model_type");
        for key in ["bos_token_id", "eos_token_id", "pad_token_id", "vocab_size"] {
            copy(model, key, key);
        }
        let mut generation = Map::new();
        for key in [
            "do_sample",
            "temperature",
            "top_k",
            "top_p",
            "repetition_penalty",
        ] {
            if let Some(v) = search.get(key) {
                generation.insert(key.into(), v.clone());
            }
        }
        Self {
            config: Json::Object(config),
            generation: Json::Object(generation),
            share_buffer: search.bool_field("past_present_share_buffer") == Some(true),
            decoder_file: decoder.str_field("filename").map(str::to_string),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn maps_the_builders_keys_to_transformers_names() {
        let g = GenaiConfig::from_json(&json!({
            "model": {"type": "llama", "context_length": 8192, "eos_token_id": [2, 7], "bos_token_id": 1,
                      "decoder": {"filename": "model.onnx", "head_size": 64, "hidden_size": 576,
                                  "num_attention_heads": 9, "num_hidden_layers": 30, "num_key_value_heads": 3}},
            "search": {"do_sample": false, "top_k": 50, "max_length": 8192, "past_present_share_buffer": true}
        }));
        assert_eq!(g.config["head_dim"], 64);
        assert_eq!(g.config["max_position_embeddings"], 8192);
        assert_eq!(g.config["num_key_value_heads"], 3);
        assert_eq!(g.config["eos_token_id"], json!([2, 7]));
        assert_eq!(g.config["model_type"], "llama");
        assert_eq!(g.generation, json!({"do_sample": false, "top_k": 50}));
        assert!(g.share_buffer);
        assert_eq!(g.decoder_file.as_deref(), Some("model.onnx"));
        assert!(!GenaiConfig::from_json(&json!({})).share_buffer);
    }
}
