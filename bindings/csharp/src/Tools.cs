using System;
using System.Collections.Generic;
using System.Text;

namespace NodeSpace
{
    /// <summary>What a model does with tools (<see cref="GeneratorInfo.Tools"/>).</summary>
    public enum ToolSupport
    {
        /// <summary>Its chat template does not render tools (Tools throws Unsupported).</summary>
        None = 0,
        /// <summary>Tools are rendered; the calls stay in the text (a form this library does not parse).</summary>
        Rendered = 1,
        /// <summary>Tools are rendered and the calls parsed into ToolCalls; Required / One work.</summary>
        Parsed = 2,
    }

    /// <summary>Whether the model must call a tool (see <see cref="GenerationRequest.Tools"/>).</summary>
    public enum ToolChoice
    {
        /// <summary>The model answers in text or calls tools, as it decides (calls parsed, not constrained).</summary>
        Auto = 0,
        /// <summary>The answer is one or more calls, constrained: each parses, names an offered tool,
        /// and its arguments validate against that tool's parameters.</summary>
        Required = 1,
        /// <summary>Exactly one call, constrained as with Required.</summary>
        One = 2,
    }

    /// <summary>A function the model may call: a name, what it does, and its parameters' JSON Schema.</summary>
    public sealed class ToolDefinition
    {
        public ToolDefinition(string name, string description, string parametersSchema)
        {
            if (name == null) throw new ArgumentNullException("name");
            Name = name;
            Description = description;
            ParametersSchema = parametersSchema;
        }

        public string Name { get; private set; }
        public string Description { get; private set; }
        /// <summary>The parameters as a JSON Schema (JSON text of an object schema), or null for none.</summary>
        public string ParametersSchema { get; private set; }

        /// <summary>A tool whose parameters are <typeparamref name="TArguments"/>'s members
        /// (<see cref="JsonSchemas.For{T}"/>); read a call's arguments back with
        /// <see cref="ToolCall.Arguments{T}"/>.</summary>
        public static ToolDefinition For<TArguments>(string name, string description)
        {
            return new ToolDefinition(name, description, JsonSchemas.For<TArguments>());
        }

        /// <summary>Transformers' form: {"type": "function", "function": {"name", "description", "parameters"}}.</summary>
        internal string ToJson()
        {
            var s = new StringBuilder("{\"type\": \"function\", \"function\": {\"name\": ");
            s.Append(JsonSchemas.Quote(Name));
            if (Description != null) s.Append(", \"description\": ").Append(JsonSchemas.Quote(Description));
            if (ParametersSchema != null) s.Append(", \"parameters\": ").Append(ParametersSchema);
            return s.Append("}}").ToString();
        }

        internal static string ListToJson(IList<ToolDefinition> tools)
        {
            var s = new StringBuilder("[");
            for (int i = 0; i < tools.Count; i++)
            {
                if (tools[i] == null) throw new ArgumentException("Tools[" + i + "] is null", "request");
                if (i > 0) s.Append(", ");
                s.Append(tools[i].ToJson());
            }
            return s.Append(']').ToString();
        }
    }

    /// <summary>A call the model made (or one made in an earlier assistant turn).</summary>
    public sealed class ToolCall
    {
        public ToolCall(string name, string argumentsJson, string id = null)
        {
            if (name == null) throw new ArgumentNullException("name");
            Name = name;
            ArgumentsJson = argumentsJson ?? "{}";
            Id = id;
        }

        public string Name { get; private set; }
        /// <summary>The arguments as JSON text (an object).</summary>
        public string ArgumentsJson { get; private set; }
        /// <summary>The call's id in an earlier turn (templates that print it); null for calls the model made.</summary>
        public string Id { get; private set; }

        /// <summary>The arguments read into <typeparamref name="T"/> (see <see cref="JsonSchemas.Deserialize{T}"/>).</summary>
        public T Arguments<T>()
        {
            return JsonSchemas.Deserialize<T>(ArgumentsJson);
        }

        internal string ToJson()
        {
            var s = new StringBuilder("{");
            if (Id != null) s.Append("\"id\": ").Append(JsonSchemas.Quote(Id)).Append(", ");
            s.Append("\"type\": \"function\", \"function\": {\"name\": ").Append(JsonSchemas.Quote(Name));
            return s.Append(", \"arguments\": ").Append(ArgumentsJson).Append("}}").ToString();
        }
    }
}
