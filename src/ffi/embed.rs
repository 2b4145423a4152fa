//! C ABI: embeddings.

use std::ffi::{c_char, CString};
use std::mem::{offset_of, size_of};

use super::*;
use crate::embed::{Embedder, EmbedderOptions, Pooling};
use crate::runtime::Device;

/// Execution device: the platform accelerator when available, else CPU (the default).
pub const NS_DEVICE_AUTO: i32 = 0;
pub const NS_DEVICE_CPU: i32 = 1;
pub const NS_DEVICE_COREML: i32 = 2;
pub const NS_DEVICE_DIRECTML: i32 = 3;
pub const NS_DEVICE_CUDA: i32 = 4;

/// Pooling: as the model folder says (1_Pooling/config.json; mean when absent).
pub const NS_POOLING_DEFAULT: i32 = 0;
pub const NS_POOLING_MEAN: i32 = 1;
pub const NS_POOLING_CLS: i32 = 2;
pub const NS_POOLING_LAST_TOKEN: i32 = 3;
pub const NS_POOLING_MAX: i32 = 4;
/// In ns_embedder_info only: the graph pools itself (a `sentence_embedding` output).
pub const NS_POOLING_IN_GRAPH: i32 = 5;

/// How to load an embedding model. Initialize with ns_embedder_options_init, then set
/// fields; zero / NULL fields mean "as the model folder says" or the documented default.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ns_embedder_options {
    /// sizeof(ns_embedder_options), set by ns_embedder_options_init.
    pub struct_size: u32,
    /// UTF-8 path of the model folder (Hugging Face layout: onnx/model.onnx or
    /// model.onnx, tokenizer.json, configs). Required. Copied during the call.
    pub model_path: *const c_char,
    /// Graph variant ("int8", "quantized", "fp16", ...: model_<variant>.onnx), or NULL
    /// for model.onnx.
    pub variant: *const c_char,
    /// NS_DEVICE_*.
    pub device: i32,
    /// Intra-op threads per session; 0: the number of physical cores.
    pub intra_threads: u32,
    /// Calls that may run at the same time (one ONNX Runtime session each, created on
    /// demand); 0: 2.
    pub max_sessions: u32,
    /// NS_POOLING_*.
    pub pooling: i32,
    /// Non-zero: L2-normalize vectors (default 1).
    pub normalize: i32,
    /// Truncate texts to this many tokens; 0: the model's maximum.
    pub max_length: u32,
    /// Keep only the first N dimensions (Matryoshka models), renormalized; 0: all. A model
    /// that lists the sizes it was trained for accepts only those (else
    /// NS_ERR_INVALID_ARGUMENT naming them) and gets its documented procedure
    /// (nomic-embed-text: a layer norm over the pooled vector before truncating).
    pub output_dimension: u32,
    /// Prompt name from config_sentence_transformers.json ("query", "passage", ...)
    /// prepended to every text; NULL: the model's default prompt, if any.
    pub prompt_name: *const c_char,
    /// A batch is cut when rows x longest row would pass this many tokens; 0: 512.
    pub batch_token_budget: u32,
    /// At most this many texts per batch; 0: 64.
    pub max_batch_size: u32,
    /// Non-zero: a text longer than the maximum length (ns_embedder_info.max_length, the
    /// prompt and special tokens included) fails the call with NS_ERR_CONTEXT_OVERFLOW,
    /// naming the text and its token count; 0 (default): it is truncated.
    pub fail_on_truncation: i32,
}

const EMBEDDER_OPTIONS_V1: usize =
    offset_of!(ns_embedder_options, max_batch_size) + size_of::<u32>();

impl Default for ns_embedder_options {
    fn default() -> Self {
        Self {
            struct_size: size_of::<Self>() as u32,
            model_path: std::ptr::null(),
            variant: std::ptr::null(),
            device: NS_DEVICE_AUTO,
            intra_threads: 0,
            max_sessions: 0,
            pooling: NS_POOLING_DEFAULT,
            normalize: 1,
            max_length: 0,
            output_dimension: 0,
            prompt_name: std::ptr::null(),
            batch_token_budget: 0,
            max_batch_size: 0,
            fail_on_truncation: 0,
        }
    }
}

