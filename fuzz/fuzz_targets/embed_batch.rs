//! ns_embed_batch with arbitrary bytes as texts (invalid UTF-8 included), arbitrary
//! lengths, counts and output sizes: every call returns a status, never crashes.
#![no_main]

use std::ffi::c_char;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use nodespace::ffi::*;

struct Embedder(*mut ns_embedder);
unsafe impl Send for Embedder {}
unsafe impl Sync for Embedder {}

fn embedder() -> &'static Embedder {
    static E: OnceLock<Embedder> = OnceLock::new();
    E.get_or_init(|| {
        let path = std::ffi::CString::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../models/tiny/embed-bert")).unwrap();
        let mut o = std::mem::MaybeUninit::<ns_embedder_options>::uninit();
        unsafe {
            ns_embedder_options_init(o.as_mut_ptr(), std::mem::size_of::<ns_embedder_options>());
            let mut o = o.assume_init();
            o.model_path = path.as_ptr();
            let mut e = std::ptr::null_mut();
            assert_eq!(ns_embedder_new(&o, &mut e, std::ptr::null_mut()), NS_OK, "load the tiny embedder (set NS_ONNXRUNTIME_PATH)");
            Embedder(e)
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let e = embedder().0;
    let Some((&mode, rest)) = data.split_first() else { return };
    // Texts are separated by 0xFF; each keeps its bytes as they are.
    let texts: Vec<&[u8]> = rest.split(|&b| b == 0xFF).take(40).collect();
    let ptrs: Vec<*const c_char> = texts.iter().map(|t| t.as_ptr().cast()).collect();
    // Lengths may lie short (never long: that would read out of bounds, which the API forbids).
    let lengths: Vec<usize> = texts.iter().map(|t| if mode & 1 == 1 { t.len() / 2 } else { t.len() }).collect();
    let count = if mode & 2 == 2 { texts.len() } else { (mode as usize >> 2) % (texts.len() + 1) };
    let dim = unsafe { ns_embedder_dimension(e) };
    let out_len = if mode & 0x80 == 0x80 { (count * dim).saturating_sub(1) } else { count * dim };
    let mut out = vec![0f32; out_len.max(1)];
    let mut detail = std::mem::MaybeUninit::<ns_error_detail>::uninit();
    let status = unsafe { ns_embed_batch(e, ptrs.as_ptr(), lengths.as_ptr(), count, out.as_mut_ptr(), out_len, detail.as_mut_ptr()) };
    let detail = unsafe { detail.assume_init() };
    assert_eq!(detail.status, status);
    match status {
        NS_OK => assert!(out[..count * dim].iter().all(|v| v.is_finite())),
        NS_ERR_INVALID_UTF8 | NS_ERR_INVALID_ARGUMENT | NS_ERR_BUFFER_TOO_SMALL => {}
        other => panic!("unexpected status {other}"),
    }
});
