//! Finding and loading the ONNX Runtime shared library (in the order the parent module
//! documents), and the one process-wide environment over it. A library that does not
//! load, is not ONNX Runtime, or is older than the API nodespace needs is reported with
//! the reason; when nothing loads, the error lists every place looked.

use std::path::{Path, PathBuf};

use once_cell::sync::OnceCell;
use ort::environment::Environment;
use ort::logging::LogLevel as OrtLogLevel;
use parking_lot::Mutex;

use crate::error::{Error, ErrorKind, Result};
use crate::log::{self, Level};

/// Process-wide runtime settings. Must be set before the first model is loaded.
#[derive(Debug, Clone, Default)]
pub struct RuntimeOptions {
    /// Path of the ONNX Runtime shared library. When `None` the library is searched
    /// (see [`crate::runtime`] for the order).
    pub library_path: Option<PathBuf>,
}

/// What was loaded, for diagnostics.
#[derive(Debug, Clone)]
pub struct RuntimeInfo {
    pub library_path: PathBuf,
    pub version: String,
}

struct Runtime {
    env: Environment,
    info: RuntimeInfo,
}

static RUNTIME: OnceCell<Runtime> = OnceCell::new();
static OPTIONS: Mutex<RuntimeOptions> = Mutex::new(RuntimeOptions { library_path: None });

/// Set the runtime options. Fails once ONNX Runtime is loaded (it cannot be swapped in a
/// running process) unless the options name the library already loaded.
pub fn configure(options: RuntimeOptions) -> Result<()> {
    if let Some(rt) = RUNTIME.get() {
        let same = options
            .library_path
            .as_deref()
            .is_none_or(|p| same_file(p, &rt.info.library_path));
        if !same {
            return Err(Error::invalid(format!(
                "ONNX Runtime is already loaded from {}; set the runtime path before the first model is loaded",
                rt.info.library_path.display()
            )));
        }
        return Ok(());
    }
    *OPTIONS.lock() = options;
    Ok(())
}

/// Set the runtime options and load ONNX Runtime now. When loading fails, the options
/// are put back as they were, so a later load searches as if this call had not happened
/// (a bad path given once does not stick).
pub fn init(options: RuntimeOptions) -> Result<RuntimeInfo> {
    let previous = OPTIONS.lock().clone();
    configure(options)?;
    runtime_info().inspect_err(|_| {
        if RUNTIME.get().is_none() {
            *OPTIONS.lock() = previous;
        }
    })
}

/// ONNX Runtime logs at most at the host's log level (warnings when no sink is set).
fn ort_level(level: Option<Level>) -> OrtLogLevel {
    match level {
        None | Some(Level::Warn) => OrtLogLevel::Warning,
        Some(Level::Error) => OrtLogLevel::Error,
        Some(Level::Info) => OrtLogLevel::Info,
        Some(Level::Debug) => OrtLogLevel::Verbose,
    }
}

pub(super) fn apply_log_level(level: Level) {
    if let Some(rt) = RUNTIME.get() {
        rt.env.set_log_level(ort_level(Some(level)));
    }
}

/// The loaded runtime's path and version, loading it first if needed.
pub fn runtime_info() -> Result<RuntimeInfo> {
    Ok(runtime()?.info.clone())
}

/// The process-wide ONNX Runtime environment, loading the library on first use.
pub(crate) fn environment() -> Result<&'static Environment> {
    Ok(&runtime()?.env)
}

fn runtime() -> Result<&'static Runtime> {
    // Serialize first loads: ort keeps the library in a global, so only one attempt may run.
    static LOADING: Mutex<()> = Mutex::new(());
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    let _guard = LOADING.lock();
    RUNTIME.get_or_try_init(load_runtime)
}

