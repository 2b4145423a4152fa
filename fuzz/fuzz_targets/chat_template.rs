//! Chat-template rendering with arbitrary template sources and messages: an error or a
//! string, never a panic or a hang (rendering is bounded by minijinja fuel).
#![no_main]

use libfuzzer_sys::fuzz_target;
use nodespace::{ChatMessage, ChatTemplate};

const SMOLLM2: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\u{1}');
    let first = parts.next().unwrap_or("");
    let second = parts.next();
    // Half the inputs fuzz the template itself, half the messages under a real template.
    let (source, content) = match second {
        Some(content) => (first.to_string(), content.to_string()),
        None => (SMOLLM2.to_string(), first.to_string()),
    };
    let role = parts.next().unwrap_or("user").to_string();
    if let Ok(template) = ChatTemplate::from_source(source, "<s>".into(), "</s>".into(), String::new(), String::new()) {
        let messages = [ChatMessage::new("system", "s"), ChatMessage::new(role, content)];
        let _ = template.render(&messages, data.first().is_some_and(|b| b & 1 == 1));
    }
});
