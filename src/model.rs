//! Model folders as people download them from the Hugging Face hub: the ONNX graph at
//! `onnx/model.onnx` or `model.onnx` (with variants such as `model_quantized.onnx`,
//! `model_int8.onnx`, `model_fp16.onnx`), and JSON configs beside it.

use std::path::{Path, PathBuf};

use serde_json::Value;
use tokenizers::Tokenizer;

use crate::error::{Error, ErrorKind, Result};

/// A model folder on disk.
#[derive(Debug, Clone)]
pub struct ModelFolder {
    root: PathBuf,
}

impl ModelFolder {
    /// Open `root`, which must be an existing directory.
    pub fn open(root: impl AsRef<Path>) -> Result<Self> {
        let root = root.as_ref();
        if root.as_os_str().is_empty() {
            return Err(Error::invalid("the model path is empty"));
        }
        match std::fs::metadata(root) {
            Ok(meta) if meta.is_dir() => Ok(Self {
                root: root.to_path_buf(),
            }),
            Ok(_) => Err(Error::new(
                ErrorKind::ModelNotFound,
                format!(
                    "{} is a file; expected a model folder (holding model.onnx or onnx/model.onnx)",
                    root.display()
                ),
            )),
            Err(e) => Err(Error::io(root, &e).context("model folder")),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Every `.onnx` file of the folder (in `onnx/` and at the root), as variant names:
    /// `model.onnx` is "default", `model_int8.onnx` is "int8", `other.onnx` is "other".
    pub fn variants(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .onnx_dirs()
            .iter()
            .filter_map(|dir| std::fs::read_dir(dir).ok())
            .flatten()
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let stem = name.strip_suffix(".onnx")?.to_string();
                Some(match stem.as_str() {
                    "model" => "default".to_string(),
                    s => s.strip_prefix("model_").unwrap_or(s).to_string(),
                })
            })
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// The graph file for `variant` (None or "default": `model.onnx`). A variant is looked
    /// up as `model_{variant}.onnx`, then `{variant}.onnx`, in `onnx/` and then at the root.
    pub fn onnx_file(&self, variant: Option<&str>) -> Result<PathBuf> {
        let variant = variant
            .map(str::trim)
            .filter(|v| !v.is_empty() && *v != "default");
        let stems: Vec<String> = match variant {
            None => vec!["model".into()],
            Some(v) => {
                let v = v.strip_suffix(".onnx").unwrap_or(v);
                vec![format!("model_{v}"), v.to_string()]
            }
        };
        for dir in self.onnx_dirs() {
            for stem in &stems {
                let path = dir.join(format!("{stem}.onnx"));
                if path.is_file() {
                    return Ok(path);
                }
            }
        }
        let available = self.variants();
        let wanted = variant.unwrap_or("default");
        Err(Error::new(
            ErrorKind::ModelNotFound,
            if available.is_empty() {
                format!(
                    "no .onnx file in {} or {}",
                    self.root.display(),
                    self.root.join("onnx").display()
                )
            } else {
                format!(
                    "model variant '{wanted}' not found in {} (looked for {}); available variants: {}",
                    self.root.display(),
                    stems.iter().map(|s| format!("{s}.onnx")).collect::<Vec<_>>().join(", "),
                    available.join(", ")
                )
            },
        ))
    }

    fn onnx_dirs(&self) -> [PathBuf; 2] {
        [self.root.join("onnx"), self.root.clone()]
    }

    /// Parse a JSON file of the folder; `Ok(None)` when it does not exist.
    pub fn read_json(&self, relative: &str) -> Result<Option<Value>> {
        let path = self.root.join(relative);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&path, &e)),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Error::model_invalid(format!("{} is not valid JSON: {e}", path.display())))
    }

    /// Load `tokenizer.json` (Hugging Face tokenizers format).
    pub fn tokenizer(&self) -> Result<Tokenizer> {
        let path = self.root.join("tokenizer.json");
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, &e).context("tokenizer"))?;
        Tokenizer::from_bytes(&bytes).map_err(|e| {
            Error::new(
                ErrorKind::Tokenizer,
                format!("cannot load tokenizer {}: {e}", path.display()),
            )
        })
    }
}

/// Small helpers to read optional typed fields from parsed JSON configs.
pub(crate) trait JsonExt {
    fn usize_field(&self, key: &str) -> Option<usize>;
    fn bool_field(&self, key: &str) -> Option<bool>;
    fn str_field(&self, key: &str) -> Option<&str>;
}

impl JsonExt for Value {
    fn usize_field(&self, key: &str) -> Option<usize> {
        self.get(key)?.as_u64().map(|v| v as usize)
    }
    fn bool_field(&self, key: &str) -> Option<bool> {
        self.get(key)?.as_bool()
    }
    fn str_field(&self, key: &str) -> Option<&str> {
        self.get(key)?.as_str()
    }
}
