//! Tool calls: the tools an app offers (JSON function definitions, as transformers takes
//! them), the calls a model writes, parsed per output format, and the grammar that makes a
//! required call always parse with arguments that validate.
//!
//! Formats: the Hermes form Qwen2.5, Qwen3, Hermes and SmolLM3 templates teach,
//! `<tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>`, one block per call;
//! without any such block, a bare or ```json-fenced call object naming an offered tool
//! (small models drop the tags). A template that renders tools in another form gets its
//! tools rendered, and its calls are left in the text (not parsed).

use serde_json::{json, Map, Value as Json};

use crate::error::{Error, Result};

/// A call the model made, or one made in an earlier assistant turn of a chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    pub name: String,
    /// The arguments, a JSON object (as the model wrote it).
    pub arguments: Json,
    /// The call's id, when a chat message gave one (OpenAI's form; some templates print
    /// it). Calls parsed from Hermes output have none.
    pub id: Option<String>,
}

impl ToolCall {
    pub fn new(name: impl Into<String>, arguments: Json) -> Self {
        Self {
            name: name.into(),
            arguments,
            id: None,
        }
    }

    /// The form transformers' chat messages carry: `{"id": ..., "type": "function",
    /// "function": {"name": ..., "arguments": {...}}}` (templates read either level).
    pub(crate) fn to_message_json(&self) -> Json {
        let mut call = Map::new();
        if let Some(id) = &self.id {
            call.insert("id".into(), Json::String(id.clone()));
        }
        call.insert("type".into(), json!("function"));
        call.insert(
            "function".into(),
            json!({"name": self.name, "arguments": self.arguments}),
        );
        Json::Object(call)
    }

    /// A call from a chat message: the OpenAI/transformers form or a bare `{"name",
    /// "arguments"}`; arguments given as JSON text (OpenAI's form) are parsed.
    pub(crate) fn from_message_json(value: &Json) -> std::result::Result<Self, String> {
        let call = value.get("function").unwrap_or(value);
        let name = call
            .get("name")
            .and_then(Json::as_str)
            .ok_or("a tool call has no \"name\" string")?;
        let arguments = match call.get("arguments") {
            None | Some(Json::Null) => Json::Object(Map::new()),
            Some(Json::String(text)) => serde_json::from_str(text)
                .map_err(|e| format!("tool call {name:?}: arguments are not JSON: {e}"))?,
            Some(other) => other.clone(),
        };
        let id = value.get("id").and_then(Json::as_str).map(str::to_string);
        Ok(Self {
            id,
            ..Self::new(name, arguments)
        })
    }
}

/// Whether the model must call a tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ToolChoice {
    /// The model answers in text or calls tools, as it decides; calls are parsed, not
    /// constrained.
    #[default]
    Auto,
    /// The answer is one or more calls, constrained: every call parses, names one of the
    /// tools, and its arguments validate against that tool's `parameters` schema.
    Required,
    /// Exactly one call, constrained as with `Required` (OpenAI's `tool_choice:
    /// "required"` with `parallel_tool_calls: false`).
    One,
}

/// How a model writes tool calls, detected from its chat template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolCallFormat {
    /// `<tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>` (Qwen2.5, Hermes).
    Hermes,
}

impl ToolCallFormat {
    /// The format a chat template teaches, if it is one this library parses.
    pub(crate) fn of_template(source: &str) -> Option<Self> {
        source.contains("<tool_call>").then_some(Self::Hermes)
    }

    /// The calls in a model's output. A block that is not a JSON object with a `name` is
    /// not a call (it stays in the text only). Small models often drop the tags and write
    /// the call's JSON bare or in a ```json fence (as llama.cpp's Hermes parser accepts):
    /// without any `<tool_call>` block, a JSON object with a `name` that is one of `tools`
    /// and an `arguments` key is a call too.
    pub(crate) fn parse(self, text: &str, tools: &[Json]) -> Vec<ToolCall> {
        const OPEN: &str = "<tool_call>";
        const CLOSE: &str = "</tool_call>";
        if !text.contains(OPEN) {
            return bare_calls(text, tools);
        }
        let mut calls = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find(OPEN) {
            let body_and_more = &rest[start + OPEN.len()..];
            // The last block may be cut by max_new_tokens or a missing close tag.
            let (body, next) = match body_and_more.find(CLOSE) {
                Some(end) => (&body_and_more[..end], &body_and_more[end + CLOSE.len()..]),
                None => (body_and_more, ""),
            };
            if let Ok(value) = serde_json::from_str::<Json>(body.trim()) {
                if value.is_object() {
                    if let Ok(call) = ToolCall::from_message_json(&value) {
                        calls.push(call);
                    }
                }
            }
            rest = next;
        }
        calls
    }