/// What an embedder detected. Set `struct_size` to sizeof(ns_embedder_info) before
/// ns_embedder_get_info; on return it holds the bytes the library filled (a caller built
/// against a newer header gets the fields this library knows, the rest zeroed). Strings are owned by the embedder and valid until it is freed.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ns_embedder_info {
    pub struct_size: u32,
    /// Floats per vector.
    pub dimension: usize,
    /// Texts are truncated to this many tokens.
    pub max_length: usize,
    /// NS_POOLING_* (NS_POOLING_IN_GRAPH when the graph pools).
    pub pooling: i32,
    /// 1 when vectors are L2-normalized.
    pub normalize: i32,
    /// The ONNX file in use.
    pub model_file: *const c_char,
    /// The execution provider really used, e.g. "CPUExecutionProvider".
    pub provider: *const c_char,
    /// Why the requested device is not the one used, or NULL.
    pub fallback_reason: *const c_char,
}

const EMBEDDER_INFO_V1: usize = size_of::<ns_embedder_info>();

/// An embedding model. Opaque.
pub struct ns_embedder {
    magic: u64,
    embedder: Embedder,
    described: Described,
}

impl Handle for ns_embedder {
    const MAGIC: u64 = 0x4e53_454d_4245_4444;
    fn magic(&self) -> u64 {
        self.magic
    }
    fn poison(&mut self) {
        self.magic = 0;
    }
}

pub(crate) fn device_from(value: i32) -> FfiResult<Device> {
    Ok(match value {
        NS_DEVICE_AUTO => Device::Auto,
        NS_DEVICE_CPU => Device::Cpu,
        NS_DEVICE_COREML => Device::CoreMl,
        NS_DEVICE_DIRECTML => Device::DirectMl,
        NS_DEVICE_CUDA => Device::Cuda,
        other => {
            return Err(fail(
                NS_ERR_INVALID_ARGUMENT,
                format!("device {other} is not one of the NS_DEVICE_* values"),
            ))
        }
    })
}

pub(crate) fn cstring(text: &str) -> CString {
    CString::new(text.replace('\0', " ")).unwrap_or_default()
}

/// Fill `options` with defaults and set its struct_size. Pass sizeof(*options) as `size`: a
/// caller built against an older (smaller) header gets the fields it knows, one built
/// against a newer header gets this library's fields (the rest zeroed) and struct_size
/// set to what this library knows. Statuses: NS_ERR_NULL_POINTER, NS_ERR_STRUCT_SIZE.
#[no_mangle]
pub extern "C" fn ns_embedder_options_init(
    options: *mut ns_embedder_options,
    size: usize,
) -> ns_status {
    guard(std::ptr::null_mut(), || {
        init_versioned(
            options,
            size,
            ns_embedder_options::default(),
            EMBEDDER_OPTIONS_V1,
            "ns_embedder_options",
        )
    })
}

/// Load an embedding model. On success `*out` is a new embedder (free it with
/// ns_embedder_free); on failure `*out` is NULL.
///
/// Statuses: NS_ERR_NULL_POINTER, NS_ERR_STRUCT_SIZE, NS_ERR_INVALID_UTF8,
/// NS_ERR_INVALID_ARGUMENT, NS_ERR_MODEL_NOT_FOUND (missing folder or file, with its path),
/// NS_ERR_MODEL_INVALID (corrupt file, not an embedding model), NS_ERR_TOKENIZER,
/// NS_ERR_RUNTIME_NOT_FOUND, NS_ERR_UNSUPPORTED (device not available), NS_ERR_RUNTIME.
/// `error` (may be NULL) receives a copy of the status and message. Thread-safe; slow
/// (loads the model): call it off the UI thread.
#[no_mangle]
pub extern "C" fn ns_embedder_new(
    options: *const ns_embedder_options,
    out: *mut *mut ns_embedder,
    error: *mut ns_error_detail,
) -> ns_status {
    guard(error, || {
        let out = non_null_mut(out, "out")?;
        *out = std::ptr::null_mut();
        let o = read_versioned(
            options,
            ns_embedder_options::default(),
            EMBEDDER_OPTIONS_V1,
            "ns_embedder_options",
        )?;
        let m = model_fields(
            o.model_path,
            o.variant,
            o.device,
            o.intra_threads,
            o.max_sessions,
        )?;
        let mut options = EmbedderOptions::new(m.path);
        options.variant = m.variant;
        options.device = m.device;
        options.intra_threads = m.intra_threads;
        options.max_sessions = m.max_sessions.unwrap_or(options.max_sessions);
        options.pooling = match o.pooling {
            NS_POOLING_DEFAULT => None,
            NS_POOLING_MEAN => Some(Pooling::Mean),
            NS_POOLING_CLS => Some(Pooling::Cls),
            NS_POOLING_LAST_TOKEN => Some(Pooling::LastToken),
            NS_POOLING_MAX => Some(Pooling::Max),
            other => {
                return Err(fail(
                    NS_ERR_INVALID_ARGUMENT,
                    format!("pooling {other} is not one of the NS_POOLING_* values"),
                ))
            }
        };
        options.normalize = o.normalize != 0;
        options.max_length = (o.max_length > 0).then_some(o.max_length as usize);
        options.output_dimension = (o.output_dimension > 0).then_some(o.output_dimension as usize);
        options.prompt_name = opt_str(o.prompt_name, "options.prompt_name")?.map(str::to_string);
        if o.batch_token_budget > 0 {
            options.batch_token_budget = o.batch_token_budget as usize;
        }
        if o.max_batch_size > 0 {
            options.max_batch_size = o.max_batch_size as usize;
        }
        options.fail_on_truncation = o.fail_on_truncation != 0;
        let embedder = Embedder::new(options)?;
        let described = Described::new(&embedder.info().model_path, &embedder.info().provider);
        let handle = Box::new(ns_embedder {
            magic: ns_embedder::MAGIC,
            embedder,
            described,
        });
        *out = Box::into_raw(handle);
        Ok(())
    })
}

