//! The committed include/nodespace.h must equal a fresh cbindgen generation from src/ffi.

#[test]
fn committed_header_matches_generation() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).unwrap();
    let bindings = cbindgen::Builder::new()
        .with_crate(root)
        .with_config(config)
        .generate()
        .expect("cbindgen generation failed");
    let mut fresh = Vec::new();
    bindings.write(&mut fresh);
    let committed =
        std::fs::read(root.join("include/nodespace.h")).expect("include/nodespace.h is missing");
    assert!(
        fresh == committed,
        "include/nodespace.h is out of date with src/ffi: run `NS_UPDATE_HEADER=1 cargo build` and commit the header"
    );
}
