//! Generates include/nodespace.h from src/ffi with cbindgen.
//!
//! Generation never fails the build (a broken header is caught by tests/header.rs, which
//! compares the committed header with a fresh generation).

fn main() {
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    let crate_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let config = match cbindgen::Config::from_file(format!("{crate_dir}/cbindgen.toml")) {
        Ok(config) => config,
        Err(e) => {
            println!("cargo:warning=cbindgen.toml: {e}");
            return;
        }
    };
    match cbindgen::Builder::new().with_crate(&crate_dir).with_config(config).generate() {
        Ok(bindings) => {
            bindings.write_to_file(format!("{crate_dir}/include/nodespace.h"));
        }
        Err(e) => println!("cargo:warning=cbindgen could not generate include/nodespace.h: {e}"),
    }
}
