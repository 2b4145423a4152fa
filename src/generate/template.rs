//! Chat prompts rendered with the model's own Jinja chat template, the way Hugging Face
//! transformers renders it (jinja2 with `trim_blocks` and `lstrip_blocks`, plus the
//! helpers templates call: `raise_exception`, `strftime_now`, Python string methods).

use minijinja::{Environment, ErrorKind as JinjaErrorKind, Value};
use serde::Serialize;
use serde_json::Value as Json;

use crate::error::{Error, ErrorKind, Result};
use crate::model::ModelFolder;

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// A model's chat template with the special tokens it refers to. Public so that apps can
/// preview prompts (and so that it can be fuzzed on its own).
pub struct ChatTemplate {
    env: Environment<'static>,
    bos_token: String,
    eos_token: String,
    pad_token: String,
    unk_token: String,
}

/// The special token strings of `tokenizer_config.json` (string or `{"content": ...}`).
fn token_text(config: Option<&Json>, key: &str) -> String {
    match config.and_then(|c| c.get(key)) {
        Some(Json::String(s)) => s.clone(),
        Some(Json::Object(o)) => o
            .get("content")
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_string(),
        _ => String::new(),
    }
}

impl ChatTemplate {
    /// The folder's template: `chat_template.jinja`, `chat_template.json`, or the
    /// `chat_template` key of `tokenizer_config.json` (a string, or a list of named
    /// templates, of which "default" is used). `Ok(None)` when the model has none.
    pub(crate) fn load(folder: &ModelFolder) -> Result<Option<Self>> {
        let tokenizer_config = folder.read_json("tokenizer_config.json")?;
        let jinja_path = folder.root().join("chat_template.jinja");
        let source = if jinja_path.is_file() {
            Some(std::fs::read_to_string(&jinja_path).map_err(|e| Error::io(&jinja_path, &e))?)
        } else if let Some(json) = folder.read_json("chat_template.json")? {
            template_source(json.get("chat_template"))
        } else {
            template_source(
                tokenizer_config
                    .as_ref()
                    .and_then(|c| c.get("chat_template")),
            )
        };
        let Some(source) = source else {
            return Ok(None);
        };
        let cfg = tokenizer_config.as_ref();
        Self::from_source(
            source,
            token_text(cfg, "bos_token"),
            token_text(cfg, "eos_token"),
            token_text(cfg, "pad_token"),
            token_text(cfg, "unk_token"),
        )
        .map(Some)
    }

    /// A template from its Jinja source and the special tokens it may print.
    pub fn from_source(
        source: String,
        bos_token: String,
        eos_token: String,
        pad_token: String,
        unk_token: String,
    ) -> Result<Self> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        // Templates come from model files: bound the work one render may do (a real chat
        // template uses a few thousand instructions per message).
        env.set_fuel(Some(5_000_000));
        env.set_lstrip_blocks(true);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |message: String| -> std::result::Result<Value, minijinja::Error> {
                Err(minijinja::Error::new(
                    JinjaErrorKind::InvalidOperation,
                    message,
                ))
            },
        );
        env.add_function("strftime_now", |format: String| {
            Ok::<_, minijinja::Error>(strftime_now(&format))
        });
        env.add_template_owned("chat", source).map_err(|e| {
            Error::new(
                ErrorKind::Template,
                format!("the model's chat template does not parse: {e:#}"),
            )
        })?;
        Ok(Self {
            env,
            bos_token,
            eos_token,
            pad_token,
            unk_token,
        })
    }

    /// Render `messages`; `add_generation_prompt` opens the assistant's turn.
    pub fn render(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String> {
        let template = self
            .env
            .get_template("chat")
            .map_err(|e| Error::internal(e.to_string()))?;
        template
            .render(minijinja::context! {
                messages => messages,
                add_generation_prompt => add_generation_prompt,
                bos_token => &self.bos_token,
                eos_token => &self.eos_token,
                pad_token => &self.pad_token,
                unk_token => &self.unk_token,
            })
            .map_err(|e| {
                Error::new(
                    ErrorKind::Template,
                    format!(
                        "chat template failed: {}",
                        e.detail().unwrap_or(&e.to_string())
                    ),
                )
            })
    }
}

