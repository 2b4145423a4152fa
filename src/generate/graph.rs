//! The decoder graph: what inputs it wants (read from the graph, not assumed from the model
//! family), its KV cache, and one forward step.
//!
//! Layout (Optimum / transformers.js): `input_ids`, `attention_mask`, optional
//! `position_ids`, `past_key_values.{i}.key/value` `[batch, kv_heads, past, head_dim]`,
//! optional `use_cache_branch` and `num_logits_to_keep`; outputs `logits` and
//! `present.{i}.key/value`.

use std::borrow::Cow;
use std::path::Path;

use ort::session::{RunOptions, Session, SessionInputValue};
use ort::value::{DynValue, Tensor, TensorElementType, ValueType};
use serde_json::Value as Json;

use crate::error::{Error, ErrorKind, Result};
use crate::model::JsonExt;

#[derive(Debug, Clone)]
pub(crate) struct DecoderGraph {
    pub layers: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub kv_f16: bool,
    pub attention_mask: bool,
    pub position_ids: bool,
    /// First position id: 0, or 1 for Gemma 3.
    pub position_offset: i64,
    pub use_cache_branch: bool,
    pub num_logits_to_keep: bool,
}

impl DecoderGraph {
    pub fn inspect(session: &Session, model: &Path, config: Option<&Json>) -> Result<Self> {
        let inputs = session.inputs();
        let names: Vec<&str> = inputs.iter().map(|i| i.name()).collect();
        let outputs: Vec<&str> = session.outputs().iter().map(|o| o.name()).collect();
        let not_decoder = |why: String| {
            Error::model_invalid(format!(
                "{} is not a decoder model with a KV cache: {why}",
                model.display()
            ))
        };
        if !names.contains(&"input_ids") {
            return Err(not_decoder(format!(
                "it has no 'input_ids' input (inputs: {})",
                names.join(", ")
            )));
        }
        if !outputs.contains(&"logits") {
            let hint = if outputs
                .iter()
                .any(|o| *o == "last_hidden_state" || *o == "sentence_embedding")
            {
                " (this looks like an embedding model)"
            } else {
                ""
            };
            return Err(not_decoder(format!(
                "it has no 'logits' output (outputs: {}){hint}",
                outputs.join(", ")
            )));
        }
        let layers = (0..)
            .take_while(|i| names.contains(&format!("past_key_values.{i}.key").as_str()))
            .count();
        if layers == 0 {
            return Err(not_decoder("it has no 'past_key_values.0.key' input; export it with past key values (e.g. Optimum's text-generation-with-past)".into()));
        }
        for i in 0..layers {
            for (input, output) in [("key", "key"), ("value", "value")] {
                let past = format!("past_key_values.{i}.{input}");
                let present = format!("present.{i}.{output}");
                if !names.contains(&past.as_str()) {
                    return Err(not_decoder(format!("input '{past}' is missing")));
                }
                if !outputs.contains(&present.as_str()) {
                    return Err(not_decoder(format!("output '{present}' is missing")));
                }
            }
        }
        let past = inputs
            .iter()
            .find(|i| i.name() == "past_key_values.0.key")
            .expect("checked above");
        let (kv_f16, dims) = match past.dtype() {
            ValueType::Tensor {
                ty: TensorElementType::Float32,
                shape,
                ..
            } => (false, shape.to_vec()),
            ValueType::Tensor {
                ty: TensorElementType::Float16,
                shape,
                ..
            } => (true, shape.to_vec()),
            other => {
                return Err(not_decoder(format!(
                    "past_key_values.0.key has type {other}; expected float32 or float16"
                )))
            }
        };
        if dims.len() != 4 {
            return Err(not_decoder(format!(
                "past_key_values.0.key has rank {}; expected [batch, kv_heads, past, head_dim]",
                dims.len()
            )));
        }
        let heads = config.and_then(|c| c.usize_field("num_attention_heads"));
        let kv_heads = positive(dims[1])
            .or_else(|| config.and_then(|c| c.usize_field("num_key_value_heads")))
            .or(heads)
            .ok_or_else(|| {
                not_decoder(
                    "the number of KV heads is neither in the graph nor in config.json".into(),
                )
            })?;
        let head_dim = positive(dims[3])
            .or_else(|| config.and_then(|c| c.usize_field("head_dim")))
            .or_else(|| Some(config?.usize_field("hidden_size")? / heads?))
            .ok_or_else(|| {
                not_decoder("the head size is neither in the graph nor in config.json".into())
            })?;
        let model_type = config.and_then(|c| c.str_field("model_type")).unwrap_or("");
        Ok(Self {
            layers,
            kv_heads,
            head_dim,
            kv_f16,
            attention_mask: names.contains(&"attention_mask"),
            position_ids: names.contains(&"position_ids"),
            position_offset: i64::from(model_type.starts_with("gemma3")),
            use_cache_branch: names.contains(&"use_cache_branch"),
            num_logits_to_keep: names.contains(&"num_logits_to_keep"),
        })
    }
}

