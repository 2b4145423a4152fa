//! The decoder graph: what inputs it wants (read from the graph, not assumed from the model
//! family), its KV cache, and one forward step.
//!
//! Layout (Optimum / transformers.js): `input_ids`, `attention_mask`, optional
//! `position_ids`, `past_key_values.{i}.key/value` `[batch, kv_heads, past, head_dim]`,
//! optional `use_cache_branch` and `num_logits_to_keep`; outputs `logits` and
//! `present.{i}.key/value`.

use std::borrow::Cow;
use std::path::Path;

use ort::memory::Allocator;
use ort::session::{IoBinding, RunOptions, Session, SessionInputValue, SessionOutputs};
use ort::value::{DynValue, Tensor, TensorElementType, ValueType};
use ort::AsPointer;
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
    /// First position id: see [`first_position_id`].
    pub position_offset: i64,
    pub use_cache_branch: bool,
    /// Which positions' logits a run returns (draft verification needs several).
    pub logits_rows: LogitsRows,
    /// Logits per position (the graph's, else config.json's `vocab_size`), if known.
    pub vocab: Option<usize>,
    /// Past and present KV may be one buffer (GroupQueryAttention graphs whose metadata, or
    /// whose onnxruntime-genai config, says `past_present_share_buffer`): the cache is
    /// extended in place.
    pub shared_kv: bool,
    /// Positions the model takes (set by the generator): shared KV buffers never grow past it.
    pub context_length: usize,
    /// How the graph stores its weights, from its `quantization` metadata (models/convert
    /// writes it), if it says.
    pub quantization: Option<String>,
    /// The operator that quantizes activations with one scale per pass (dynamic int8
    /// quantization: `DynamicQuantizeLinear`), if the graph has one: then a position's
    /// logits depend on the other positions of its pass.
    pub per_pass_quantization: Option<String>,
    /// The graph's attention always holds one row more than the pass (its `attention_spare_row`
    /// metadata; models/convert's fused graphs): a one-position pass gives a position the
    /// bits of any longer pass, and the spare row's key and value take one position past
    /// the cache.
    pub attention_spare_row: bool,
}

impl DecoderGraph {
    /// `shares_kv`: the folder's own config (onnxruntime-genai's) says past and present may
    /// be one buffer; the graph's metadata can say so too.
    pub fn inspect(
        session: &Session,
        model: &Path,
        config: Option<&Json>,
        shares_kv: bool,
    ) -> Result<Self> {
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
        let metadata = |key: &str| session.metadata().ok().and_then(|m| m.custom(key));
        let shared_kv = !kv_f16
            && (shares_kv
                || metadata("past_present_share_buffer")
                    .is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true")));
        let attention_spare_row = metadata("attention_spare_row").is_some_and(|v| v == "1");
        if attention_spare_row && !shared_kv {
            return Err(not_decoder(
                "its metadata says attention_spare_row = 1, which needs one float32 KV buffer shared by \
                 past and present (metadata past_present_share_buffer = 1)"
                    .into(),
            ));
        }
        let vocab = logits_dims(session)
            .and_then(|dims| positive(dims[2]))
            .or_else(|| config.and_then(|c| c.usize_field("vocab_size")));
        let attention_mask = names.contains(&"attention_mask");
        let position_ids = names.contains(&"position_ids");
        Ok(Self {
            logits_rows: logits_rows(session, names.contains(&"num_logits_to_keep")),
            vocab,
            layers,
            kv_heads,
            head_dim,
            kv_f16,
            attention_mask,
            position_ids,
            position_offset: first_position_id(attention_mask, position_ids),
            use_cache_branch: names.contains(&"use_cache_branch"),
            shared_kv,
            context_length: usize::MAX,
            quantization: metadata("quantization"),
            per_pass_quantization: per_pass_quantization(model),
            attention_spare_row,
        })
    }
}

/// Operators whose activation scale is computed over the whole pass (ONNX Runtime's
/// dynamic quantization, plain and fused).
const PER_PASS_QUANTIZATION: [&str; 3] = [
    "DynamicQuantizeLinear",
    "DynamicQuantizeMatMul",
    "DynamicQuantizeLSTM",
];

fn per_pass_quantization(model: &Path) -> Option<String> {
    match super::op_types::op_types(model) {
        Ok(ops) => PER_PASS_QUANTIZATION
            .iter()
            .find(|op| ops.contains(**op))
            .map(|op| op.to_string()),
        Err(e) => {
            crate::log::log(
                crate::log::Level::Warn,
                format!(
                    "reading the operator types of {}: {e}; assuming no per-pass activation quantization",
                    model.display()
                ),
            );
            None
        }
    }
}

/// The first position id a graph wants, told from its inputs (never from the model family):
/// the onnx-community / transformers.js exports without `attention_mask` (Gemma 3's) count
/// positions from 1 (their attention derives the sequence length from the last position
/// id); Optimum's and ours, which take the mask, count from 0 as transformers does.
fn first_position_id(attention_mask: bool, position_ids: bool) -> i64 {
    i64::from(position_ids && !attention_mask)
}

/// Which positions a decoder run returns logits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogitsRows {
    /// As many last positions as its `num_logits_to_keep` input says.
    Kept,
    /// Every input position (`[batch, sequence, vocab]`).
    All,
    /// The last position only (`[batch, 1, vocab]`, no `num_logits_to_keep`): such a graph
    /// cannot verify drafts.
    LastOnly,
}

