//! Shared test setup: finding ONNX Runtime and the models.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Once;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every tiny committed decoder: one per graph layout the runtime tells apart.
pub const DECODERS: [&str; 8] = [
    "gen-llama",
    "gen-nopos",
    "gen-fp16kv",
    "gen-gemma",
    "gen-gemma-optimum",
    "gen-notemplate",
    "gen-fused",
    "gen-genai",
];

pub fn tiny(name: &str) -> PathBuf {
    repo().join("models/tiny").join(name)
}

/// A real model under models/real, or `None` (with a loud notice) when it is not installed.
pub fn real(name: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("NS_REAL_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("models/real"))
        .join(name);
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "\n*** SKIPPED: real model {} is not installed (run scripts/setup.sh). CI installs it and runs this test. ***\n",
            dir.display()
        );
        if std::env::var_os("NS_REQUIRE_REAL_MODELS").is_some() {
            panic!(
                "NS_REQUIRE_REAL_MODELS is set but {} is missing",
                dir.display()
            );
        }
        None
    }
}

/// Point nodespace at the development ONNX Runtime (PyPI onnxruntime's shared library)
/// unless NS_ONNXRUNTIME_PATH already names one.
pub fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("NS_ONNXRUNTIME_PATH").is_some() {
            return;
        }
        if let Some(path) = find_dev_onnxruntime() {
            std::env::set_var("NS_ONNXRUNTIME_PATH", path);
        }
    });
}

pub fn find_dev_onnxruntime() -> Option<PathBuf> {
    let venv_lib = repo().join(".venv/lib");
    let mut site_dirs: Vec<PathBuf> = std::fs::read_dir(&venv_lib)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("site-packages"))
        .collect();
    if let Ok(out) = std::process::Command::new("python3")
        .args([
            "-c",
            "import onnxruntime, os; print(os.path.dirname(onnxruntime.__file__))",
        ])
        .output()
    {
        let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !dir.is_empty() {
            site_dirs.push(Path::new(&dir).parent()?.to_path_buf());
        }
    }
    for site in site_dirs {
        let capi = site.join("onnxruntime/capi");
        if let Ok(entries) = std::fs::read_dir(&capi) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with("libonnxruntime.so")
                    || name.starts_with("libonnxruntime.") && name.ends_with(".dylib")
                {
                    return Some(e.path());
                }
            }
        }
    }
    None
}

pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

pub fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

pub fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length differs");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// The process's peak resident memory in MB (Linux; None elsewhere).
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// A writable copy of a tiny model folder (to damage), removed when dropped.
pub struct ScratchModel(PathBuf);

impl ScratchModel {
    pub fn copy_of(model: &str, tag: &str) -> Self {
        let dst = std::env::temp_dir().join(format!("nodespace-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dst);
        copy_dir(&tiny(model), &dst);
        Self(dst)
    }
}

impl std::ops::Deref for ScratchModel {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchModel {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Copies files (following links) so that damaging the copy never touches the original.
fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let target = dst.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Generate, collecting the streamed chunks: the result and the chunks.
pub fn run(
    g: &nodespace::Generator,
    r: &nodespace::GenerateRequest,
) -> (nodespace::GenerationResult, Vec<String>) {
    let mut chunks = Vec::new();
    let result = g
        .generate(r, None, &mut |c| {
            chunks.push(c.to_string());
            nodespace::Flow::Continue
        })
        .unwrap();
    (result, chunks)
}

/// Generate, checking that the streamed chunks concatenate to the result's text.
pub fn run_streamed(
    g: &nodespace::Generator,
    r: &nodespace::GenerateRequest,
) -> nodespace::GenerationResult {
    let (result, chunks) = run(g, r);
    assert_eq!(chunks.concat(), result.text, "the stream is the text");
    result
}
