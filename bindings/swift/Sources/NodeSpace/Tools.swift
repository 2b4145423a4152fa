import Foundation

/// A function the model may call (`GenerationRequest.tools`): a name, what it does, and its
/// parameters' JSON Schema (JSON text of an object schema; nil for none).
public struct ToolDefinition: Sendable, Equatable, Hashable {
    public var name: String
    public var description: String?
    public var parametersSchema: String?

    public init(name: String, description: String? = nil, parametersSchema: String? = nil) {
        self.name = name
        self.description = description
        self.parametersSchema = parametersSchema
    }

    /// Transformers' form: {"type": "function", "function": {"name", "description", "parameters"}}.
    var json: String {
        var s = #"{"type": "function", "function": {"name": "# + jsonString(name)
        if let description { s += #", "description": "# + jsonString(description) }
        if let parametersSchema { s += #", "parameters": "# + parametersSchema }
        return s + "}}"
    }
}

/// What a model does with tools (`GeneratorInfo.tools`, `ns_generator_info.tools`).
public enum ToolSupport: Int32, Sendable, CaseIterable {
    /// Its chat template does not render tools (`tools` throws `unsupported`).
    case none = 0
    /// Tools are rendered; the calls stay in the text (a form this library does not parse).
    case rendered = 1
    /// Tools are rendered and the calls parsed into `toolCalls`; `.required` / `.one` work.
    case parsed = 2
}

/// Whether the model must call a tool (`NS_TOOL_CHOICE_*`).
public enum ToolChoice: Int32, Sendable, CaseIterable {
    /// The model answers in text or calls tools, as it decides (calls parsed, not constrained).
    case auto = 0
    /// One or more calls, constrained: each parses, names an offered tool, and its arguments
    /// validate against that tool's parameters.
    case required = 1
    /// Exactly one call, constrained as with `.required`.
    case one = 2
}

/// A call the model made (`GenerationResult.toolCalls`), or one made in an earlier turn.
public struct ToolCall: Sendable, Equatable, Hashable {
    public var name: String
    /// The arguments as JSON text (an object).
    public var argumentsJSON: String
    /// The call's id in an earlier turn (templates that print it); nil for the model's calls.
    public var id: String?

    public init(name: String, argumentsJSON: String = "{}", id: String? = nil) {
        self.name = name
        self.argumentsJSON = argumentsJSON
        self.id = id
    }

    /// The arguments decoded into `type` (JSONDecoder).
    public func arguments<T: Decodable>(as type: T.Type) throws -> T {
        try JSONDecoder().decode(type, from: Data(argumentsJSON.utf8))
    }

    var json: String {
        var s = "{"
        if let id { s += #""id": "# + jsonString(id) + ", " }
        return s + #""type": "function", "function": {"name": "# + jsonString(name) + #", "arguments": "# + argumentsJSON + "}}"
    }
}

extension GenerationResult {
    /// The text decoded into `type` (JSONDecoder): with a `.jsonSchema` constraint, the answer
    /// the schema made the model write. Throws `DecodingError` when it does not fit (e.g. a
    /// `.maxTokens` stop cut it).
    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONDecoder().decode(type, from: Data(text.utf8))
    }
}

extension ChatMessage {
    /// Transformers' message form, for `messages_json`.
    var json: String {
        var s = #"{"role": "# + jsonString(role) + #", "content": "# + jsonString(content)
        if !toolCalls.isEmpty { s += #", "tool_calls": ["# + toolCalls.map(\.json).joined(separator: ", ") + "]" }
        if let toolCallId { s += #", "tool_call_id": "# + jsonString(toolCallId) }
        return s + "}"
    }
}

/// A JSON string literal.
func jsonString(_ text: String) -> String {
    var s = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": s += "\\\""
        case "\\": s += "\\\\"
        case "\n": s += "\\n"
        case "\r": s += "\\r"
        case "\t": s += "\\t"
        default:
            if scalar.value < 0x20 {
                s += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
            } else {
                s.unicodeScalars.append(scalar)
            }
        }
    }
    return s + "\""
}