/// At most this many bytes of logits per run of a graph that returns every position's:
/// with Gemma's 262,144-token vocabulary a 512-token prefill chunk would make 0.5 GB of
/// logits (and ONNX Runtime's copy of them), of which one row is read.
const LOGITS_BYTES_PER_RUN: usize = 64 << 20;

impl DecoderGraph {
    /// Runs can return the logits of several positions (needed to verify drafts).
    pub fn verifies_drafts(&self) -> bool {
        self.logits_rows != LogitsRows::LastOnly
    }

    /// A position's logits are the same whatever else its pass holds, as long as every
    /// pass holds at least two positions (see the `lookup` module): drafts cannot change
    /// the output.
    pub fn exact_with_two_row_passes(&self) -> bool {
        self.verifies_drafts() && self.per_pass_quantization.is_none()
    }

    /// Drafts stay exact only if no pass holds a single position: the graph has no spare
    /// attention row to make one-position passes agree with longer ones.
    pub fn needs_two_row_passes(&self) -> bool {
        self.exact_with_two_row_passes() && !self.attention_spare_row
    }

    /// The longest prefill run for this graph: `requested`, or fewer tokens when the graph
    /// returns logits for every position (their memory grows with the run's length).
    pub fn prefill_chunk(&self, requested: usize) -> usize {
        bounded_prefill_chunk(self.logits_rows, self.vocab, requested)
    }
}

fn bounded_prefill_chunk(rows: LogitsRows, vocab: Option<usize>, requested: usize) -> usize {
    match (rows, vocab) {
        (LogitsRows::All, Some(vocab)) => {
            requested.min((LOGITS_BYTES_PER_RUN / (vocab.max(1) * 4)).max(16))
        }
        _ => requested,
    }
}

/// The logits output's dimensions, when it is a rank-3 tensor.
fn logits_dims(session: &Session) -> Option<Vec<i64>> {
    session
        .outputs()
        .iter()
        .find(|o| o.name() == "logits")
        .and_then(|o| match o.dtype() {
            ValueType::Tensor { shape, .. } if shape.len() == 3 => Some(shape.to_vec()),
            _ => None,
        })
}

/// How `session`'s logits are laid out: a fixed 1 as the sequence dimension means the
/// last position only.
fn logits_rows(session: &Session, keeps: bool) -> LogitsRows {
    if keeps {
        return LogitsRows::Kept;
    }
    let sequence_dim = logits_dims(session).map(|dims| dims[1]);
    if sequence_dim == Some(1) {
        LogitsRows::LastOnly
    } else {
        LogitsRows::All
    }
}

