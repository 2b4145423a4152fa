//! Chat prompts rendered with the model's own Jinja chat template, the way Hugging Face
//! transformers renders it (jinja2 with `trim_blocks` and `lstrip_blocks`, plus the
//! helpers templates call: `raise_exception`, `strftime_now`, Python string methods).

use minijinja::value::Kwargs;
use minijinja::{Environment, ErrorKind as JinjaErrorKind, Value};
use serde_json::{Map, Value as Json};

use super::tools::{ToolCall, ToolCallFormat};
use crate::error::{Error, ErrorKind, Result};
use crate::model::ModelFolder;

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    /// "system", "user", "assistant", "tool" (whatever the model's template accepts).
    pub role: String,
    pub content: String,
    /// The calls an assistant turn made (rendered as transformers renders `tool_calls`).
    pub tool_calls: Vec<ToolCall>,
    /// Other keys the template may read (`tool_call_id`, `name`, ...), passed as given.
    pub extra: Map<String, Json>,
}

impl ChatMessage {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
            tool_calls: Vec::new(),
            extra: Map::new(),
        }
    }

    /// An assistant turn that called tools (its `content` may be empty).
    pub fn assistant_tool_calls(content: impl Into<String>, calls: Vec<ToolCall>) -> Self {
        Self {
            tool_calls: calls,
            ..Self::new("assistant", content)
        }
    }

    /// A message in transformers' (and OpenAI's) JSON form: `role`, `content` (text or
    /// null), `tool_calls`, and any other keys, which the template receives as given.
    pub fn from_json(value: &Json) -> std::result::Result<Self, String> {
        let object = value.as_object().ok_or("a message is not a JSON object")?;
        let mut message = Self::new("", "");
        for (key, field) in object {
            match key.as_str() {
                "role" => {
                    message.role = field
                        .as_str()
                        .ok_or("a message's \"role\" is not a string")?
                        .to_string()
                }
                "content" => {
                    message.content = match field {
                        Json::String(s) => s.clone(),
                        Json::Null => String::new(),
                        _ => return Err("a message's \"content\" is not a string or null".into()),
                    }
                }
                "tool_calls" => {
                    let calls = match field {
                        Json::Array(calls) => calls.as_slice(),
                        Json::Null => &[],
                        _ => return Err("a message's \"tool_calls\" is not a list".into()),
                    };
                    for call in calls {
                        message.tool_calls.push(ToolCall::from_message_json(call)?);
                    }
                }
                _ => {
                    message.extra.insert(key.clone(), field.clone());
                }
            }
        }
        if message.role.is_empty() {
            return Err("a message has no \"role\"".into());
        }
        Ok(message)
    }

    /// What the template sees: transformers' message dict.
    fn to_template_json(&self) -> Json {
        let mut object = Map::new();
        object.insert("role".into(), Json::String(self.role.clone()));
        object.insert("content".into(), Json::String(self.content.clone()));
        if !self.tool_calls.is_empty() {
            let calls = self.tool_calls.iter().map(ToolCall::to_message_json);
            object.insert("tool_calls".into(), Json::Array(calls.collect()));
        }
        for (key, value) in &self.extra {
            object.insert(key.clone(), value.clone());
        }
        Json::Object(object)
    }
}

/// A chat in transformers' JSON form: an array of messages.
pub fn parse_messages(text: &str) -> Result<Vec<ChatMessage>> {
    let value: Json = serde_json::from_str(text)
        .map_err(|e| Error::invalid(format!("the messages are not JSON: {e}")))?;
    let list = value
        .as_array()
        .ok_or_else(|| Error::invalid("the messages must be a JSON array"))?;
    list.iter()
        .enumerate()
        .map(|(i, m)| {
            ChatMessage::from_json(m).map_err(|e| Error::invalid(format!("message {i}: {e}")))
        })
        .collect()
}

