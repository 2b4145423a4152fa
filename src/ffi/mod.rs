//! The C ABI: a thin translation layer over the Rust API. Nothing else lives here.
//!
//! Conventions (documented in `include/nodespace.h`):
//! - every fallible function returns an `ns_status` and writes results through
//!   out-parameters; `ns_last_error_message()` gives the calling thread's last message;
//! - no panic crosses the boundary: every entry point runs inside guard();
//! - option structs start with `struct_size` so that they can grow without breaking
//!   callers compiled against an older, smaller struct.

#![allow(non_camel_case_types)]
// The exported functions are called from C, where `unsafe fn` means nothing: they check
// what can be checked (NULL, live handles, lengths) and the header states the rest.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

mod embed;
mod generate;
mod runtime;

pub use self::{embed::*, generate::*, runtime::*};

use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error::{Error, ErrorKind};

/// Result code of every fallible function. Values are append-only.
pub type ns_status = i32;

/// Success.
pub const NS_OK: ns_status = 0;
/// An argument is out of range or inconsistent.
pub const NS_ERR_INVALID_ARGUMENT: ns_status = 1;
/// A required pointer argument is NULL.
pub const NS_ERR_NULL_POINTER: ns_status = 2;
/// A text argument is not valid UTF-8.
pub const NS_ERR_INVALID_UTF8: ns_status = 3;
/// A caller-provided output buffer is too small.
pub const NS_ERR_BUFFER_TOO_SMALL: ns_status = 4;
/// An options struct's `struct_size` is 0, smaller than any released version, or larger
/// than this library knows.
pub const NS_ERR_STRUCT_SIZE: ns_status = 5;
/// A model folder or a file it needs does not exist.
pub const NS_ERR_MODEL_NOT_FOUND: ns_status = 6;
/// A model file exists but cannot be used (corrupt, or the wrong kind of model).
pub const NS_ERR_MODEL_INVALID: ns_status = 7;
/// The tokenizer could not be loaded or failed on an input.
pub const NS_ERR_TOKENIZER: ns_status = 8;
/// The ONNX Runtime shared library could not be found or loaded.
pub const NS_ERR_RUNTIME_NOT_FOUND: ns_status = 9;
/// ONNX Runtime reported an error.
pub const NS_ERR_RUNTIME: ns_status = 10;
/// The operation was cancelled (cancel token or callback).
pub const NS_ERR_CANCELLED: ns_status = 11;
/// The input does not fit the model's context window.
pub const NS_ERR_CONTEXT_OVERFLOW: ns_status = 12;
/// The request needs something this build, runtime or model does not support.
pub const NS_ERR_UNSUPPORTED: ns_status = 13;
/// The model's chat template failed to parse or render.
pub const NS_ERR_TEMPLATE: ns_status = 14;
/// Reading or writing a file failed.
pub const NS_ERR_IO: ns_status = 15;
/// A bug in nodespace (an internal panic was caught). Please report it.
pub const NS_ERR_INTERNAL: ns_status = 16;

/// Version of the C ABI described by this header. Incremented on incompatible changes only.
pub const NS_ABI_VERSION: u32 = 1;

/// Longest message (bytes, NUL included) stored in an ns_error_detail.
pub const NS_ERROR_DETAIL_CAPACITY: usize = 1024;

