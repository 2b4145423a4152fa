//! One error type for the whole library. Every error has a [`ErrorKind`] (which the C ABI
//! maps to an `ns_status`) and a message written for a person: it names the file, the
//! input or the value that is wrong.

use std::fmt;
use std::path::Path;

/// What went wrong, coarse enough to act on. The C ABI maps each kind to its own status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A value the caller passed is out of range or inconsistent.
    InvalidArgument,
    /// Text the caller passed is not valid UTF-8.
    InvalidUtf8,
    /// A caller-provided output buffer is too small.
    BufferTooSmall,
    /// A model folder or a file it needs does not exist.
    ModelNotFound,
    /// A model file exists but cannot be used (corrupt, or the wrong kind of model).
    ModelInvalid,
    /// The tokenizer could not be loaded or failed on an input.
    Tokenizer,
    /// The ONNX Runtime shared library could not be found or loaded.
    RuntimeNotFound,
    /// ONNX Runtime reported an error while building a session or running a graph.
    Runtime,
    /// The operation was cancelled by the caller.
    Cancelled,
    /// The input does not fit the model's context window.
    ContextOverflow,
    /// The request needs something this build or this model does not support.
    Unsupported,
    /// The chat template failed to render.
    Template,
    /// Reading or writing a file failed.
    Io,
    /// A bug in nodespace (e.g. a caught panic).
    Internal,
}

#[derive(Debug, Clone)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }

    pub(crate) fn model_invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::ModelInvalid, message)
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// An ONNX Runtime failure, with what we were doing when it happened.
    pub(crate) fn runtime(context: impl fmt::Display, err: impl fmt::Display) -> Self {
        Self::new(ErrorKind::Runtime, format!("{context}: {err}"))
    }

    /// A filesystem failure on `path`; missing files get [`ErrorKind::ModelNotFound`].
    pub(crate) fn io(path: &Path, err: &std::io::Error) -> Self {
        let kind = if err.kind() == std::io::ErrorKind::NotFound {
            ErrorKind::ModelNotFound
        } else {
            ErrorKind::Io
        };
        Self::new(kind, format!("{}: {err}", path.display()))
    }

    /// Prefix the message with more context, keeping the kind.
    pub(crate) fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}