fn positive(dim: i64) -> Option<usize> {
    (dim > 0).then_some(dim as usize)
}

/// The key/value state of the tokens processed so far.
pub(crate) struct KvCache {
    store: KvStore,
    /// The token ids the cache covers, in order.
    pub tokens: Vec<u32>,
}

enum KvStore {
    /// Optimum layout: the `present` tensors of the last step, fed back as `past`
    /// (the graph returns a new, one-longer cache each step).
    Returned(Vec<DynValue>),
    /// GroupQueryAttention graphs that share past and present (`DecoderGraph::shared_kv`):
    /// `[1, kv_heads, capacity, head_dim]` buffers bound as both input
    /// and output, which the graph extends in place. Only the first `tokens.len()`
    /// positions are meaningful.
    Shared(Box<SharedKv>),
}

struct SharedKv {
    /// `[key0, value0, key1, value1, ...]`; empty before the first step.
    buffers: Vec<Tensor<f32>>,
    capacity: usize,
    /// Bound to `buffers` for the session it was made for (checked by pointer; the
    /// binding keeps that session alive, so the address cannot be reused meanwhile).
    binding: Option<(usize, IoBinding)>,
}

/// Shared buffers grow by doubling, rounded up to this many positions.
const KV_CHUNK: usize = 64;

