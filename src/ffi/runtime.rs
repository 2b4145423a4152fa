//! C ABI: process-wide runtime settings.

use std::ffi::c_char;
use std::mem::offset_of;
use std::path::PathBuf;

use super::*;
use crate::runtime::{self, RuntimeOptions};

/// Process-wide settings, applied by `ns_runtime_init`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ns_runtime_options {
    /// sizeof(ns_runtime_options), set by ns_runtime_options_init.
    pub struct_size: u32,
    /// UTF-8 path of the ONNX Runtime shared library, or NULL (or "") to search for it:
    /// NS_ONNXRUNTIME_PATH, then ORT_DYLIB_PATH, then the folder of libnodespace itself,
    /// then the executable's folder, then the system loader. Copied; may be freed after
    /// the call.
    pub onnxruntime_path: *const c_char,
}

const RUNTIME_OPTIONS_V1: usize =
    offset_of!(ns_runtime_options, onnxruntime_path) + std::mem::size_of::<*const c_char>();

/// Fill `options` with defaults and set its struct_size. Pass sizeof(*options) as `size`: a
/// caller built against an older (smaller) header gets the fields it knows, one built
/// against a newer header gets this library's fields (the rest zeroed) and struct_size
/// set to what this library knows. Statuses: NS_ERR_NULL_POINTER, NS_ERR_STRUCT_SIZE.
#[no_mangle]
pub extern "C" fn ns_runtime_options_init(
    options: *mut ns_runtime_options,
    size: usize,
) -> ns_status {
    guard(std::ptr::null_mut(), || {
        init_versioned(
            options,
            size,
            ns_runtime_options {
                struct_size: std::mem::size_of::<ns_runtime_options>() as u32,
                onnxruntime_path: std::ptr::null(),
            },
            RUNTIME_OPTIONS_V1,
            "ns_runtime_options",
        )
    })
}

/// Apply process-wide settings and load ONNX Runtime now (instead of at the first model
/// load), so that a missing or incompatible runtime is reported here. Optional.
///
/// Call before any model is loaded; once ONNX Runtime is loaded it cannot be replaced, and
/// a different path gives NS_ERR_INVALID_ARGUMENT. Returns NS_ERR_RUNTIME_NOT_FOUND with
/// the places searched and the system loader's reason for each when the library cannot be
/// loaded; a failed call changes nothing: it may be called again with another path, and
/// the next model load searches as usual (NS_ONNXRUNTIME_PATH, ...). Thread-safe.
#[no_mangle]
pub extern "C" fn ns_runtime_init(options: *const ns_runtime_options) -> ns_status {
    guard(std::ptr::null_mut(), || {
        let defaults = ns_runtime_options {
            struct_size: 0,
            onnxruntime_path: std::ptr::null(),
        };
        let o = read_versioned(options, defaults, RUNTIME_OPTIONS_V1, "ns_runtime_options")?;
        let path = opt_str(o.onnxruntime_path, "onnxruntime_path")?.filter(|p| !p.is_empty());
        runtime::init(RuntimeOptions {
            library_path: path.map(PathBuf::from),
        })?;
        Ok(())
    })
}

/// Write the loaded ONNX Runtime's version (e.g. "1.31.1") into `buffer` (`capacity`
/// bytes, NUL included), loading the runtime if needed. NS_ERR_BUFFER_TOO_SMALL when it
/// does not fit. Thread-safe.
#[no_mangle]
pub extern "C" fn ns_runtime_version(buffer: *mut c_char, capacity: usize) -> ns_status {
    guard(std::ptr::null_mut(), || {
        let buffer = non_null_mut(buffer, "buffer")?;
        let version = runtime::runtime_info()?.version;
        copy_out(&version, buffer, capacity)
    })
}

/// Copy `text` and a NUL into a caller's buffer of `capacity` bytes.
pub(crate) fn copy_out(text: &str, buffer: &mut c_char, capacity: usize) -> FfiResult {
    if text.len() + 1 > capacity {
        return Err(fail(
            NS_ERR_BUFFER_TOO_SMALL,
            format!(
                "buffer holds {capacity} bytes; {} are needed",
                text.len() + 1
            ),
        ));
    }
    // SAFETY: the caller's buffer holds `capacity` bytes (documented contract).
    unsafe {
        std::ptr::copy_nonoverlapping(
            text.as_ptr(),
            (buffer as *mut c_char).cast::<u8>(),
            text.len(),
        );
        *(buffer as *mut c_char).add(text.len()) = 0;
    }
    Ok(())
}

/// Log levels for ns_set_log_callback, most severe first.
pub const NS_LOG_ERROR: i32 = 1;
pub const NS_LOG_WARN: i32 = 2;
pub const NS_LOG_INFO: i32 = 3;
pub const NS_LOG_DEBUG: i32 = 4;

/// Receives a log message (UTF-8, NUL-terminated, valid only during the call) with its
/// NS_LOG_* level. Called on whichever thread logs, possibly several at once, and possibly
/// from inside other nodespace calls: it must be thread-safe and must not call nodespace.
pub type ns_log_callback = Option<
    unsafe extern "C" fn(level: i32, message: *const c_char, user_data: *mut std::ffi::c_void),
>;

struct CallbackContext(*mut std::ffi::c_void);
// SAFETY: the caller promises (documented) that the callback and its user data may be used
// from any thread.
unsafe impl Send for CallbackContext {}
unsafe impl Sync for CallbackContext {}

/// Send nodespace's diagnostics (runtime loaded, device fallback, ...) and ONNX Runtime's
/// own log, up to `max_level` (NS_LOG_*), to `callback`; NULL removes it. May be called at
/// any time; thread-safe. Statuses: NS_ERR_INVALID_ARGUMENT for an unknown level.
#[no_mangle]
pub extern "C" fn ns_set_log_callback(
    callback: ns_log_callback,
    user_data: *mut std::ffi::c_void,
    max_level: i32,
) -> ns_status {
    use crate::log::Level;
    use crate::runtime::set_logger;
    guard(std::ptr::null_mut(), || {
        let level = match max_level {
            NS_LOG_ERROR => Level::Error,
            NS_LOG_WARN => Level::Warn,
            NS_LOG_INFO => Level::Info,
            NS_LOG_DEBUG => Level::Debug,
            other => {
                return Err(fail(
                    NS_ERR_INVALID_ARGUMENT,
                    format!("max_level {other} is not one of the NS_LOG_* values"),
                ))
            }
        };
        let Some(callback) = callback else {
            set_logger(None, level);
            return Ok(());
        };
        let context = CallbackContext(user_data);
        set_logger(
            Some(std::sync::Arc::new(move |level: Level, message: &str| {
                let text = super::embed::cstring(message);
                let ctx = &context;
                // SAFETY: a C callback given by the caller, with its own user data.
                unsafe { callback(level as i32, text.as_ptr(), ctx.0) };
            })),
            level,
        );
        Ok(())
    })
}