    /// A Lark grammar (llguidance's dialect) for one or more calls to `tools` (exactly one
    /// when not `parallel`), each with arguments valid under its tool's parameter schema.
    pub(crate) fn required_grammar(self, tools: &[Json], parallel: bool) -> Result<String> {
        let mut alternatives = Vec::with_capacity(tools.len());
        for (i, tool) in tools.iter().enumerate() {
            let (name, parameters) = definition(tool, i)?;
            let mut parameters = parameters.clone();
            // Unlisted keys would be valid JSON Schema, but a call whose arguments the
            // tool does not take helps no one: allow the listed ones only, unless the
            // schema says otherwise.
            if let Some(object) = parameters.as_object_mut() {
                object
                    .entry("additionalProperties")
                    .or_insert(Json::Bool(false));
            }
            alternatives.push(json!({
                "type": "object",
                "properties": {"name": {"const": name}, "arguments": parameters},
                "required": ["name", "arguments"],
                "additionalProperties": false,
            }));
        }
        // Spaced as the template shows the model a call (Python's json.dumps), and no
        // other whitespace: the call reads as the model was trained to write it.
        let schema = json!({
            "anyOf": alternatives,
            "x-guidance": {"whitespace_flexible": false, "item_separator": ", ", "key_separator": ": "},
        });
        let start = if parallel {
            "start: call (\"\\n\" call)*"
        } else {
            "start: call"
        };
        Ok(format!(
            "{start}\ncall: \"<tool_call>\\n\" body \"\\n</tool_call>\"\nbody: %json {schema}\n"
        ))
    }
}

/// Untagged calls: each JSON object in `text` that opens with a `"name"` naming one of
/// `tools` and has `arguments`.
fn bare_calls(text: &str, tools: &[Json]) -> Vec<ToolCall> {
    let offered = |name: &str| {
        tools
            .iter()
            .enumerate()
            .any(|(i, t)| definition(t, i).is_ok_and(|(n, _)| n == name))
    };
    let mut calls = Vec::new();
    let mut at = 0;
    while let Some(offset) = text[at..].find('{') {
        let start = at + offset;
        at = start + 1;
        if !text[start + 1..].trim_start().starts_with("\"name\"") {
            continue;
        }
        let mut values = serde_json::Deserializer::from_str(&text[start..]).into_iter::<Json>();
        let Some(Ok(value)) = values.next() else {
            continue;
        };
        let end = start + values.byte_offset();
        if value.get("arguments").is_some() {
            if let Ok(call) = ToolCall::from_message_json(&value) {
                if offered(&call.name) {
                    calls.push(call);
                    at = end;
                }
            }
        }
    }
    calls
}

/// A tool definition's name and parameter schema: transformers' `{"type": "function",
/// "function": {"name", "description", "parameters"}}` or the bare function object.
fn definition(tool: &Json, index: usize) -> Result<(&str, Json)> {
    let function = tool.get("function").unwrap_or(tool);
    let name = function
        .get("name")
        .and_then(Json::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            Error::invalid(format!(
                "tool {index} has no name (expected {{\"type\": \"function\", \"function\": {{\"name\": ..., \"parameters\": {{...}}}}}})"
            ))
        })?;
    let parameters = match function.get("parameters") {
        None | Some(Json::Null) => json!({"type": "object", "properties": {}}),
        Some(p) if p.is_object() => p.clone(),
        Some(_) => {
            return Err(Error::invalid(format!(
                "tool {name:?}: \"parameters\" is not a JSON Schema object"
            )))
        }
    };
    Ok((name, parameters))
}

/// Check tool definitions before they reach the template: a list of objects with names.
pub(crate) fn validate_tools(tools: &[Json]) -> Result<()> {
    for (i, tool) in tools.iter().enumerate() {
        if !tool.is_object() {
            return Err(Error::invalid(format!("tool {i} is not a JSON object")));
        }
        definition(tool, i)?;
    }
    Ok(())
}