/// A model's chat template with the special tokens it refers to. Public so that apps can
/// preview prompts (and so that it can be fuzzed on its own).
pub struct ChatTemplate {
    env: Environment<'static>,
    /// The template reads `tools` (it can offer functions to the model).
    renders_tools: bool,
    tool_call_format: Option<ToolCallFormat>,
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
        // transformers' own tojson: Python's json.dumps, no HTML escaping, ", " and ": ".
        env.add_filter("tojson", python_tojson);
        let tool_call_format = ToolCallFormat::of_template(&source);
        env.add_template_owned("chat", source).map_err(|e| {
            Error::new(
                ErrorKind::Template,
                format!("the model's chat template does not parse: {e:#}"),
            )
        })?;
        let renders_tools = env
            .get_template("chat")
            .map(|t| t.undeclared_variables(false).contains("tools"))
            .unwrap_or(false);
        Ok(Self {
            env,
            renders_tools,
            tool_call_format,
            bos_token,
            eos_token,
            pad_token,
            unk_token,
        })
    }

    /// Render `messages`; `add_generation_prompt` opens the assistant's turn.
    pub fn render(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String> {
        self.render_with_tools(messages, &[], add_generation_prompt)
    }

    /// Whether the template renders `tools` (can offer functions to the model).
    pub fn renders_tools(&self) -> bool {
        self.renders_tools
    }

    /// How the model writes tool calls, when it is a format this library parses.
    pub fn tool_call_format(&self) -> Option<ToolCallFormat> {
        self.tool_call_format
    }

    /// Render `messages` offering `tools` (JSON function definitions, passed to the
    /// template as transformers' `apply_chat_template(tools=...)` passes them; none: the
    /// template sees no `tools`, as with `tools=None`).
    pub fn render_with_tools(
        &self,
        messages: &[ChatMessage],
        tools: &[Json],
        add_generation_prompt: bool,
    ) -> Result<String> {
        let template = self
            .env
            .get_template("chat")
            .map_err(|e| Error::internal(e.to_string()))?;
        let messages: Vec<Json> = messages.iter().map(ChatMessage::to_template_json).collect();
        let tools = (!tools.is_empty()).then_some(tools);
        template
            .render(minijinja::context! {
                messages => messages,
                tools => tools,
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

/// Jinja's `tojson` as transformers defines it for chat templates: Python's
/// `json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)`.
/// (minijinja's own escapes `<`, `>`, `&` and `'` for HTML and writes no spaces, so the
/// tools and call arguments a model sees would differ from what it was trained on.)
fn python_tojson(
    value: Value,
    args: minijinja::value::Rest<Value>,
    kwargs: Kwargs,
) -> std::result::Result<String, minijinja::Error> {
    let positional = |i: usize| args.get(i).cloned();
    let pick = |i: usize, name: &str| -> std::result::Result<Option<Value>, minijinja::Error> {
        Ok(kwargs.get::<Option<Value>>(name)?.or_else(|| positional(i)))
    };
    let ensure_ascii = pick(0, "ensure_ascii")?.is_some_and(|v| v.is_true());
    let indent = match pick(1, "indent")? {
        Some(v) if v.is_none() || v.is_undefined() => None,
        Some(v) => match v.as_i64() {
            Some(n) => Some(" ".repeat(n.max(0) as usize)),
            None => Some(v.to_string()),
        },
        None => None,
    };
    let separators = match pick(2, "separators")? {
        Some(v) if !v.is_none() && !v.is_undefined() => {
            let items: Vec<String> = v
                .try_iter()?
                .map(|s| s.as_str().map(str::to_string).unwrap_or_default())
                .collect();
            match items.as_slice() {
                [item, key] => (item.clone(), key.clone()),
                _ => {
                    return Err(minijinja::Error::new(
                        JinjaErrorKind::InvalidOperation,
                        "tojson: separators must be a pair of strings",
                    ))
                }
            }
        }
        _ if indent.is_some() => (",".to_string(), ": ".to_string()),
        _ => (", ".to_string(), ": ".to_string()),
    };
    let sort_keys = pick(3, "sort_keys")?.is_some_and(|v| v.is_true());
    kwargs.assert_all_used()?;
    let json = serde_json::to_value(&value).map_err(|e| {
        minijinja::Error::new(JinjaErrorKind::InvalidOperation, format!("tojson: {e}"))
    })?;
    let style = PythonJson {
        indent,
        item_separator: separators.0,
        key_separator: separators.1,
        sort_keys,
        ensure_ascii,
    };
    let mut out = String::new();
    style.write(&json, 0, &mut out);
    Ok(out)
}

/// The layout choices of Python's `json.dumps`.
struct PythonJson {
    indent: Option<String>,
    item_separator: String,
    key_separator: String,
    sort_keys: bool,
    ensure_ascii: bool,
}

impl PythonJson {
    fn write(&self, value: &Json, depth: usize, out: &mut String) {
        match value {
            Json::Array(items) if !items.is_empty() => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    self.separate(i, depth + 1, out);
                    self.write(item, depth + 1, out);
                }
                self.newline(depth, out);
                out.push(']');
            }
            Json::Object(map) if !map.is_empty() => {
                let mut entries: Vec<(&String, &Json)> = map.iter().collect();
                if self.sort_keys {
                    entries.sort_by(|a, b| a.0.cmp(b.0));
                }
                out.push('{');
                for (i, (key, item)) in entries.into_iter().enumerate() {
                    self.separate(i, depth + 1, out);
                    self.string(key, out);
                    out.push_str(&self.key_separator);
                    self.write(item, depth + 1, out);
                }
                self.newline(depth, out);
                out.push('}');
            }
            Json::String(s) => self.string(s, out),
            // serde_json writes numbers, booleans, null and empty containers as Python does.
            other => out.push_str(&other.to_string()),
        }
    }

    fn separate(&self, index: usize, depth: usize, out: &mut String) {
        if index > 0 {
            out.push_str(&self.item_separator);
        }
        self.newline(depth, out);
    }

    fn newline(&self, depth: usize, out: &mut String) {
        if let Some(indent) = &self.indent {
            out.push('\n');
            for _ in 0..depth {
                out.push_str(indent);
            }
        }
    }

    fn string(&self, s: &str, out: &mut String) {
        // serde_json escapes as Python does with ensure_ascii=False (", \\, \b \f \n \r \t,
        // other controls as lowercase \u00XX).
        let quoted = Json::String(s.to_string()).to_string();
        if !self.ensure_ascii {
            out.push_str(&quoted);
            return;
        }
        for c in quoted.chars() {
            if c.is_ascii() {
                out.push(c);
            } else {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
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