/// Length of the vectors `embedder` returns, or 0 for NULL / a freed handle.
#[no_mangle]
pub extern "C" fn ns_embedder_dimension(embedder: *const ns_embedder) -> usize {
    let mut dim = 0;
    guard(std::ptr::null_mut(), || {
        dim = live(embedder, "embedder")?.embedder.dimension();
        Ok(())
    });
    dim
}

/// Describe what `embedder` detected and runs with. Set `info->struct_size` first.
/// Statuses: NS_ERR_NULL_POINTER, NS_ERR_STRUCT_SIZE, NS_ERR_INVALID_ARGUMENT (freed handle).
#[no_mangle]
pub extern "C" fn ns_embedder_get_info(
    embedder: *const ns_embedder,
    info: *mut ns_embedder_info,
) -> ns_status {
    guard(std::ptr::null_mut(), || {
        let handle = live(embedder, "embedder")?;
        let i = handle.embedder.info();
        let value = ns_embedder_info {
            struct_size: size_of::<ns_embedder_info>() as u32,
            dimension: i.dimension,
            max_length: i.max_length,
            pooling: match i.pooling {
                None => NS_POOLING_IN_GRAPH,
                Some(Pooling::Mean) => NS_POOLING_MEAN,
                Some(Pooling::Cls) => NS_POOLING_CLS,
                Some(Pooling::LastToken) => NS_POOLING_LAST_TOKEN,
                Some(Pooling::Max) => NS_POOLING_MAX,
            },
            normalize: i32::from(i.normalize),
            model_file: handle.described.model_file(),
            provider: handle.described.provider(),
            fallback_reason: handle.described.fallback_reason(),
        };
        write_versioned(info, value, EMBEDDER_INFO_V1, "ns_embedder_info")
    })
}

/// Embed `count` texts into `out` (row-major: text i's vector at out[i * dimension]).
///
/// `texts[i]` is UTF-8; `lengths[i]` is its length in bytes, or `lengths` is NULL and
/// every text is NUL-terminated. An empty text is valid. `out_len` is the number of floats
/// `out` holds: at least count * ns_embedder_dimension(embedder). Texts longer than the
/// model's maximum are truncated (or refused with NS_ERR_CONTEXT_OVERFLOW when the
/// embedder was made with fail_on_truncation). Each input (its prompt included) is
/// stripped of leading and trailing whitespace, as sentence-transformers does. Vectors
/// come back in input order.
///
/// Statuses: NS_ERR_NULL_POINTER (embedder, texts, a text, out), NS_ERR_INVALID_ARGUMENT
/// (count 0, freed handle), NS_ERR_INVALID_UTF8 (names the text), NS_ERR_BUFFER_TOO_SMALL,
/// NS_ERR_CONTEXT_OVERFLOW, NS_ERR_TOKENIZER, NS_ERR_RUNTIME. `error` (may be NULL)
/// receives a copy of the status and message. Thread-safe: one embedder may be used by many
/// threads at once (they run in parallel on up to max_sessions sessions and get
/// bitwise-identical results).
#[no_mangle]
pub extern "C" fn ns_embed_batch(
    embedder: *const ns_embedder,
    texts: *const *const c_char,
    lengths: *const usize,
    count: usize,
    out: *mut f32,
    out_len: usize,
    error: *mut ns_error_detail,
) -> ns_status {
    guard(error, || {
        embed_batch(embedder, None, texts, lengths, count, out, out_len)
    })
}