impl KvCache {
    pub fn new(graph: &DecoderGraph) -> Self {
        let store = if graph.shared_kv {
            KvStore::Shared(Box::new(SharedKv {
                buffers: Vec::new(),
                capacity: 0,
                binding: None,
            }))
        } else {
            KvStore::Returned(Vec::new())
        };
        Self {
            store,
            tokens: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    fn clear(&mut self) {
        match &mut self.store {
            KvStore::Returned(values) => values.clear(),
            // The buffers stay allocated; position 0 on is simply rewritten.
            KvStore::Shared(_) => {}
        }
        self.tokens.clear();
    }

    /// Keep only the first `keep` positions (used when a new prompt shares only part of
    /// the cached one): free for shared buffers, one copy of the kept part otherwise.
    pub fn truncate(&mut self, graph: &DecoderGraph, keep: usize) -> Result<()> {
        if keep >= self.len() {
            return Ok(());
        }
        let values = match &mut self.store {
            KvStore::Returned(values) if keep > 0 => values,
            _ => {
                self.tokens.truncate(keep);
                if keep == 0 {
                    self.clear();
                }
                return Ok(());
            }
        };
        let total = self.tokens.len();
        let heads = graph.kv_heads;
        let row = graph.head_dim;
        let shape = vec![1usize, heads, keep, row];
        let mut kept_values = Vec::with_capacity(values.len());
        for value in values.iter() {
            let kept: DynValue = if graph.kv_f16 {
                let (_, data) = value
                    .try_extract_tensor::<half::f16>()
                    .map_err(|e| Error::runtime("reading the KV cache", e))?;
                Tensor::from_array((shape.clone(), keep_positions(data, total, keep, row)))
                    .map(|t| t.into_dyn())
            } else {
                let (_, data) = value
                    .try_extract_tensor::<f32>()
                    .map_err(|e| Error::runtime("reading the KV cache", e))?;
                Tensor::from_array((shape.clone(), keep_positions(data, total, keep, row)))
                    .map(|t| t.into_dyn())
            }
            .map_err(|e| Error::runtime("copying the KV cache", e))?;
            kept_values.push(kept);
        }
        *values = kept_values;
        self.tokens.truncate(keep);
        Ok(())
    }
}

/// The first `keep` of `total` positions of every head of a `[1, heads, total, row]` tensor.
fn keep_positions<T: Copy>(data: &[T], total: usize, keep: usize, row: usize) -> Vec<T> {
    data.chunks_exact(total * row)
        .flat_map(|head| head[..keep * row].iter().copied())
        .collect()
}

/// The next capacity of shared KV buffers that must hold `needed` positions: double the
/// current one, in whole chunks, but not past the model's context (rounded up to a chunk).
fn grown_capacity(current: usize, needed: usize, context_length: usize) -> usize {
    let chunks = |n: usize| n.div_ceil(KV_CHUNK).saturating_mul(KV_CHUNK);
    chunks(current.saturating_mul(2))
        .min(chunks(context_length))
        .max(chunks(needed))
}

impl SharedKv {
    /// Make room for `needed` positions, keeping the first `used`: a new, larger set of
    /// buffers (doubling, in whole chunks) with the used part copied over.
    fn reserve(&mut self, graph: &DecoderGraph, used: usize, needed: usize) -> Result<()> {
        if needed <= self.capacity && !self.buffers.is_empty() {
            return Ok(());
        }
        let capacity = grown_capacity(self.capacity, needed, graph.context_length);
        let (heads, row) = (graph.kv_heads, graph.head_dim);
        let allocator = Allocator::default();
        let mut buffers = Vec::with_capacity(2 * graph.layers);
        for i in 0..2 * graph.layers {
            let mut buffer = Tensor::<f32>::new(&allocator, [1, heads, capacity, row])
                .map_err(|e| Error::runtime("allocating the KV cache", e))?;
            if let Some(old) = self.buffers.get(i) {
                let (_, from) = old.extract_tensor();
                let (_, to) = buffer.extract_tensor_mut();
                for head in 0..heads {
                    let (src, dst) = (head * self.capacity * row, head * capacity * row);
                    to[dst..dst + used * row].copy_from_slice(&from[src..src + used * row]);
                }
            }
            buffers.push(buffer);
        }
        self.buffers = buffers;
        self.capacity = capacity;
        self.binding = None;
        Ok(())
    }

    /// The binding of the buffers for `session`, made when missing or made for another one.
    fn binding(&mut self, session: &Session) -> Result<&mut IoBinding> {
        let id = session.ptr() as usize;
        if self.binding.as_ref().is_none_or(|(bound, _)| *bound != id) {
            let bind_err = |e| Error::runtime("binding the KV cache", e);
            let mut io = session.create_binding().map_err(bind_err)?;
            for (i, buffer) in self.buffers.iter_mut().enumerate() {
                let (layer, part) = (i / 2, ["key", "value"][i % 2]);
                io.bind_input(format!("past_key_values.{layer}.{part}"), &*buffer)
                    .map_err(bind_err)?;
                io.bind_output(format!("present.{layer}.{part}"), &mut *buffer)
                    .map_err(bind_err)?;
            }
            self.binding = Some((id, io));
        }
        Ok(&mut self.binding.as_mut().expect("set above").1)
    }
}

/// The outcome of a forward step that did not fail.
pub(crate) enum Step {
    /// Logits of the last positions, as many as asked for.
    Logits(Logits),
    Cancelled,
}

/// Rows of logits, one per position, in order.
pub(crate) struct Logits {
    data: Vec<f32>,
    vocab: usize,
}

impl Logits {
    pub fn rows(&self) -> usize {
        self.data.len() / self.vocab
    }

    pub fn row_mut(&mut self, i: usize) -> &mut [f32] {
        &mut self.data[i * self.vocab..(i + 1) * self.vocab]
    }
}

/// Run `ids` through the graph after the tokens in `cache`, updating it; the logits of the
/// last `rows` positions come back (`rows` > 1 needs `graph.verifies_drafts()`).
pub(crate) fn forward(
    session: &mut Session,
    graph: &DecoderGraph,
    ids: &[u32],
    rows: usize,
    cache: &mut KvCache,
    run: &RunOptions,
) -> Result<Step> {
    debug_assert!(rows >= 1 && rows <= ids.len());
    debug_assert!(rows == 1 || graph.verifies_drafts());
    let feed = step_inputs(graph, ids, rows, cache.len())?;
    let total = cache.len() + ids.len();
    let outcome = match &mut cache.store {
        KvStore::Returned(values) => run_returned(session, graph, feed, values, run),
        KvStore::Shared(shared) => {
            run_shared(session, graph, feed, shared, cache.tokens.len(), total, run)
        }
    };
    match outcome {
        Ok(Some(logits)) => {
            cache.tokens.extend_from_slice(ids);
            debug_assert_eq!(cache.len(), total);
            Ok(Step::Logits(logits))
        }
        Ok(None) => {
            cache.clear();
            Ok(Step::Cancelled)
        }
        Err(e) => {
            cache.clear();
            Err(e)
        }
    }
}

/// A step's inputs other than the KV cache, and how many rows of logits it wants.
struct StepInputs {
    values: Vec<(String, DynValue)>,
    rows: usize,
}

fn step_inputs(graph: &DecoderGraph, ids: &[u32], rows: usize, past: usize) -> Result<StepInputs> {
    let n = ids.len();
    let total = past + n;
    let tensor_err = |e| Error::runtime("creating an input tensor", e);
    let int_tensor = |shape: Vec<usize>, data: Vec<i64>| -> Result<DynValue> {
        Ok(Tensor::from_array((shape, data))
            .map_err(tensor_err)?
            .into_dyn())
    };
    let mut feed = vec![(
        "input_ids".to_string(),
        int_tensor(vec![1, n], ids.iter().map(|&t| i64::from(t)).collect())?,
    )];
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
        let flag = Tensor::from_array((vec![1usize], vec![past > 0])).map_err(tensor_err)?;
        feed.push(("use_cache_branch".into(), flag.into_dyn()));
    }
    if graph.logits_rows == LogitsRows::Kept {
        feed.push((
            "num_logits_to_keep".into(),
            int_tensor(vec![], vec![rows as i64])?,
        ));
    }
    Ok(StepInputs { values: feed, rows })
}

/// A step on the Optimum layout: the cache goes in as `past`, the longer one comes back
/// as `present`. `None` when cancelled.
fn run_returned(
    session: &mut Session,
    graph: &DecoderGraph,
    feed: StepInputs,
    values: &mut Vec<DynValue>,
    run: &RunOptions,
) -> Result<Option<Logits>> {
    let mut inputs: Vec<(Cow<str>, SessionInputValue)> =
        Vec::with_capacity(feed.values.len() + values.len());
    let rows = feed.rows;
    inputs.extend(
        feed.values
            .into_iter()
            .map(|(name, value)| (name.into(), value.into())),
    );
    let mut previous = std::mem::take(values).into_iter();
    for layer in 0..graph.layers {
        for part in ["key", "value"] {
            let value = match previous.next() {
                Some(v) => SessionInputValue::from(v),
                None => empty_past(graph)?,
            };
            inputs.push((format!("past_key_values.{layer}.{part}").into(), value));
        }
    }
    let Some(mut outputs) = finished(session.run_with_options(inputs, run))? else {
        return Ok(None);
    };
    let logits = logits_of(&outputs, rows)?;
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
    Ok(Some(logits))
}

/// A step on shared buffers: the graph writes the new positions in place (no copy of the
/// cache per step). `None` when cancelled.
fn run_shared(
    session: &mut Session,
    graph: &DecoderGraph,
    feed: StepInputs,
    shared: &mut SharedKv,
    used: usize,
    total: usize,
    run: &RunOptions,
) -> Result<Option<Logits>> {
    // The spare attention row's key and value go one position past the pass.
    shared.reserve(graph, used, total + usize::from(graph.attention_spare_row))?;
    let io = shared.binding(session)?;
    let bind_err = |e| Error::runtime("binding the decoder inputs", e);
    for (name, value) in &feed.values {
        io.bind_input(name.as_str(), value).map_err(bind_err)?;
    }
    // Bound afresh each step: ONNX Runtime would otherwise reuse the last step's logits
    // tensor, whose shape differs when a graph returns logits for every position.
    io.bind_output_to_device("logits", session.allocator().memory_info())
        .map_err(bind_err)?;
    let Some(outputs) = finished(session.run_binding_with_options(io, run))? else {
        return Ok(None);
    };
    Ok(Some(logits_of(&outputs, feed.rows)?))
}

/// A run's outputs; `None` when it was cancelled through `RunOptions::terminate`.
fn finished<T>(result: ort::Result<T>) -> Result<Option<T>> {
    match result {
        Ok(outputs) => Ok(Some(outputs)),
        Err(e) if e.to_string().contains("terminate") => Ok(None),
        Err(e) => Err(Error::runtime("running the decoder", e)),
    }
}

fn logits_of(outputs: &SessionOutputs, rows: usize) -> Result<Logits> {
    last_logits(
        outputs
            .get("logits")
            .ok_or_else(|| Error::internal("graph returned no logits"))?,
        rows,
    )
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

/// The last `rows` positions' rows of `logits` `[1, seq, vocab]`, as f32.
fn last_logits(value: &DynValue, rows: usize) -> Result<Logits> {
    let range = |shape: &[i64], len: usize| -> Result<(std::ops::Range<usize>, usize)> {
        let vocab = *shape.last().unwrap_or(&0) as usize;
        if shape.len() != 3 || vocab == 0 || len < rows * vocab {
            return Err(Error::new(
                ErrorKind::ModelInvalid,
                format!(
                    "logits have shape {shape:?}; expected [1, tokens, vocab] with at least {rows} token(s)"
                ),
            ));
        }
        Ok((len - rows * vocab..len, vocab))
    };
    if let Ok((shape, data)) = value.try_extract_tensor::<f32>() {
        let (r, vocab) = range(shape, data.len())?;
        return Ok(Logits {
            data: data[r].to_vec(),
            vocab,
        });
    }
    if let Ok((shape, data)) = value.try_extract_tensor::<half::f16>() {
        let (r, vocab) = range(shape, data.len())?;
        return Ok(Logits {
            data: data[r].iter().map(|v| v.to_f32()).collect(),
            vocab,
        });
    }
    Err(Error::model_invalid("logits are not float32 or float16"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_ids_count_from_one_only_without_an_attention_mask() {
        assert_eq!(first_position_id(false, true), 1); // transformers.js Gemma 3
        assert_eq!(first_position_id(true, true), 0); // Optimum / ours, any family
        assert_eq!(first_position_id(true, false), 0); // positions computed in the graph
    }

    #[test]
    fn prefill_runs_are_shorter_only_where_every_position_returns_logits() {
        use LogitsRows::*;
        assert_eq!(bounded_prefill_chunk(All, Some(262_144), 512), 64); // Gemma 3: 64 MB
        assert_eq!(bounded_prefill_chunk(All, Some(49_152), 512), 341); // SmolLM2
        assert_eq!(bounded_prefill_chunk(All, Some(349), 512), 512); // tiny
        assert_eq!(bounded_prefill_chunk(All, Some(10_000_000), 512), 16); // never below 16
        assert_eq!(bounded_prefill_chunk(All, None, 512), 512);
        assert_eq!(bounded_prefill_chunk(Kept, Some(262_144), 512), 512);
        assert_eq!(bounded_prefill_chunk(LastOnly, Some(262_144), 512), 512);
    }

    #[test]
    fn shared_kv_grows_by_doubling_in_chunks_up_to_the_context() {
        assert_eq!(grown_capacity(0, 1, 8192), KV_CHUNK);
        assert_eq!(grown_capacity(0, 100, 8192), 2 * KV_CHUNK);
        assert_eq!(grown_capacity(128, 129, 8192), 256);
        assert_eq!(grown_capacity(4096, 4097, 5000), 5056); // capped at the context, in chunks
        assert_eq!(grown_capacity(64, 65, 100), 128);
        assert_eq!(grown_capacity(0, 10, usize::MAX), KV_CHUNK);
    }
}
