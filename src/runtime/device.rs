//! Execution providers: which device a session asks for, which one the platform and this
//! build offer for `auto`, and one function per accelerator that checks the loaded ONNX
//! Runtime carries it.

use std::path::Path;
use std::str::FromStr;

use ort::ep::{self, ExecutionProvider};

use crate::error::{Error, ErrorKind, Result};

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

    /// ONNX Runtime's name of the provider.
    pub(crate) fn provider_name(self) -> &'static str {
        match self {
            Device::Cpu | Device::Auto => "CPUExecutionProvider",
            Device::CoreMl => "CoreMLExecutionProvider",
            Device::DirectMl => "DmlExecutionProvider",
            Device::Cuda => "CUDAExecutionProvider",
        }
    }

    /// Whether this build was compiled with the cargo feature of the device's provider.
    fn compiled_in(self) -> bool {
        match self {
            Device::CoreMl => cfg!(feature = "coreml"),
            Device::DirectMl => cfg!(feature = "directml"),
            Device::Cuda => cfg!(feature = "cuda"),
            Device::Cpu | Device::Auto => true,
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

/// The provider a session really runs on, and why it is not the one asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveProvider {
    pub name: String,
    pub fallback_reason: Option<String>,
}

/// What `auto` should try on this platform with this build: the accelerator, or why there
/// is nothing to try (the reason `auto` then reports for running on CPU).
pub(crate) fn auto_choice() -> std::result::Result<Device, String> {
    let platform = if cfg!(target_os = "macos") {
        Some(Device::CoreMl)
    } else if cfg!(target_os = "windows") {
        Some(Device::DirectMl)
    } else if cfg!(target_os = "linux") {
        Some(Device::Cuda)
    } else {
        None
    };
    let on: Vec<&str> = [Device::CoreMl, Device::DirectMl, Device::Cuda]
        .into_iter()
        .filter(|d| d.compiled_in())
        .map(Device::as_str)
        .collect();
    match platform {
        Some(device) if device.compiled_in() => Ok(device),
        Some(device) if on.is_empty() => Err(format!(
            "auto: this build has no GPU provider (cargo features coreml, directml, cuda off; {} is the one for {}); using CPU",
            device.as_str(),
            std::env::consts::OS
        )),
        Some(device) => Err(format!(
            "auto: this build has no {} provider, the one for {} (cargo features on: {}); using CPU",
            device.as_str(),
            std::env::consts::OS,
            on.join(", ")
        )),
        None => Err(format!(
            "auto: no GPU provider is known for {}; using CPU",
            std::env::consts::OS
        )),
    }
}

/// The execution provider for an accelerator, if this build has it and the loaded ONNX
/// Runtime carries it. CoreML compiles models and caches them in `coreml_cache_dir`.
pub(crate) fn accelerator(
    device: Device,
    coreml_cache_dir: Option<&Path>,
) -> Result<ep::ExecutionProviderDispatch> {
    match device {
        Device::CoreMl => coreml(coreml_cache_dir),
        Device::DirectMl => directml(),
        Device::Cuda => cuda(),
        Device::Cpu | Device::Auto => Ok(ep::CPU::default().build()),
    }
}

#[cfg(feature = "coreml")]
fn coreml(cache_dir: Option<&Path>) -> Result<ep::ExecutionProviderDispatch> {
    loaded::<ep::CoreML>(Device::CoreMl)?;
    let mut coreml = ep::CoreML::default();
    if let Some(dir) = cache_dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(dir, &e).context("CoreML model cache directory"))?;
        coreml = coreml.with_model_cache_dir(dir.display());
    }
    Ok(coreml.build())
}

#[cfg(feature = "directml")]
fn directml() -> Result<ep::ExecutionProviderDispatch> {
    loaded::<ep::DirectML>(Device::DirectMl)?;
    Ok(ep::DirectML::default().build())
}

#[cfg(feature = "cuda")]
fn cuda() -> Result<ep::ExecutionProviderDispatch> {
    loaded::<ep::CUDA>(Device::Cuda)?;
    Ok(ep::CUDA::default().build())
}

#[cfg(not(feature = "coreml"))]
fn coreml(_: Option<&Path>) -> Result<ep::ExecutionProviderDispatch> {
    Err(not_built(Device::CoreMl, "coreml"))
}

#[cfg(not(feature = "directml"))]
fn directml() -> Result<ep::ExecutionProviderDispatch> {
    Err(not_built(Device::DirectMl, "directml"))
}

#[cfg(not(feature = "cuda"))]
fn cuda() -> Result<ep::ExecutionProviderDispatch> {
    Err(not_built(Device::Cuda, "cuda"))
}

/// Fails when the loaded ONNX Runtime build does not carry the provider.
#[cfg_attr(
    not(any(feature = "coreml", feature = "directml", feature = "cuda")),
    allow(dead_code)
)]
fn loaded<P: ExecutionProvider>(device: Device) -> Result<()> {
    if P::is_available().unwrap_or(false) {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::Unsupported,
        format!(
            "{} requested, but the loaded ONNX Runtime has no {}",
            device.as_str(),
            device.provider_name()
        ),
    ))
}

#[cfg_attr(
    all(feature = "coreml", feature = "directml", feature = "cuda"),
    allow(dead_code)
)]
fn not_built(device: Device, feature: &str) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        format!(
            "{} requested, but nodespace was built without the `{feature}` cargo feature",
            device.as_str()
        ),
    )
}