/// A caller-owned copy of a failed call's status and message, for callers that cannot
/// read `ns_last_error_message()` on the thread that made the call (FFI layers that run
/// calls on worker threads). Longer messages are cut at a UTF-8 character boundary.
#[repr(C)]
pub struct ns_error_detail {
    /// The call's status (`NS_OK` when it succeeded).
    pub status: ns_status,
    /// NUL-terminated UTF-8 message; empty when the call succeeded.
    pub message: [c_char; NS_ERROR_DETAIL_CAPACITY],
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn status_of(kind: ErrorKind) -> ns_status {
    match kind {
        ErrorKind::InvalidArgument => NS_ERR_INVALID_ARGUMENT,
        ErrorKind::InvalidUtf8 => NS_ERR_INVALID_UTF8,
        ErrorKind::BufferTooSmall => NS_ERR_BUFFER_TOO_SMALL,
        ErrorKind::ModelNotFound => NS_ERR_MODEL_NOT_FOUND,
        ErrorKind::ModelInvalid => NS_ERR_MODEL_INVALID,
        ErrorKind::Tokenizer => NS_ERR_TOKENIZER,
        ErrorKind::RuntimeNotFound => NS_ERR_RUNTIME_NOT_FOUND,
        ErrorKind::Runtime => NS_ERR_RUNTIME,
        ErrorKind::Cancelled => NS_ERR_CANCELLED,
        ErrorKind::ContextOverflow => NS_ERR_CONTEXT_OVERFLOW,
        ErrorKind::Unsupported => NS_ERR_UNSUPPORTED,
        ErrorKind::Template => NS_ERR_TEMPLATE,
        ErrorKind::Io => NS_ERR_IO,
        ErrorKind::Internal => NS_ERR_INTERNAL,
    }
}

/// An error of the C layer itself (bad pointers, sizes), before the Rust API is reached.
pub(crate) struct FfiError {
    status: ns_status,
    message: String,
}

impl From<Error> for FfiError {
    fn from(e: Error) -> Self {
        Self {
            status: status_of(e.kind()),
            message: e.message().to_string(),
        }
    }
}

pub(crate) type FfiResult<T = ()> = Result<T, FfiError>;

pub(crate) fn fail(status: ns_status, message: impl Into<String>) -> FfiError {
    FfiError {
        status,
        message: message.into(),
    }
}

fn set_last_error(message: &str) {
    let c = CString::new(message.replace('\0', " ")).unwrap_or_default();
    // try_with: during thread teardown (a pthread key destructor freeing a handle) the
    // thread-local is already gone; the status still tells the caller what happened.
    let _ = LAST_ERROR.try_with(|e| *e.borrow_mut() = c);
}

/// Run an entry point: catch panics, record the message, return the status.
pub(crate) fn guard(detail: *mut ns_error_detail, body: impl FnOnce() -> FfiResult) -> ns_status {
    let outcome = catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Err(fail(
            NS_ERR_INTERNAL,
            format!("internal error (please report): {what}"),
        ))
    });
    let (status, message) = match outcome {
        Ok(()) => (NS_OK, String::new()),
        Err(e) => (e.status, e.message),
    };
    set_last_error(&message);
    if !detail.is_null() {
        // SAFETY: the caller passes a valid, writable ns_error_detail or NULL.
        unsafe { write_detail(&mut *detail, status, &message) };
    }
    status
}

fn write_detail(detail: &mut ns_error_detail, status: ns_status, message: &str) {
    detail.status = status;
    let mut end = message.len().min(NS_ERROR_DETAIL_CAPACITY - 1);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    for (dst, &src) in detail.message.iter_mut().zip(&message.as_bytes()[..end]) {
        *dst = src as c_char;
    }
    detail.message[end] = 0;
}

/// A required pointer argument.
pub(crate) fn non_null<'a, T>(ptr: *const T, what: &str) -> FfiResult<&'a T> {
    // SAFETY: non-NULL pointers passed by the caller point to valid `T` (documented contract).
    unsafe { ptr.as_ref() }.ok_or_else(|| fail(NS_ERR_NULL_POINTER, format!("{what} is NULL")))
}

pub(crate) fn non_null_mut<'a, T>(ptr: *mut T, what: &str) -> FfiResult<&'a mut T> {
    // SAFETY: as above, and the caller gives exclusive access for the call.
    unsafe { ptr.as_mut() }.ok_or_else(|| fail(NS_ERR_NULL_POINTER, format!("{what} is NULL")))
}

/// A NUL-terminated UTF-8 string argument; NULL gives `None`.
pub(crate) fn opt_str<'a>(ptr: *const c_char, what: &str) -> FfiResult<Option<&'a str>> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: the caller passes a NUL-terminated string.
    let bytes = unsafe { CStr::from_ptr(ptr) }.to_bytes();
    utf8(bytes, what).map(Some)
}

pub(crate) fn req_str<'a>(ptr: *const c_char, what: &str) -> FfiResult<&'a str> {
    opt_str(ptr, what)?.ok_or_else(|| fail(NS_ERR_NULL_POINTER, format!("{what} is NULL")))
}

pub(crate) fn utf8<'a>(bytes: &'a [u8], what: &str) -> FfiResult<&'a str> {
    std::str::from_utf8(bytes).map_err(|e| {
        fail(
            NS_ERR_INVALID_UTF8,
            format!(
                "{what} is not valid UTF-8 (invalid byte at offset {})",
                e.valid_up_to()
            ),
        )
    })
}