/// Tool definitions from JSON text: an array of definitions (or one definition).
pub fn parse_tools(text: &str) -> Result<Vec<Json>> {
    let value: Json = serde_json::from_str(text)
        .map_err(|e| Error::invalid(format!("the tools are not JSON: {e}")))?;
    let tools = match value {
        Json::Array(list) => list,
        single @ Json::Object(_) => vec![single],
        _ => {
            return Err(Error::invalid(
                "the tools must be a JSON array of function definitions",
            ))
        }
    };
    validate_tools(&tools)?;
    Ok(tools)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hermes_blocks() {
        let text = "Sure.\n<tool_call>\n{\"name\": \"create_task\", \"arguments\": {\"title\": \"Call Bo\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"search_notes\", \"arguments\": \"{\\\"query\\\": \\\"budget\\\"}\"}\n</tool_call>";
        let calls = ToolCallFormat::Hermes.parse(text, &[]);
        assert_eq!(
            calls,
            vec![
                ToolCall::new("create_task", json!({"title": "Call Bo"})),
                ToolCall::new("search_notes", json!({"query": "budget"})),
            ]
        );
        // Broken blocks are not calls; an unclosed last block still is.
        let text =
            "<tool_call>{oops}</tool_call><tool_call>[1]</tool_call><tool_call>{\"name\": \"x\"}";
        assert_eq!(
            ToolCallFormat::Hermes.parse(text, &[]),
            vec![ToolCall::new("x", json!({}))]
        );
        assert!(ToolCallFormat::Hermes
            .parse("no calls here", &[])
            .is_empty());
    }

    #[test]
    fn parses_untagged_calls_to_offered_tools() {
        let tools = parse_tools(r#"[{"name": "create_task"}, {"name": "search_notes"}]"#).unwrap();
        let fenced = "```json\n{\n  \"name\": \"create_task\",\n  \"arguments\": {\"title\": \"Renew\"}\n}\n```";
        assert_eq!(
            ToolCallFormat::Hermes.parse(fenced, &tools),
            vec![ToolCall::new("create_task", json!({"title": "Renew"}))]
        );
        let two = r#"{"name": "search_notes", "arguments": {"query": "a {b}"}} and {"name": "create_task", "arguments": {}}"#;
        assert_eq!(ToolCallFormat::Hermes.parse(two, &tools).len(), 2);
        // Not offered, no arguments, or not JSON: not calls.
        for text in [
            r#"{"name": "finish_slides", "arguments": {}}"#,
            r#"{"name": "create_task", "title": "x"}"#,
            r#"{"name": "create_task", "arguments": {"#,
            r#"The answer is {"x": 1}."#,
        ] {
            assert!(
                ToolCallFormat::Hermes.parse(text, &tools).is_empty(),
                "{text}"
            );
        }
    }

    #[test]
    fn definitions_are_checked() {
        assert_eq!(parse_tools("[]").unwrap(), Vec::<Json>::new());
        let tools = parse_tools(r#"{"name": "f"}"#).unwrap();
        assert_eq!(tools.len(), 1);
        for (bad, says) in [
            ("[1]", "tool 0 is not a JSON object"),
            (
                r#"[{"type": "function", "function": {}}]"#,
                "tool 0 has no name",
            ),
            (
                r#"[{"name": "f", "parameters": 3}]"#,
                "is not a JSON Schema",
            ),
            ("{", "not JSON"),
            ("3", "JSON array"),
        ] {
            let err = parse_tools(bad).unwrap_err();
            assert!(err.message().contains(says), "{bad}: {}", err.message());
        }
    }

    #[test]
    fn grammar_names_every_tool() {
        let tools = parse_tools(
            r#"[{"type": "function", "function": {"name": "a", "parameters": {"type": "object", "properties": {"x": {"type": "integer"}}}}}, {"name": "b"}]"#,
        )
        .unwrap();
        let grammar = ToolCallFormat::Hermes
            .required_grammar(&tools, true)
            .unwrap();
        assert!(grammar.starts_with("start: call"), "{grammar}");
        assert!(grammar.contains(r#"{"const":"a"}"#), "{grammar}");
        assert!(grammar.contains(r#"{"const":"b"}"#), "{grammar}");
        assert!(grammar.contains(r#""additionalProperties":false"#));
        let one = ToolCallFormat::Hermes
            .required_grammar(&tools, false)
            .unwrap();
        assert!(one.starts_with("start: call\n"), "{one}");
    }
}