fn template_source(value: Option<&Json>) -> Option<String> {
    match value? {
        Json::String(s) => Some(s.clone()),
        Json::Array(named) => named
            .iter()
            .find(|t| t.get("name").and_then(Json::as_str) == Some("default"))
            .or_else(|| named.first())
            .and_then(|t| t.get("template"))
            .and_then(Json::as_str)
            .map(str::to_string),
        _ => None,
    }
}

/// `strftime_now(format)`: the current UTC date and time, for templates that print the
/// date in the system prompt (Llama 3). Supports the common `%` fields.
fn strftime_now(format: &str) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    format_time(secs, format)
}

fn format_time(secs: i64, format: &str) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    const DAYS: [&str; 7] = [
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
        "Monday",
        "Tuesday",
        "Wednesday",
    ];
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let weekday = DAYS[days.rem_euclid(7) as usize];
    let month_name = MONTHS[(month - 1) as usize];
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('d') => out.push_str(&format!("{day:02}")),
            Some('m') => out.push_str(&format!("{month:02}")),
            Some('Y') => out.push_str(&year.to_string()),
            Some('y') => out.push_str(&format!("{:02}", year % 100)),
            Some('B') => out.push_str(month_name),
            Some('b') => out.push_str(&month_name[..3]),
            Some('A') => out.push_str(weekday),
            Some('a') => out.push_str(&weekday[..3]),
            Some('H') => out.push_str(&format!("{:02}", rem / 3600)),
            Some('M') => out.push_str(&format!("{:02}", rem / 60 % 60)),
            Some('S') => out.push_str(&format!("{:02}", rem % 60)),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHATML: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are helpful.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    fn template(source: &str) -> ChatTemplate {
        ChatTemplate::from_source(
            source.into(),
            "<s>".into(),
            "</s>".into(),
            String::new(),
            String::new(),
        )
        .unwrap()
    }

    #[test]
    fn chatml_with_default_system_prompt() {
        let t = template(CHATML);
        let out = t.render(&[ChatMessage::new("user", "Hi")], true).unwrap();
        assert_eq!(out, "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
        let out = t
            .render(
                &[
                    ChatMessage::new("system", "S"),
                    ChatMessage::new("user", "Hi"),
                ],
                false,
            )
            .unwrap();
        assert_eq!(
            out,
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
        );
    }

    #[test]
    fn helpers_hf_templates_use() {
        let t = template("{{ bos_token }}{% for m in messages %}{% if m.role not in ['user', 'assistant'] %}{{ raise_exception('bad role ' + m.role) }}{% endif %}{{ m.content.strip() | tojson }}{% endfor %}");
        assert_eq!(
            t.render(&[ChatMessage::new("user", "  hi  ")], false)
                .unwrap(),
            "<s>\"hi\""
        );
        let err = t
            .render(&[ChatMessage::new("tool", "x")], false)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Template);
        assert!(err.message().contains("bad role tool"), "{}", err.message());
        let t = template("{{ strftime_now('%d %b %Y') }}");
        assert_eq!(t.render(&[], false).unwrap().len(), 11);
    }

    #[test]
    fn broken_template_is_a_template_error() {
        let err = ChatTemplate::from_source(
            "{% for %}".into(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        )
        .err()
        .unwrap();
        assert_eq!(err.kind(), ErrorKind::Template);
    }

    #[test]
    fn dates() {
        assert_eq!(
            format_time(0, "%Y-%m-%d %H:%M:%S %A"),
            "1970-01-01 00:00:00 Thursday"
        );
        assert_eq!(format_time(1_700_000_000, "%d %B %Y"), "14 November 2023");
    }
}