/// Read a caller's options struct that may be older (smaller) than ours: the bytes it has
/// are copied over `defaults`, the rest keep their defaults.
///
/// `min_size` is the size of the first released version of the struct.
pub(crate) fn read_versioned<T: Copy>(
    ptr: *const T,
    defaults: T,
    min_size: usize,
    what: &str,
) -> FfiResult<T> {
    let caller = non_null(ptr, what)?;
    // SAFETY: every versioned struct starts with `uint32_t struct_size`.
    let size = unsafe { *(caller as *const T as *const u32) } as usize;
    let ours = std::mem::size_of::<T>();
    if size == 0 {
        return Err(fail(
            NS_ERR_STRUCT_SIZE,
            format!("{what}.struct_size is 0: call its _init function first"),
        ));
    }
    if size < min_size || size > ours {
        return Err(fail(
            NS_ERR_STRUCT_SIZE,
            format!("{what}.struct_size is {size}; this library accepts {min_size} to {ours} bytes (a newer nodespace.h than the library?)"),
        ));
    }
    let mut out = defaults;
    // SAFETY: `size` bytes are readable in the caller's struct and fit in `out`.
    unsafe {
        std::ptr::copy_nonoverlapping(
            caller as *const T as *const u8,
            &mut out as *mut T as *mut u8,
            size,
        )
    };
    Ok(out)
}

/// Fill a caller's options struct of `size` bytes with defaults: a caller built against an
/// older header gets the fields it knows; one built against a newer header gets this
/// library's fields, the rest zeroed, and struct_size set to the size this library knows.
pub(crate) fn init_versioned<T: Copy>(
    ptr: *mut T,
    size: usize,
    defaults: T,
    min_size: usize,
    what: &str,
) -> FfiResult {
    let caller = non_null_mut(ptr, what)?;
    let ours = std::mem::size_of::<T>();
    if size < min_size {
        return Err(fail(NS_ERR_STRUCT_SIZE, format!("{what} size {size} is smaller than any version of {what} ({min_size} bytes at least)")));
    }
    let filled = size.min(ours);
    let out = caller as *mut T as *mut u8;
    // SAFETY: the caller's struct holds `size` writable bytes (documented contract).
    unsafe {
        std::ptr::copy_nonoverlapping(&defaults as *const T as *const u8, out, filled);
        std::ptr::write_bytes(out.add(filled), 0, size - filled);
        *(out as *mut u32) = filled as u32;
    }
    Ok(())
}

/// Write an info struct to a caller whose struct may be older (smaller) or newer (larger)
/// than ours: the bytes both know are written, bytes only a newer caller knows are zeroed,
/// and struct_size is set to the number of bytes the library filled.
pub(crate) fn write_versioned<T: Copy>(
    ptr: *mut T,
    value: T,
    min_size: usize,
    what: &str,
) -> FfiResult {
    let caller = non_null_mut(ptr, what)?;
    // SAFETY: every versioned struct starts with `uint32_t struct_size`.
    let size = unsafe { *(caller as *mut T as *const u32) } as usize;
    let ours = std::mem::size_of::<T>();
    if size < min_size {
        return Err(fail(
            NS_ERR_STRUCT_SIZE,
            format!("{what}.struct_size is {size}; set it to sizeof({what}) (at least {min_size} bytes)"),
        ));
    }
    let filled = size.min(ours);
    let out = caller as *mut T as *mut u8;
    // SAFETY: the caller's struct holds `size` writable bytes (documented contract).
    unsafe {
        std::ptr::copy_nonoverlapping(&value as *const T as *const u8, out, filled);
        std::ptr::write_bytes(out.add(filled), 0, size - filled);
        *(out as *mut u32) = filled as u32;
    }
    Ok(())
}

/// Checks that a handle pointer is live: handles carry a magic number that `_free` clears.
pub(crate) fn live<'a, T: Handle>(ptr: *const T, what: &str) -> FfiResult<&'a T> {
    let handle = non_null(ptr, what)?;
    if handle.magic() != T::MAGIC {
        return Err(fail(
            NS_ERR_INVALID_ARGUMENT,
            format!("{what} is not a live handle (already freed, or not a {what})"),
        ));
    }
    Ok(handle)
}

pub(crate) trait Handle {
    const MAGIC: u64;
    fn magic(&self) -> u64;
    /// Clear the magic number, so that a later use of the freed pointer is detected while
    /// its memory has not been reused.
    fn poison(&mut self);
}

