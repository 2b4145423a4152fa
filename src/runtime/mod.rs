//! ONNX Runtime, split as the `ort` crate splits it: `library` finds and loads the
//! shared library (per-OS search, the loader's reasons, the version check) and holds the
//! one process-wide environment; `device` chooses the execution provider and reports
//! why it fell back; `session` builds sessions on it.
//!
//! `ort`'s `load-dynamic` mode panics if a session is created before the library was
//! loaded, so every path into ONNX Runtime goes through the environment in `library`,
//! which resolves the library itself and turns every failure into an
//! [`ErrorKind::RuntimeNotFound`](crate::ErrorKind::RuntimeNotFound) error that lists
//! the places it looked.
//!
//! The library is searched, first match wins: the explicit
//! [`RuntimeOptions::library_path`], then `NS_ONNXRUNTIME_PATH`, then `ORT_DYLIB_PATH` (a
//! path given explicitly that fails to load is an error, not skipped), then the folder
//! holding the nodespace library itself, then the executable's folder, then the system
//! loader's search path. A library older than 1.22 (the C API nodespace is built
//! against) is refused with its version named.

mod device;
mod library;
mod session;

pub use device::{ActiveProvider, Device};
pub use library::{configure, init, runtime_info, RuntimeInfo, RuntimeOptions};
pub use session::default_intra_threads;
pub(crate) use session::{build_session, SessionConfig};

use crate::log::{self, Level, LogFn};

/// Install (or with `None`, remove) the process-wide log sink; messages above
/// `max_level` are dropped, and ONNX Runtime's own log is filtered to the same level.
/// It lives here, not in [`log`], so that `log` stays a leaf nothing calls back from.
pub fn set_logger(sink: Option<LogFn>, max_level: Level) {
    log::set_sink(sink, max_level);
    library::apply_log_level(max_level);
}
