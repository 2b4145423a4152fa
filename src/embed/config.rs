//! What a sentence-transformers style model folder says about how to embed:
//! `modules.json`, the pooling module's `config.json`, `sentence_bert_config.json`,
//! `config_sentence_transformers.json`, `tokenizer_config.json` and `config.json`.

use std::collections::BTreeMap;

use serde_json::Value;

use super::pooling::Pooling;
use crate::error::{Error, Result};
use crate::model::{JsonExt, ModelFolder};

/// Settings read from the folder; each is `None` when the folder does not say.
#[derive(Debug, Clone, Default)]
pub(crate) struct FolderSettings {
    pub pooling: Option<Pooling>,
    pub max_seq_length: Option<usize>,
    pub tokenizer_max_length: Option<usize>,
    pub max_position_embeddings: Option<usize>,
    pub hidden_size: Option<usize>,
    pub prompts: BTreeMap<String, String>,
    pub default_prompt_name: Option<String>,
    /// The output dimensions a Matryoshka model was trained for (empty: not declared).
    pub matryoshka_dimensions: Vec<usize>,
    /// Its documented procedure normalizes the pooled vector with a layer norm (no affine,
    /// eps 1e-5) before truncating (nomic-embed-text-v1.5).
    pub matryoshka_layer_norm: bool,
    pub model_type: Option<String>,
    /// A Dense module follows pooling: only graphs that output `sentence_embedding` include it.
    pub has_dense: bool,
}

pub(crate) fn read(folder: &ModelFolder) -> Result<FolderSettings> {
    let mut settings = FolderSettings::default();

    let modules = folder.read_json("modules.json")?;
    let mut pooling_dir = "1_Pooling".to_string();
    if let Some(modules) = &modules {
        let list = modules.as_array().ok_or_else(|| {
            Error::model_invalid(format!(
                "{}: expected a JSON list",
                folder.root().join("modules.json").display()
            ))
        })?;
        for module in list {
            let kind = module.str_field("type").unwrap_or("");
            let path = module.str_field("path").unwrap_or("");
            if kind.ends_with("Pooling") && !path.is_empty() {
                pooling_dir = path.to_string();
            }
            if kind.ends_with("Dense") {
                settings.has_dense = true;
            }
        }
    }
    if let Some(pooling) = folder.read_json(&format!("{pooling_dir}/config.json"))? {
        let path = folder.root().join(&pooling_dir).join("config.json");
        settings.pooling = Some(parse_pooling(&pooling).map_err(|e| e.context(path.display()))?);
    }

    if let Some(sbert) = folder.read_json("sentence_bert_config.json")? {
        settings.max_seq_length = sbert.usize_field("max_seq_length");
    }
    if let Some(st) = folder.read_json("config_sentence_transformers.json")? {
        if let Some(prompts) = st.get("prompts").and_then(Value::as_object) {
            for (name, prefix) in prompts {
                if let Some(prefix) = prefix.as_str() {
                    settings.prompts.insert(name.clone(), prefix.to_string());
                }
            }
        }
        settings.default_prompt_name = st.str_field("default_prompt_name").map(str::to_string);
        if let Some(dims) = st.get("matryoshka_dimensions").and_then(Value::as_array) {
            settings.matryoshka_dimensions = dims
                .iter()
                .map(|d| d.as_u64().filter(|&d| d > 0).map(|d| d as usize))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    Error::model_invalid(format!(
                        "{}: matryoshka_dimensions must be a list of positive integers",
                        folder
                            .root()
                            .join("config_sentence_transformers.json")
                            .display()
                    ))
                })?;
        }
        settings.matryoshka_layer_norm = st
            .get("matryoshka_layer_norm")
            .and_then(Value::as_bool)
            .unwrap_or(false);
    }
    if let Some(tc) = folder.read_json("tokenizer_config.json")? {
        // Tokenizers without a limit store a huge sentinel (1e30): ignore those.
        settings.tokenizer_max_length =
            tc.usize_field("model_max_length").filter(|&n| n <= 1 << 20);
    }
    if let Some(config) = folder.read_json("config.json")? {
        settings.max_position_embeddings = config.usize_field("max_position_embeddings");
        settings.hidden_size = config.usize_field("hidden_size");
        settings.model_type = config.str_field("model_type").map(str::to_string);
    }
    Ok(settings)
}

/// sentence-transformers pooling config: exactly one supported mode must be on.
fn parse_pooling(config: &Value) -> Result<Pooling> {
    const MODES: [(&str, Option<Pooling>); 6] = [
        ("pooling_mode_mean_tokens", Some(Pooling::Mean)),
        ("pooling_mode_cls_token", Some(Pooling::Cls)),
        ("pooling_mode_lasttoken", Some(Pooling::LastToken)),
        ("pooling_mode_max_tokens", Some(Pooling::Max)),
        ("pooling_mode_mean_sqrt_len_tokens", None),
        ("pooling_mode_weightedmean_tokens", None),
    ];
    if !config.is_object() {
        return Err(Error::model_invalid(
            "invalid pooling config: expected a JSON object",
        ));
    }
    let on: Vec<&(&str, Option<Pooling>)> = MODES
        .iter()
        .filter(|(key, _)| config.bool_field(key) == Some(true))
        .collect();
    match on.as_slice() {
        [] => Err(Error::model_invalid(
            "invalid pooling config: no pooling mode is enabled (expected one of pooling_mode_mean_tokens, \
             pooling_mode_cls_token, pooling_mode_lasttoken, pooling_mode_max_tokens)",
        )),
        [(_, Some(pooling))] => Ok(*pooling),
        [(key, None)] => Err(Error::new(crate::error::ErrorKind::Unsupported, format!("pooling mode {key} is not supported"))),
        several => Err(Error::model_invalid(format!(
            "invalid pooling config: several pooling modes are enabled ({}); nodespace supports exactly one",
            several.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pooling_modes() {
        assert_eq!(
            parse_pooling(&json!({"pooling_mode_mean_tokens": true})).unwrap(),
            Pooling::Mean
        );
        assert_eq!(
            parse_pooling(
                &json!({"pooling_mode_lasttoken": true, "pooling_mode_mean_tokens": false})
            )
            .unwrap(),
            Pooling::LastToken
        );
        let none = parse_pooling(&json!({"pooling_mode_mean_tokens": false})).unwrap_err();
        assert!(none.message().contains("no pooling mode"));
        let two = parse_pooling(
            &json!({"pooling_mode_mean_tokens": true, "pooling_mode_cls_token": true}),
        )
        .unwrap_err();
        assert!(two.message().contains("several"));
        assert!(parse_pooling(&json!([1, 2])).is_err());
    }
}