/// The `_free` functions: NULL is a no-op, a live handle is poisoned and dropped.
pub(crate) fn free_handle<T: Handle>(ptr: *mut T, what: &str) {
    guard(std::ptr::null_mut(), || {
        if ptr.is_null() {
            return Ok(());
        }
        live(ptr, what)?;
        // SAFETY: a live handle, made by Box::into_raw in its constructor.
        let mut handle = unsafe { Box::from_raw(ptr) };
        handle.poison();
        drop(handle);
        Ok(())
    });
}

/// The option fields every model loader shares, read from a C options struct.
pub(crate) struct ModelFields {
    pub path: String,
    pub variant: Option<String>,
    pub device: crate::runtime::Device,
    pub intra_threads: Option<usize>,
    pub max_sessions: Option<usize>,
}

pub(crate) fn model_fields(
    model_path: *const c_char,
    variant: *const c_char,
    device: i32,
    intra_threads: u32,
    max_sessions: u32,
) -> FfiResult<ModelFields> {
    Ok(ModelFields {
        path: req_str(model_path, "options.model_path")?.to_string(),
        variant: opt_str(variant, "options.variant")?.map(str::to_string),
        device: embed::device_from(device)?,
        intra_threads: (intra_threads > 0).then_some(intra_threads as usize),
        max_sessions: (max_sessions > 0).then_some(max_sessions as usize),
    })
}

/// What a model handle says about itself, as C strings it owns (valid until it is freed).
pub(crate) struct Described {
    model_file: CString,
    provider: CString,
    fallback_reason: Option<CString>,
}

impl Described {
    pub fn new(model_file: &std::path::Path, provider: &crate::runtime::ActiveProvider) -> Self {
        Self {
            model_file: embed::cstring(&model_file.display().to_string()),
            provider: embed::cstring(&provider.name),
            fallback_reason: provider.fallback_reason.as_deref().map(embed::cstring),
        }
    }
    pub fn model_file(&self) -> *const c_char {
        self.model_file.as_ptr()
    }
    pub fn provider(&self) -> *const c_char {
        self.provider.as_ptr()
    }
    pub fn fallback_reason(&self) -> *const c_char {
        self.fallback_reason
            .as_ref()
            .map_or(std::ptr::null(), |s| s.as_ptr())
    }
}

/// Version of the library, e.g. "0.1.0". Static string; never free it.
#[no_mangle]
pub extern "C" fn ns_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The ABI version the library implements (compare with NS_ABI_VERSION).
#[no_mangle]
pub extern "C" fn ns_abi_version() -> u32 {
    NS_ABI_VERSION
}

/// The name of a status code ("NS_OK", "NS_ERR_INVALID_UTF8", ...; "NS_ERR_UNKNOWN" for
/// values this library does not know). Static string; never free it.
#[no_mangle]
pub extern "C" fn ns_status_string(status: ns_status) -> *const c_char {
    let name: &'static str = match status {
        NS_OK => "NS_OK\0",
        NS_ERR_INVALID_ARGUMENT => "NS_ERR_INVALID_ARGUMENT\0",
        NS_ERR_NULL_POINTER => "NS_ERR_NULL_POINTER\0",
        NS_ERR_INVALID_UTF8 => "NS_ERR_INVALID_UTF8\0",
        NS_ERR_BUFFER_TOO_SMALL => "NS_ERR_BUFFER_TOO_SMALL\0",
        NS_ERR_STRUCT_SIZE => "NS_ERR_STRUCT_SIZE\0",
        NS_ERR_MODEL_NOT_FOUND => "NS_ERR_MODEL_NOT_FOUND\0",
        NS_ERR_MODEL_INVALID => "NS_ERR_MODEL_INVALID\0",
        NS_ERR_TOKENIZER => "NS_ERR_TOKENIZER\0",
        NS_ERR_RUNTIME_NOT_FOUND => "NS_ERR_RUNTIME_NOT_FOUND\0",
        NS_ERR_RUNTIME => "NS_ERR_RUNTIME\0",
        NS_ERR_CANCELLED => "NS_ERR_CANCELLED\0",
        NS_ERR_CONTEXT_OVERFLOW => "NS_ERR_CONTEXT_OVERFLOW\0",
        NS_ERR_UNSUPPORTED => "NS_ERR_UNSUPPORTED\0",
        NS_ERR_TEMPLATE => "NS_ERR_TEMPLATE\0",
        NS_ERR_IO => "NS_ERR_IO\0",
        NS_ERR_INTERNAL => "NS_ERR_INTERNAL\0",
        _ => "NS_ERR_UNKNOWN\0",
    };
    name.as_ptr().cast()
}

