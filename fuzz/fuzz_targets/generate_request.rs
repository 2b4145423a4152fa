//! ns_generate_stream with arbitrary prompts, chat messages (also as JSON), sampling values
//! (NaN, negative, huge), stop strings, constraints (arbitrary JSON Schema, regex, grammar
//! and choice texts) and tools (arbitrary definitions and tool choices) on the tiny decoder:
//! a status every time, the chunks always valid UTF-8 whose concatenation never contains a
//! stop string, and every tool call reported once with JSON arguments.
#![no_main]

use std::ffi::{c_char, c_void, CString};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use nodespace::ffi::*;

struct Generator(*mut ns_generator);
unsafe impl Send for Generator {}
unsafe impl Sync for Generator {}

fn generator() -> &'static Generator {
    static G: OnceLock<Generator> = OnceLock::new();
    G.get_or_init(|| {
        let path = CString::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../models/tiny/gen-llama")).unwrap();
        let mut o = std::mem::MaybeUninit::<ns_generator_options>::uninit();
        unsafe {
            ns_generator_options_init(o.as_mut_ptr(), std::mem::size_of::<ns_generator_options>());
            let mut o = o.assume_init();
            o.model_path = path.as_ptr();
            let mut g = std::ptr::null_mut();
            assert_eq!(ns_generator_new(&o, &mut g, std::ptr::null_mut()), NS_OK, "load the tiny generator (set NS_ONNXRUNTIME_PATH)");
            Generator(g)
        }
    })
}

unsafe extern "C" fn collect(utf8: *const c_char, len: usize, user: *mut c_void) -> i32 {
    let out = &mut *(user as *mut Vec<u8>);
    let bytes = std::slice::from_raw_parts(utf8.cast::<u8>(), len);
    assert!(std::str::from_utf8(bytes).is_ok(), "a chunk is not whole UTF-8");
    out.extend_from_slice(bytes);
    NS_CONTINUE
}

/// Counts the calls (in order) and checks each one's strings.
unsafe extern "C" fn count_call(index: usize, name: *const c_char, arguments: *const c_char, _user: *mut c_void) {
    assert_eq!(index, CALLS.with(|c| c.get()), "calls come in order");
    assert!(std::ffi::CStr::from_ptr(name).to_str().is_ok(), "the name is UTF-8");
    let arguments = std::ffi::CStr::from_ptr(arguments).to_str().expect("arguments are UTF-8");
    assert!(arguments.starts_with('{'), "arguments are a JSON object: {arguments}");
    CALLS.with(|c| c.set(c.get() + 1));
}

thread_local!(static CALLS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) });

fn f32_at(data: &[u8], i: usize) -> f32 {
    let b: [u8; 4] = std::array::from_fn(|k| *data.get(i * 4 + k).unwrap_or(&0));
    f32::from_le_bytes(b)
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 32 {
        return;
    }
    let (head, rest) = data.split_at(32);
    let parts: Vec<Vec<u8>> = rest.split(|&b| b == 0xFF).map(|p| p.iter().copied().filter(|&b| b != 0).collect()).collect();
    let strings: Vec<CString> = parts.iter().map(|p| CString::new(p.clone()).unwrap()).collect();
    let text = |i: usize| strings.get(i).map_or(c"".as_ptr(), |s| s.as_ptr());
    let messages = [
        ns_chat_message { role: text(1), content: text(2) },
        ns_chat_message { role: c"user".as_ptr(), content: text(3) },
    ];
    let stops: Vec<*const c_char> = (4..strings.len().min(7)).map(text).collect();
    let mut r = std::mem::MaybeUninit::<ns_generate_request>::uninit();
    let mut r = unsafe {
        ns_generate_request_init(r.as_mut_ptr(), std::mem::size_of::<ns_generate_request>());
        r.assume_init()
    };
    match head[0] % 3 {
        0 => r.prompt = text(0),
        1 => {
            r.messages = messages.as_ptr();
            r.message_count = 1 + (head[0] as usize >> 2) % 2;
        }
        _ => r.messages_json = text(0),
    }
    r.max_new_tokens = 1 + u32::from(head[1] % 8);
    r.sampling = i32::from(head[2] % 4);
    r.temperature = f32_at(head, 1);
    r.top_k = u32::from(head[8]);
    r.top_p = f32_at(head, 3);
    r.min_p = f32_at(head, 4);
    r.repetition_penalty = f32_at(head, 5);
    r.presence_penalty = f32_at(head, 6);
    r.seed = u64::from(head[3]);
    r.stop = stops.as_ptr();
    r.stop_count = stops.len();
    let choices = [text(7), text(8)];
    r.constraint_kind = i32::from(head[9] % 6); // 5 is no NS_CONSTRAINT_* value
    r.constraint = text(7);
    r.choices = choices.as_ptr();
    r.choice_count = usize::from(head[10] % 3);
    if head[11] & 1 == 1 {
        r.tools = text(8);
    }
    r.tool_choice = i32::from(head[11] >> 1) % 4; // 3 is no NS_TOOL_CHOICE_* value
    r.on_tool_call = Some(count_call);
    CALLS.with(|c| c.set(0));
    let mut out: Vec<u8> = Vec::new();
    let mut stats = ns_generation_stats { struct_size: std::mem::size_of::<ns_generation_stats>() as u32, ..Default::default() };
    let status = unsafe { ns_generate_stream(generator().0, &r, Some(collect), &mut out as *mut Vec<u8> as *mut c_void, &mut stats, std::ptr::null_mut()) };
    match status {
        NS_OK => {
            let text = std::str::from_utf8(&out).unwrap();
            for s in &strings[4.min(strings.len())..strings.len().min(7)] {
                let s = s.to_str().unwrap_or("");
                assert!(s.is_empty() || !text.contains(s), "stop string {s:?} was emitted in {text:?}");
            }
            assert!(stats.generated_tokens <= r.max_new_tokens as usize);
            assert_eq!(CALLS.with(|c| c.get()), stats.tool_calls, "every call reported once");
        }
        NS_ERR_INVALID_UTF8 | NS_ERR_INVALID_ARGUMENT | NS_ERR_TEMPLATE | NS_ERR_CONTEXT_OVERFLOW | NS_ERR_NULL_POINTER | NS_ERR_UNSUPPORTED => {}
        other => panic!("unexpected status {other}: {:?}", unsafe { std::ffi::CStr::from_ptr(ns_last_error_message()) }),
    }
});