fn positive(dim: i64) -> Option<usize> {
    (dim > 0).then_some(dim as usize)
}

/// The key/value tensors of the tokens processed so far, as the graph returned them.
pub(crate) struct KvCache {
    /// `[key0, value0, key1, value1, ...]`; empty before the first step.
    values: Vec<DynValue>,
    /// The token ids the cache covers, in order.
    pub tokens: Vec<u32>,
}

impl KvCache {
    pub fn new() -> Self {
        Self {
            values: Vec::new(),
            tokens: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    fn clear(&mut self) {
        self.values.clear();
        self.tokens.clear();
    }

    /// Keep only the first `keep` positions (one copy of the kept part; used when a new
    /// prompt shares only part of the cached one).
    pub fn truncate(&mut self, graph: &DecoderGraph, keep: usize) -> Result<()> {
        if keep >= self.len() {
            return Ok(());
        }
        if keep == 0 {
            self.clear();
            return Ok(());
        }
        let total = self.len();
        let heads = graph.kv_heads;
        let row = graph.head_dim;
        let cut = |data: &[f32]| -> Vec<f32> {
            data.chunks_exact(total * row)
                .flat_map(|head| head[..keep * row].iter().copied())
                .collect()
        };
        let shape = vec![1usize, heads, keep, row];
        let mut values = Vec::with_capacity(self.values.len());
        for value in &self.values {
            let kept: DynValue = if graph.kv_f16 {
                let (_, data) = value
                    .try_extract_tensor::<half::f16>()
                    .map_err(|e| Error::runtime("reading the KV cache", e))?;
                let data: Vec<half::f16> = data
                    .chunks_exact(total * row)
                    .flat_map(|head| head[..keep * row].iter().copied())
                    .collect();
                Tensor::from_array((shape.clone(), data)).map(|t| t.into_dyn())
            } else {
                let (_, data) = value
                    .try_extract_tensor::<f32>()
                    .map_err(|e| Error::runtime("reading the KV cache", e))?;
                Tensor::from_array((shape.clone(), cut(data))).map(|t| t.into_dyn())
            }
            .map_err(|e| Error::runtime("copying the KV cache", e))?;
            values.push(kept);
        }
        self.values = values;
        self.tokens.truncate(keep);
        Ok(())
    }
}

/// The outcome of a forward step that did not fail.
pub(crate) enum Step {
    /// Logits of the last position.
    Logits(Vec<f32>),
    Cancelled,
}

/// Run `ids` through the graph after the tokens in `cache`, updating it.
pub(crate) fn forward(
    session: &mut Session,
    graph: &DecoderGraph,
    ids: &[u32],
    cache: &mut KvCache,
    run: &RunOptions,
) -> Result<Step> {
    let n = ids.len();
    let past = cache.len();
    let total = past + n;
    let int_tensor = |shape: Vec<usize>, data: Vec<i64>| -> Result<SessionInputValue<'static>> {
        Ok(Tensor::from_array((shape, data))
            .map_err(|e| Error::runtime("creating an input tensor", e))?
            .into())
    };
    let mut feed: Vec<(Cow<str>, SessionInputValue)> = Vec::with_capacity(4 + 2 * graph.layers);
    feed.push((
        "input_ids".into(),
        int_tensor(vec![1, n], ids.iter().map(|&t| i64::from(t)).collect())?,
    ));
    if graph.attention_mask {
        feed.push((
            "attention_mask".into(),
            int_tensor(vec![1, total], vec![1; total])?,
        ));
    }
    if graph.position_ids {
        let start = graph.position_offset + past as i64;
        feed.push((
            "position_ids".into(),
            int_tensor(vec![1, n], (start..start + n as i64).collect())?,
        ));
    }
    if graph.use_cache_branch {
        let flag = Tensor::from_array((vec![1usize], vec![past > 0]))
            .map_err(|e| Error::runtime("creating use_cache_branch", e))?;
        feed.push(("use_cache_branch".into(), flag.into()));
    }
    if graph.num_logits_to_keep {
        feed.push(("num_logits_to_keep".into(), int_tensor(vec![], vec![1])?));
    }
    let mut previous = std::mem::take(&mut cache.values).into_iter();
    for layer in 0..graph.layers {
        for part in ["key", "value"] {
            let value = match previous.next() {
                Some(v) => SessionInputValue::from(v),
                None => empty_past(graph)?,
            };
            feed.push((format!("past_key_values.{layer}.{part}").into(), value));
        }
    }
    let mut outputs = match session.run_with_options(feed, run) {
        Ok(outputs) => outputs,
        Err(e) if e.to_string().contains("terminate") => {
            cache.clear();
            return Ok(Step::Cancelled);
        }
        Err(e) => {
            cache.clear();
            return Err(Error::runtime("running the decoder", e));
        }
    };
    let logits = last_logits(
        outputs
            .get("logits")
            .ok_or_else(|| Error::internal("graph returned no logits"))?,
    )?;
    let mut values = Vec::with_capacity(2 * graph.layers);
    for layer in 0..graph.layers {
        for part in ["key", "value"] {
            let name = format!("present.{layer}.{part}");
            values.push(
                outputs
                    .remove(name.as_str())
                    .ok_or_else(|| Error::internal(format!("graph returned no {name}")))?,
            );
        }
    }
    cache.values = values;
    cache.tokens.extend_from_slice(ids);
    debug_assert_eq!(cache.len(), total);
    Ok(Step::Logits(logits))
}

fn empty_past(graph: &DecoderGraph) -> Result<SessionInputValue<'static>> {
    let shape = vec![1usize, graph.kv_heads, 0, graph.head_dim];
    let value: DynValue = if graph.kv_f16 {
        Tensor::from_array((shape, Vec::<half::f16>::new())).map(|t| t.into_dyn())
    } else {
        Tensor::from_array((shape, Vec::<f32>::new())).map(|t| t.into_dyn())
    }
    .map_err(|e| Error::runtime("creating an empty KV cache", e))?;
    Ok(value.into())
}

/// The last position's row of `logits` `[1, seq, vocab]`, as f32.
fn last_logits(value: &DynValue) -> Result<Vec<f32>> {
    let row = |shape: &[i64], len: usize| -> Result<std::ops::Range<usize>> {
        let vocab = *shape.last().unwrap_or(&0) as usize;
        if shape.len() != 3 || vocab == 0 || len < vocab {
            return Err(Error::new(
                ErrorKind::ModelInvalid,
                format!("logits have shape {shape:?}; expected [1, tokens, vocab]"),
            ));
        }
        Ok(len - vocab..len)
    };
    if let Ok((shape, data)) = value.try_extract_tensor::<f32>() {
        let r = row(shape, data.len())?;
        return Ok(data[r].to_vec());
    }
    if let Ok((shape, data)) = value.try_extract_tensor::<half::f16>() {
        let r = row(shape, data.len())?;
        return Ok(data[r].iter().map(|v| v.to_f32()).collect());
    }
    Err(Error::model_invalid("logits are not float32 or float16"))
}