fn load_runtime() -> Result<Runtime> {
    let explicit = OPTIONS.lock().library_path.clone();
    let mut tried: Vec<String> = Vec::new();

    let explicit_sources = [
        ("runtime option", explicit),
        (
            "NS_ONNXRUNTIME_PATH",
            std::env::var_os("NS_ONNXRUNTIME_PATH")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
        ),
        (
            "ORT_DYLIB_PATH",
            std::env::var_os("ORT_DYLIB_PATH")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
        ),
    ];
    for (source, path) in explicit_sources {
        if let Some(path) = path {
            // A path the user named must work: falling back silently would load some other build.
            return try_load(&path).map_err(|why| {
                Error::new(
                    ErrorKind::RuntimeNotFound,
                    format!("ONNX Runtime from {source} {}: {why}", path.display()),
                )
            });
        }
    }

    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(dir) = own_library_dir() {
        dirs.push(dir);
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    tried.push("the runtime path option, NS_ONNXRUNTIME_PATH and ORT_DYLIB_PATH (none set)".into());
    for dir in &dirs {
        let candidates = candidates_in(dir);
        if candidates.is_empty() {
            tried.push(format!(
                "{} (not found)",
                dir.join(LIBRARY_NAMES[0]).display()
            ));
        }
        for candidate in candidates {
            match try_load(&candidate) {
                Ok(rt) => return Ok(rt),
                Err(why) => tried.push(format!("{} ({why})", candidate.display())),
            }
        }
    }
    for name in LIBRARY_NAMES {
        match try_load(Path::new(name)) {
            Ok(rt) => return Ok(rt),
            Err(why) => tried.push(format!("system loader '{name}' ({why})")),
        }
    }
    Err(Error::new(
        ErrorKind::RuntimeNotFound,
        format!(
            "ONNX Runtime library not found; set NS_ONNXRUNTIME_PATH or the runtime path option. Looked in: {}",
            tried.join("; ")
        ),
    ))
}

#[cfg(target_os = "windows")]
const LIBRARY_NAMES: &[&str] = &["onnxruntime.dll"];
#[cfg(target_os = "macos")]
const LIBRARY_NAMES: &[&str] = &["libonnxruntime.dylib"];
#[cfg(not(any(target_os = "windows", target_os = "macos")))]
const LIBRARY_NAMES: &[&str] = &["libonnxruntime.so", "libonnxruntime.so.1"];

/// Library files in `dir`: the plain names first, then versioned ones
/// (`libonnxruntime.so.1.31.1`, `libonnxruntime.1.31.1.dylib`) as wheels and tarballs ship them.
fn candidates_in(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = LIBRARY_NAMES
        .iter()
        .map(|n| dir.join(n))
        .filter(|p| p.is_file())
        .collect();
    if let Ok(entries) = std::fs::read_dir(dir) {
        let mut versioned: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                let stem = LIBRARY_NAMES[0].split('.').next().unwrap_or("");
                name.starts_with(stem)
                    && (name.contains(".so.") || name.ends_with(".dylib") || name.ends_with(".dll"))
                    && !found.contains(p)
                    && !name.contains("providers")
            })
            .collect();
        versioned.sort();
        found.extend(versioned);
    }
    found
}

fn try_load(path: &Path) -> std::result::Result<Runtime, String> {
    if path.components().count() > 1 && !path.exists() {
        return Err("no such file".into());
    }
    // Open it ourselves first: ort reports only "dlopen failed", the loader says why
    // (wrong architecture, a missing dependency, not a library at all); and ask its
    // version, so one too old is named as such. Held until ort has its own handle.
    // SAFETY: loading ONNX Runtime runs its initializers, as ort's own load does next.
    let library = unsafe { libloading::Library::new(path) }.map_err(|e| loader_error(&e))?;
    let version = ort_version(&library)?;
    if !supported(&version) {
        return Err(format!(
            "ONNX Runtime {version} is too old: nodespace needs {}.{} or newer",
            MIN_VERSION.0, MIN_VERSION.1
        ));
    }
    let builder = std::panic::catch_unwind(|| ort::init_from(path))
        .map_err(|_| "ONNX Runtime panicked while loading".to_string())?
        .map_err(|e| e.to_string())?;
    let forward: ort::logging::LoggerFunction =
        std::sync::Arc::new(|level, category, _id, _location, message| {
            let level = match level {
                OrtLogLevel::Fatal | OrtLogLevel::Error => Level::Error,
                OrtLogLevel::Warning => Level::Warn,
                OrtLogLevel::Info => Level::Info,
                OrtLogLevel::Verbose => Level::Debug,
            };
            log::log(level, format!("onnxruntime [{category}]: {message}"));
        });
    let env = builder
        .with_name("nodespace")
        .with_telemetry(false)
        .with_logger(forward)
        .build()
        .map_err(|e| e.to_string())?;
    drop(library);
    // The logger above receives everything; ONNX Runtime filters by this level first.
    env.set_log_level(ort_level(log::max_level()));
    let library_path = path.to_path_buf();
    log::log(
        Level::Info,
        format!(
            "loaded ONNX Runtime {version} from {}",
            library_path.display()
        ),
    );
    Ok(Runtime {
        env,
        info: RuntimeInfo {
            library_path,
            version,
        },
    })
}

