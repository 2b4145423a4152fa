//! Diagnostics for the host app: nodespace's own events (runtime loaded, device fallback,
//! model loaded) and ONNX Runtime's log, delivered to one process-wide callback.

use std::sync::Arc;

use parking_lot::RwLock;

/// Severity, most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error = 1,
    Warn = 2,
    Info = 3,
    Debug = 4,
}

/// Receives (level, message). Called from whichever thread logs; must be thread-safe.
pub type LogFn = Arc<dyn Fn(Level, &str) + Send + Sync>;

struct Logger {
    sink: LogFn,
    max_level: Level,
}

static LOGGER: RwLock<Option<Logger>> = RwLock::new(None);

/// Install (or with `None`, remove) the log sink; messages above `max_level` are dropped.
/// [`crate::runtime::set_logger`] calls this and sets ONNX Runtime's level to match.
pub(crate) fn set_sink(sink: Option<LogFn>, max_level: Level) {
    *LOGGER.write() = sink.map(|sink| Logger { sink, max_level });
}

/// The level ONNX Runtime should log at: the sink's, or warnings when there is no sink.
pub(crate) fn max_level() -> Option<Level> {
    LOGGER.read().as_ref().map(|l| l.max_level)
}

pub(crate) fn log(level: Level, message: impl AsRef<str>) {
    let guard = LOGGER.read();
    if let Some(logger) = guard.as_ref() {
        if level <= logger.max_level {
            // A panicking sink must not take the library down.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                (logger.sink)(level, message.as_ref())
            }));
        }
    }
}