/// ns_embed_batch with the model's prompt named `prompt_name` (UTF-8, NUL-terminated; from
/// config_sentence_transformers.json, e.g. "query" for a search and "document" for the
/// notes it searches) prepended to every text instead of the embedder's own prompt, so one
/// loaded model serves both. NULL: the embedder's prompt, as ns_embed_batch.
///
/// Statuses: those of ns_embed_batch, and NS_ERR_INVALID_ARGUMENT for a name the model
/// does not define (the message lists the names it does), NS_ERR_INVALID_UTF8.
#[no_mangle]
pub extern "C" fn ns_embed_batch_with_prompt(
    embedder: *const ns_embedder,
    prompt_name: *const c_char,
    texts: *const *const c_char,
    lengths: *const usize,
    count: usize,
    out: *mut f32,
    out_len: usize,
    error: *mut ns_error_detail,
) -> ns_status {
    guard(error, || {
        let prompt_name = opt_str(prompt_name, "prompt_name")?;
        embed_batch(embedder, prompt_name, texts, lengths, count, out, out_len)
    })
}

fn embed_batch(
    embedder: *const ns_embedder,
    prompt_name: Option<&str>,
    texts: *const *const c_char,
    lengths: *const usize,
    count: usize,
    out: *mut f32,
    out_len: usize,
) -> FfiResult<()> {
    let handle = live(embedder, "embedder")?;
    if texts.is_null() {
        return Err(fail(NS_ERR_NULL_POINTER, "texts is NULL"));
    }
    if count == 0 {
        return Err(fail(
            NS_ERR_INVALID_ARGUMENT,
            "count is 0: there are no texts to embed",
        ));
    }
    if out.is_null() {
        return Err(fail(NS_ERR_NULL_POINTER, "out is NULL"));
    }
    // SAFETY: the caller passes `count` text pointers (and lengths when non-NULL).
    let pointers = unsafe { std::slice::from_raw_parts(texts, count) };
    let sizes = (!lengths.is_null()).then(|| unsafe { std::slice::from_raw_parts(lengths, count) });
    let mut strs: Vec<&str> = Vec::with_capacity(count);
    for (i, &ptr) in pointers.iter().enumerate() {
        let what = format!("texts[{i}]");
        let text = match sizes {
            None => req_str(ptr, &what)?,
            Some(sizes) => {
                if ptr.is_null() {
                    if sizes[i] == 0 {
                        ""
                    } else {
                        return Err(fail(NS_ERR_NULL_POINTER, format!("{what} is NULL")));
                    }
                } else {
                    // SAFETY: the caller's text holds lengths[i] bytes.
                    utf8(
                        unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), sizes[i]) },
                        &what,
                    )?
                }
            }
        };
        strs.push(text);
    }
    let needed = count.saturating_mul(handle.embedder.dimension());
    if out_len < needed {
        return Err(fail(
            NS_ERR_BUFFER_TOO_SMALL,
            format!(
                "out holds {out_len} floats; {count} texts x {} dimensions need {needed}",
                handle.embedder.dimension()
            ),
        ));
    }
    // SAFETY: the caller's buffer holds out_len floats.
    let out = unsafe { std::slice::from_raw_parts_mut(out, out_len) };
    handle
        .embedder
        .embed_into_with_prompt(&strs, prompt_name, out)?;
    Ok(())
}

/// Free an embedder. NULL is a no-op. No other thread may be using it (its handle is
/// poisoned, so a later use is reported as NS_ERR_INVALID_ARGUMENT where the memory has
/// not been reused, but that is not guaranteed).
#[no_mangle]
pub extern "C" fn ns_embedder_free(embedder: *mut ns_embedder) {
    free_handle(embedder, "embedder");
}
