//! ONNX Runtime: finding and loading the shared library, the one process-wide
//! environment, and building sessions on the execution provider the caller asked for.
//!
//! `ort`'s `load-dynamic` mode panics if a session is created before the library was
//! loaded, so every path into ONNX Runtime goes through [`environment`], which resolves
//! the library itself and turns every failure into an [`ErrorKind::RuntimeNotFound`]
//! error that lists the places it looked.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use once_cell::sync::OnceCell;
use ort::environment::Environment;
use ort::ep;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use parking_lot::Mutex;

use crate::error::{Error, ErrorKind, Result};
use crate::log::{self, Level};
use ort::logging::LogLevel as OrtLogLevel;

/// Where the execution of a model should happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Device {
    /// The platform's accelerator when the loaded ONNX Runtime has it (CoreML on macOS,
    /// DirectML on Windows, CUDA on Linux), else CPU. The reason for a fallback is reported.
    #[default]
    Auto,
    Cpu,
    CoreMl,
    DirectMl,
    Cuda,
}

impl Device {
    pub fn as_str(self) -> &'static str {
        match self {
            Device::Auto => "auto",
            Device::Cpu => "cpu",
            Device::CoreMl => "coreml",
            Device::DirectMl => "directml",
            Device::Cuda => "cuda",
        }
    }
}

impl FromStr for Device {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "auto" | "" => Ok(Device::Auto),
            "cpu" => Ok(Device::Cpu),
            "coreml" => Ok(Device::CoreMl),
            "directml" | "dml" => Ok(Device::DirectMl),
            "cuda" | "gpu" => Ok(Device::Cuda),
            other => Err(Error::invalid(format!(
                "unknown device '{other}': expected one of auto, cpu, coreml, directml, cuda"
            ))),
        }
    }
}

