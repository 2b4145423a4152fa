//! Generates the C header from src/ffi with cbindgen into target/<profile>/include/,
//! next to the library. The committed include/nodespace.h is refreshed with
//! `NS_UPDATE_HEADER=1 cargo build`; tests/header.rs fails when it drifts.
//!
//! Generation never fails the build: a broken header is caught by that test.

use std::path::PathBuf;

fn main() {
    hide_dependency_symbols();
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-env-changed=NS_UPDATE_HEADER");
    let crate_dir =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let config = match cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")) {
        Ok(config) => config,
        Err(e) => {
            println!("cargo:warning=cbindgen.toml: {e}");
            return;
        }
    };
    let bindings = match cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
    {
        Ok(bindings) => bindings,
        Err(e) => {
            println!("cargo:warning=cbindgen could not generate nodespace.h: {e}");
            return;
        }
    };
    // OUT_DIR is target/<profile>/build/nodespace-<hash>/out.
    if let Some(profile_dir) = std::env::var_os("OUT_DIR")
        .map(PathBuf::from)
        .and_then(|p| p.ancestors().nth(3).map(PathBuf::from))
    {
        bindings.write_to_file(profile_dir.join("include/nodespace.h"));
    }
    if std::env::var_os("NS_UPDATE_HEADER").is_some_and(|v| v == "1") {
        bindings.write_to_file(crate_dir.join("include/nodespace.h"));
    }
}

/// rustc exports every `#[no_mangle]` function of every crate linked into a cdylib
/// (rust-lang/rust#73958): llguidance's own C API (`llg_*`) would be exported beside ours,
/// and a process that also loads llama.cpp or onnxruntime-genai (which carry their own
/// llguidance) could bind their calls to our copy. Symbols from the static archives
/// (every dependency's rlib) are kept out of the export table; ours come from this
/// crate's own objects. (Windows: scripts/mingw-link.sh cuts rustc's .def file instead;
/// macOS resolves symbols per library, two-level namespace, so a duplicate cannot capture
/// another library's calls there.)
fn hide_dependency_symbols() {
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.contains("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,--exclude-libs,ALL");
    }
}
