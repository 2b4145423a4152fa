//! nodespace: on-device embeddings and text generation over ONNX Runtime.
//!
//! The core is a plain safe Rust API ([`embed`], [`generate`]); [`ffi`] is the C ABI over
//! it. ONNX Runtime is loaded at run time (see [`runtime`]).

pub mod embed;
pub mod error;
pub mod ffi;
pub mod generate;
pub mod log;
pub mod model;
mod pool;
pub mod runtime;

pub use embed::{Embedder, EmbedderInfo, EmbedderOptions, Pooling};
pub use error::{Error, ErrorKind, Result};
pub use generate::{
    parse_messages, parse_tools, CancelHandle, ChatMessage, ChatTemplate, Constraint, Flow,
    GenerateRequest, GenerationResult, GenerationStats, Generator, GeneratorInfo, GeneratorOptions,
    LookupOptions, Prompt, SamplingOptions, SlidingWindow, StopReason, ToolCall, ToolCallFormat,
    ToolChoice,
};
pub use runtime::{
    configure, init as init_runtime, runtime_info, set_logger, ActiveProvider, Device, RuntimeInfo,
    RuntimeOptions,
};