/// Process-wide runtime settings. Must be set before the first model is loaded.
#[derive(Debug, Clone, Default)]
pub struct RuntimeOptions {
    /// Path of the ONNX Runtime shared library. When `None` the library is searched
    /// (see [`environment`]).
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

pub(crate) fn apply_log_level(level: Level) {
    if let Some(rt) = RUNTIME.get() {
        rt.env.set_log_level(ort_level(Some(level)));
    }
}

/// The loaded runtime's path and version, loading it first if needed.
pub fn runtime_info() -> Result<RuntimeInfo> {
    Ok(runtime()?.info.clone())
}

/// The process-wide ONNX Runtime environment, loading the library on first use.
///
/// The library is searched, first match wins: the explicit [`RuntimeOptions::library_path`],
/// then `NS_ONNXRUNTIME_PATH`, then `ORT_DYLIB_PATH` (a path given explicitly that fails to
/// load is an error, not skipped), then the folder holding the nodespace library itself,
/// then the executable's folder, then the system loader's search path.
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
    for dir in &dirs {
        for candidate in candidates_in(dir) {
            match try_load(&candidate) {
                Ok(rt) => return Ok(rt),
                Err(why) => tried.push(format!("{} ({why})", candidate.display())),
            }
        }
        tried.push(format!(
            "{}/{} (not found)",
            dir.display(),
            LIBRARY_NAMES[0]
        ));
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
    // (wrong architecture, a missing dependency, not a library at all).
    // SAFETY: loading ONNX Runtime runs its initializers, as ort's own load does next.
    if let Err(err) = unsafe { libloading::Library::new(path) } {
        return Err(loader_error(&err));
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
    // The logger above receives everything; ONNX Runtime filters by this level first.
    env.set_log_level(ort_level(log::max_level()));
    let version = ort_version(path);
    let library_path = if path.is_absolute() {
        path.to_path_buf()
    } else {
        PathBuf::from(path)
    };
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

/// The loaded library's version ("1.31.1"), asked from its `OrtGetApiBase`.
fn ort_version(path: &Path) -> String {
    #[cfg(unix)]
    unsafe {
        type GetApiBase = unsafe extern "C" fn() -> *const ort::sys::OrtApiBase;
        let Ok(cpath) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
            return "unknown".into();
        };
        // RTLD_NOLOAD: only look at the copy ort already loaded.
        let handle = libc::dlopen(cpath.as_ptr(), libc::RTLD_NOW | libc::RTLD_NOLOAD);
        if handle.is_null() {
            return "unknown".into();
        }
        let symbol = libc::dlsym(handle, c"OrtGetApiBase".as_ptr());
        let version = if symbol.is_null() {
            "unknown".to_string()
        } else {
            let get: GetApiBase = std::mem::transmute(symbol);
            let base = get();
            if base.is_null() {
                "unknown".to_string()
            } else {
                std::ffi::CStr::from_ptr(((*base).GetVersionString)())
                    .to_string_lossy()
                    .into_owned()
            }
        };
        libc::dlclose(handle);
        version
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        ort::info().to_string()
    }
}

/// Folder holding the binary that contains this function: libnodespace.so when loaded as a
/// shared library, the executable when linked statically.
fn own_library_dir() -> Option<PathBuf> {
    #[cfg(unix)]
    unsafe {
        let mut info: libc::Dl_info = std::mem::zeroed();
        if libc::dladdr(own_library_dir as *const libc::c_void, &mut info) != 0
            && !info.dli_fname.is_null()
        {
            let path = std::ffi::CStr::from_ptr(info.dli_fname)
                .to_string_lossy()
                .into_owned();
            let path = std::fs::canonicalize(&path).unwrap_or_else(|_| PathBuf::from(path));
            return path.parent().map(Path::to_path_buf);
        }
        None
    }
    #[cfg(not(unix))]
    {
        None
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// How a session should be built.
#[derive(Debug, Clone)]
pub(crate) struct SessionConfig {
    pub device: Device,
    pub intra_threads: usize,
    /// CoreML compiles models; it caches them here when set.
    #[cfg_attr(not(feature = "coreml"), allow(dead_code))]
    pub coreml_cache_dir: Option<PathBuf>,
}

/// The provider a session really runs on, and why it is not the one asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveProvider {
    pub name: String,
    pub fallback_reason: Option<String>,
}

/// Physical cores: ONNX Runtime's intra-op pool gains nothing from hyper-threads.
pub fn default_intra_threads() -> usize {
    num_cpus::get_physical().max(1)
}

/// Build a session for `model`, on the requested device, falling back to CPU for `Auto`.
pub(crate) fn build_session(
    model: &Path,
    config: &SessionConfig,
) -> Result<(Session, ActiveProvider)> {
    let mut fallback_reason = None;
    let wanted = match config.device {
        Device::Auto => match platform_accelerator() {
            Some(device) if compiled_in(device) => Some(device),
            // Nothing to try: say what this build has instead of reporting a failed attempt.
            other => {
                fallback_reason = Some(auto_has_nothing_to_try(other));
                None
            }
        },
        other => Some(other),
    };
    if let Some(device) = wanted.filter(|d| *d != Device::Cpu) {
        match build_with(model, config, Some(device)) {
            Ok(session) => {
                return Ok((
                    session,
                    ActiveProvider {
                        name: provider_name(device).into(),
                        fallback_reason: None,
                    },
                ))
            }
            Err(err) if config.device == Device::Auto && err.kind() != ErrorKind::ModelNotFound => {
                fallback_reason = Some(format!(
                    "auto: tried {}, not usable: {}; using CPU",
                    device.as_str(),
                    err.message()
                ));
            }
            Err(err) => return Err(err),
        }
    }
    let session = build_with(model, config, None)?;
    if let Some(reason) = &fallback_reason {
        log::log(Level::Info, format!("{}: {reason}", model.display()));
    }
    Ok((
        session,
        ActiveProvider {
            name: "CPUExecutionProvider".into(),
            fallback_reason,
        },
    ))
}

fn platform_accelerator() -> Option<Device> {
    if cfg!(target_os = "macos") {
        Some(Device::CoreMl)
    } else if cfg!(target_os = "windows") {
        Some(Device::DirectMl)
    } else if cfg!(target_os = "linux") {
        Some(Device::Cuda)
    } else {
        None
    }
}

/// Whether this build was compiled with the cargo feature of `device`'s provider.
fn compiled_in(device: Device) -> bool {
    match device {
        Device::CoreMl => cfg!(feature = "coreml"),
        Device::DirectMl => cfg!(feature = "directml"),
        Device::Cuda => cfg!(feature = "cuda"),
        Device::Cpu | Device::Auto => true,
    }
}

/// Why `auto` runs on CPU without trying anything: the platform's provider (`platform`)
/// is not in this build.
fn auto_has_nothing_to_try(platform: Option<Device>) -> String {
    let on: Vec<&str> = [Device::CoreMl, Device::DirectMl, Device::Cuda]
        .into_iter()
        .filter(|d| compiled_in(*d))
        .map(Device::as_str)
        .collect();
    match platform {
        Some(device) if on.is_empty() => format!(
            "auto: this build has no GPU provider (cargo features coreml, directml, cuda off; {} is the one for {}); using CPU",
            device.as_str(),
            std::env::consts::OS
        ),
        Some(device) => format!(
            "auto: this build has no {} provider, the one for {} (cargo features on: {}); using CPU",
            device.as_str(),
            std::env::consts::OS,
            on.join(", ")
        ),
        None => format!(
            "auto: no GPU provider is known for {}; using CPU",
            std::env::consts::OS
        ),
    }
}

fn provider_name(device: Device) -> &'static str {
    match device {
        Device::Cpu | Device::Auto => "CPUExecutionProvider",
        Device::CoreMl => "CoreMLExecutionProvider",
        Device::DirectMl => "DmlExecutionProvider",
        Device::Cuda => "CUDAExecutionProvider",
    }
}

fn build_with(model: &Path, config: &SessionConfig, device: Option<Device>) -> Result<Session> {
    let env = environment()?;
    let ctx = |what: &str| format!("{what} for {}", model.display());
    let mut builder = Session::builder(env)
        .map_err(|e| Error::runtime(ctx("creating session options"), e))?
        .with_optimization_level(GraphOptimizationLevel::All)
        .map_err(|e| Error::runtime(ctx("setting optimization level"), e))?
        .with_intra_threads(config.intra_threads.max(1))
        .map_err(|e| Error::runtime(ctx("setting intra-op threads"), e))?
        .with_inter_threads(1)
        .map_err(|e| Error::runtime(ctx("setting inter-op threads"), e))?
        // Memory patterns pre-plan buffers for one input shape; with shapes that change on
        // every call (batches, KV cache) they only add memory (MiniLM: +50 MB peak).
        .with_memory_pattern(false)
        .map_err(|e| Error::runtime(ctx("disabling memory patterns"), e))?;
    if let Some(device) = device.filter(|d| !matches!(d, Device::Cpu | Device::Auto)) {
        if device == Device::DirectMl {
            // DirectML cannot run with memory patterns (off for all) or parallel execution.
            builder = builder
                .with_parallel_execution(false)
                .map_err(|e| Error::runtime(ctx("configuring for DirectML"), e))?;
        }
        let dispatch = accelerator(device, config)?;
        builder = builder
            .with_execution_providers([dispatch.error_on_failure()])
            .map_err(|e| {
                Error::new(
                    ErrorKind::Unsupported,
                    format!("{} could not be enabled: {e}", device.as_str()),
                )
            })?;
    }
    commit(builder, model)
}

/// The execution provider for an accelerator, if this build has it and the loaded ONNX
/// Runtime carries it.
fn accelerator(device: Device, config: &SessionConfig) -> Result<ep::ExecutionProviderDispatch> {
    let missing = |feature: &str| {
        Error::new(
            ErrorKind::Unsupported,
            format!(
                "{} requested, but nodespace was built without the `{feature}` cargo feature",
                device.as_str()
            ),
        )
    };
    let absent = || {
        Error::new(
            ErrorKind::Unsupported,
            format!(
                "{} requested, but the loaded ONNX Runtime has no {}",
                device.as_str(),
                provider_name(device)
            ),
        )
    };
    let _ = config;
    match device {
        #[cfg(feature = "coreml")]
        Device::CoreMl => {
            use ep::ExecutionProvider;
            if !ep::CoreML::is_available().unwrap_or(false) {
                return Err(absent());
            }
            let mut coreml = ep::CoreML::default();
            if let Some(dir) = &config.coreml_cache_dir {
                std::fs::create_dir_all(dir)
                    .map_err(|e| Error::io(dir, &e).context("CoreML model cache directory"))?;
                coreml = coreml.with_model_cache_dir(dir.display());
            }
            Ok(coreml.build())
        }
        #[cfg(feature = "directml")]
        Device::DirectMl => {
            use ep::ExecutionProvider;
            if !ep::DirectML::is_available().unwrap_or(false) {
                return Err(absent());
            }
            Ok(ep::DirectML::default().build())
        }
        #[cfg(feature = "cuda")]
        Device::Cuda => {
            use ep::ExecutionProvider;
            if !ep::CUDA::is_available().unwrap_or(false) {
                return Err(absent());
            }
            Ok(ep::CUDA::default().build())
        }
        Device::CoreMl => Err(missing("coreml")),
        Device::DirectMl => Err(missing("directml")),
        Device::Cuda => Err(missing("cuda")),
        Device::Cpu | Device::Auto => {
            let _ = absent;
            Ok(ep::CPU::default().build())
        }
    }
}

fn commit(mut builder: ort::session::builder::SessionBuilder, model: &Path) -> Result<Session> {
    let meta = std::fs::metadata(model).map_err(|e| Error::io(model, &e))?;
    if meta.len() == 0 {
        return Err(Error::model_invalid(format!(
            "{}: the model file is empty",
            model.display()
        )));
    }
    builder.commit_from_file(model).map_err(|e| {
        let msg = e.to_string();
        let lower = msg.to_ascii_lowercase();
        // A graph whose external-data file (weights beside it, as Optimum exports models
        // over 2 GB) is missing or short is a broken model folder too.
        let kind = if msg.contains("Protobuf parsing failed")
            || msg.contains("INVALID_PROTOBUF")
            || msg.contains("Load model")
            || lower.contains("external data")
            || lower.contains("external initializer")
        {
            ErrorKind::ModelInvalid
        } else {
            ErrorKind::Runtime
        };
        Error::new(
            kind,
            format!("cannot load ONNX model {}: {msg}", model.display()),
        )
    })
}
