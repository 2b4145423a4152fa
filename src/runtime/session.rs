//! Building ONNX Runtime sessions: the options every model gets, the provider chosen by
//! [`super::device`] with `auto`'s fallback to CPU, and load errors sorted into a broken
//! model versus a runtime failure.

use std::path::{Path, PathBuf};

use ort::session::builder::{GraphOptimizationLevel, SessionBuilder};
use ort::session::Session;

use super::device::{accelerator, auto_choice, ActiveProvider, Device};
use super::library::environment;
use crate::error::{Error, ErrorKind, Result};
use crate::log::{self, Level};

/// How a session should be built.
#[derive(Debug, Clone)]
pub(crate) struct SessionConfig {
    pub device: Device,
    pub intra_threads: usize,
    /// CoreML compiles models; it caches them here when set.
    pub coreml_cache_dir: Option<PathBuf>,
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
    let (wanted, mut fallback_reason) = match config.device {
        Device::Auto => match auto_choice() {
            Ok(device) => (Some(device), None),
            // Nothing to try: say what this build has instead of reporting a failed attempt.
            Err(reason) => (None, Some(reason)),
        },
        other => (Some(other), None),
    };
    if let Some(device) = wanted.filter(|d| *d != Device::Cpu) {
        match build_with(model, config, Some(device)) {
            Ok(session) => {
                return Ok((
                    session,
                    ActiveProvider {
                        name: device.provider_name().into(),
                        fallback_reason: None,
                    },
                ))
            }
            Err(err) if config.device == Device::Auto && err.kind() != ErrorKind::ModelNotFound => {
                fallback_reason = Some(format!(
                    "auto: tried {}, not usable: {}; using CPU",
                    device.as_str(),
                    err.message().trim_end()
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
            name: Device::Cpu.provider_name().into(),
            fallback_reason,
        },
    ))
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
        let dispatch = accelerator(device, config.coreml_cache_dir.as_deref())?;
        builder = builder
            .with_execution_providers([dispatch.error_on_failure()])
            .map_err(|e| {
                Error::new(
                    ErrorKind::Unsupported,
                    format!(
                        "{} could not be enabled: {}",
                        device.as_str(),
                        e.to_string().trim_end()
                    ),
                )
            })?;
    }
    commit(builder, model)
}

fn commit(mut builder: SessionBuilder, model: &Path) -> Result<Session> {
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