/// The message of the calling thread's most recent nodespace call: empty ("") when it
/// succeeded. Never NULL. Owned by the library; valid until this thread's next nodespace
/// call. Thread-safe (each thread has its own).
#[no_mangle]
pub extern "C" fn ns_last_error_message() -> *const c_char {
    LAST_ERROR
        .try_with(|e| e.borrow().as_ptr())
        .unwrap_or(c"".as_ptr())
}

/// Test hook: panics inside the library and returns what every entry point returns then,
/// NS_ERR_INTERNAL, proving that no panic crosses the C boundary.
#[no_mangle]
pub extern "C" fn ns_debug_trigger_panic() -> ns_status {
    guard(std::ptr::null_mut(), || {
        panic!("ns_debug_trigger_panic was called")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Version 2 of an options struct: version 1 ended after `a`.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, PartialEq)]
    struct OptionsV2 {
        struct_size: u32,
        a: u32,
        b: u64,
    }
    #[repr(C)]
    struct OptionsV1 {
        struct_size: u32,
        a: u32,
    }
    const V1: usize = std::mem::size_of::<OptionsV1>();
    const DEFAULTS: OptionsV2 = OptionsV2 {
        struct_size: 16,
        a: 0,
        b: 77,
    };

    #[test]
    fn older_smaller_struct_keeps_working() {
        let old = OptionsV1 {
            struct_size: V1 as u32,
            a: 5,
        };
        let read = read_versioned(
            &old as *const OptionsV1 as *const OptionsV2,
            DEFAULTS,
            V1,
            "options",
        )
        .ok()
        .unwrap();
        assert_eq!(
            (read.a, read.b),
            (5, 77),
            "fields the old caller does not know keep their defaults"
        );
    }

    #[test]
    fn unknown_sizes_are_rejected() {
        for size in [0u32, 4, 24] {
            let v = OptionsV2 {
                struct_size: size,
                a: 1,
                b: 2,
            };
            let err = read_versioned(&v, DEFAULTS, V1, "options").err().unwrap();
            assert_eq!(err.status, NS_ERR_STRUCT_SIZE);
            assert!(err.message.contains("struct_size"));
        }
    }

    #[test]
    fn info_written_only_up_to_the_callers_size() {
        let mut old = [
            OptionsV1 {
                struct_size: V1 as u32,
                a: 0,
            },
            OptionsV1 {
                struct_size: 999,
                a: 999,
            },
        ];
        write_versioned(
            old.as_mut_ptr() as *mut OptionsV2,
            OptionsV2 {
                struct_size: 16,
                a: 9,
                b: 9,
            },
            V1,
            "info",
        )
        .ok()
        .unwrap();
        assert_eq!((old[0].struct_size, old[0].a), (V1 as u32, 9));
        assert_eq!(
            (old[1].struct_size, old[1].a),
            (999, 999),
            "wrote past the caller's struct"
        );
    }

    #[test]
    fn info_for_a_newer_caller_fills_what_the_library_knows() {
        // A caller with a 24-byte struct (one field more than this library knows).
        let mut newer = [0xAAu8; 24];
        newer[..4].copy_from_slice(&24u32.to_ne_bytes());
        write_versioned(
            newer.as_mut_ptr() as *mut OptionsV2,
            OptionsV2 {
                struct_size: 16,
                a: 9,
                b: 9,
            },
            V1,
            "info",
        )
        .ok()
        .unwrap();
        assert_eq!(
            u32::from_ne_bytes(newer[..4].try_into().unwrap()),
            16,
            "struct_size tells what was filled"
        );
        assert_eq!(u32::from_ne_bytes(newer[4..8].try_into().unwrap()), 9);
        assert_eq!(&newer[16..], &[0; 8], "unknown fields are zeroed");
    }

    #[test]
    fn error_detail_is_cut_at_a_character_boundary() {
        let mut detail = ns_error_detail {
            status: 0,
            message: [1; NS_ERROR_DETAIL_CAPACITY],
        };
        let long = "é".repeat(NS_ERROR_DETAIL_CAPACITY);
        write_detail(&mut detail, NS_ERR_IO, &long);
        let text = unsafe { CStr::from_ptr(detail.message.as_ptr()) }
            .to_str()
            .expect("valid UTF-8");
        assert_eq!(text.len(), NS_ERROR_DETAIL_CAPACITY - 2);
        assert_eq!(detail.status, NS_ERR_IO);
    }
}