/// The oldest ONNX Runtime (major, minor) with the C API version nodespace is built
/// against (`api-22`).
const MIN_VERSION: (u32, u32) = (1, 22);

fn supported(version: &str) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) >= MIN_VERSION
}

/// The loader's message with its reason: libloading keeps dlerror() / GetLastError() text
/// in the error's source.
fn loader_error(err: &libloading::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The library's version ("1.31.1"), asked from its `OrtGetApiBase`; an error when it
/// has none (not ONNX Runtime).
fn ort_version(library: &libloading::Library) -> std::result::Result<String, String> {
    type GetApiBase = unsafe extern "C" fn() -> *const ort::sys::OrtApiBase;
    // SAFETY: OrtGetApiBase has this signature in every ONNX Runtime release; its result
    // is a static table whose GetVersionString returns a static C string.
    unsafe {
        let get = library
            .get::<GetApiBase>(b"OrtGetApiBase\0")
            .map_err(|e| format!("not ONNX Runtime (no OrtGetApiBase): {}", loader_error(&e)))?;
        let base = get();
        if base.is_null() {
            return Err("not ONNX Runtime: OrtGetApiBase returned nothing".into());
        }
        Ok(std::ffi::CStr::from_ptr(((*base).GetVersionString)())
            .to_string_lossy()
            .into_owned())
    }
}

/// Folder holding the binary that contains this function: libnodespace.so / .dylib /
/// nodespace.dll when loaded as a shared library, the executable when linked statically.
#[cfg(unix)]
fn own_library_dir() -> Option<PathBuf> {
    // SAFETY: dladdr fills `info` for an address inside a loaded object; dli_fname then
    // points at a C string owned by the loader.
    unsafe {
        let mut info: libc::Dl_info = std::mem::zeroed();
        if libc::dladdr(own_library_dir as *const libc::c_void, &mut info) == 0
            || info.dli_fname.is_null()
        {
            return None;
        }
        let path = std::ffi::CStr::from_ptr(info.dli_fname)
            .to_string_lossy()
            .into_owned();
        let path = std::fs::canonicalize(&path).unwrap_or_else(|_| PathBuf::from(path));
        path.parent().map(Path::to_path_buf)
    }
}

#[cfg(windows)]
fn own_library_dir() -> Option<PathBuf> {
    use std::os::windows::ffi::OsStringExt;
    const FROM_ADDRESS: u32 = 0x4; // GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS
    const UNCHANGED_REFCOUNT: u32 = 0x2; // GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT
    #[link(name = "kernel32")]
    extern "system" {
        fn GetModuleHandleExW(flags: u32, name: *const u16, module: *mut isize) -> i32;
        fn GetModuleFileNameW(module: isize, name: *mut u16, size: u32) -> u32;
    }
    // SAFETY: the address is a function in this module, so the handle is valid while it
    // runs; GetModuleFileNameW writes at most `buf.len()` UTF-16 units.
    unsafe {
        let mut module = 0isize;
        let address = own_library_dir as *const u16;
        if GetModuleHandleExW(FROM_ADDRESS | UNCHANGED_REFCOUNT, address, &mut module) == 0 {
            return None;
        }
        let mut buf = vec![0u16; 32 * 1024];
        let len = GetModuleFileNameW(module, buf.as_mut_ptr(), buf.len() as u32) as usize;
        if len == 0 || len >= buf.len() {
            return None;
        }
        let path = PathBuf::from(std::ffi::OsString::from_wide(&buf[..len]));
        path.parent().map(Path::to_path_buf)
    }
}

#[cfg(not(any(unix, windows)))]
fn own_library_dir() -> Option<PathBuf> {
    None
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::supported;

    #[test]
    fn versions_older_than_the_c_api_are_refused() {
        for ok in ["1.22.0", "1.31.1", "1.24.4", "2.0.0", "1.22"] {
            assert!(supported(ok), "{ok}");
        }
        for old in ["1.21.1", "1.10.0", "0.9", "", "garbage"] {
            assert!(!supported(old), "{old}");
        }
    }
}
