using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Reflection;
using System.Runtime.Serialization;
using System.Runtime.Serialization.Json;
using System.Text;

namespace NodeSpace
{
    /// <summary>
    /// JSON Schemas built from .NET types, and answers read back into them. The members are the
    /// ones DataContractJsonSerializer (which <see cref="Deserialize{T}"/> uses) reads: with
    /// [DataContract], the [DataMember] ones under their Name; otherwise the public read/write
    /// properties and public fields. Every member is required (the model writes each);
    /// Nullable&lt;T&gt; members may be null. Strings, booleans, integers, floating point numbers,
    /// enums (as their numbers), arrays and lists, and nested classes are supported.
    /// </summary>
    public static class JsonSchemas
    {
        /// <summary>The JSON Schema of <typeparamref name="T"/>, for
        /// <see cref="GenerationRequest.JsonSchema"/> or a tool's parameters.</summary>
        public static string For<T>()
        {
            return For(typeof(T));
        }

        /// <summary>The JSON Schema of <paramref name="type"/>. Throws ArgumentException for a type
        /// it cannot describe (dictionaries, recursive types, DateTime, ...).</summary>
        public static string For(Type type)
        {
            if (type == null) throw new ArgumentNullException("type");
            var text = new StringBuilder();
            Write(type, text, new HashSet<Type>());
            return text.ToString();
        }

        /// <summary>Read JSON text (a generation's Text, a tool call's arguments) into a
        /// <typeparamref name="T"/> with DataContractJsonSerializer. Throws SerializationException
        /// when the text does not fit the type.</summary>
        public static T Deserialize<T>(string json)
        {
            if (json == null) throw new ArgumentNullException("json");
            var serializer = new DataContractJsonSerializer(typeof(T));
            using (var stream = new MemoryStream(Encoding.UTF8.GetBytes(json)))
            {
                return (T)serializer.ReadObject(stream);
            }
        }

        private static void Write(Type type, StringBuilder s, HashSet<Type> open)
        {
            Type inner = Nullable.GetUnderlyingType(type);
            if (inner != null)
            {
                s.Append("{\"anyOf\": [");
                Write(inner, s, open);
                s.Append(", {\"type\": \"null\"}]}");
                return;
            }
            if (type == typeof(string)) { s.Append("{\"type\": \"string\"}"); return; }
            if (type == typeof(bool)) { s.Append("{\"type\": \"boolean\"}"); return; }
            if (type.IsEnum)
            {
                s.Append("{\"type\": \"integer\", \"enum\": [");
                bool first = true;
                foreach (object value in Enum.GetValues(type))
                {
                    if (!first) s.Append(", ");
                    first = false;
                    s.Append(Convert.ToInt64(value, CultureInfo.InvariantCulture).ToString(CultureInfo.InvariantCulture));
                }
                s.Append("]}");
                return;
            }
            switch (Type.GetTypeCode(type))
            {
                case TypeCode.SByte: case TypeCode.Byte: case TypeCode.Int16: case TypeCode.UInt16:
                case TypeCode.Int32: case TypeCode.UInt32: case TypeCode.Int64: case TypeCode.UInt64:
                    s.Append("{\"type\": \"integer\"}");
                    return;
                case TypeCode.Single: case TypeCode.Double: case TypeCode.Decimal:
                    s.Append("{\"type\": \"number\"}");
                    return;
            }
            Type element = ElementType(type);
            if (element != null)
            {
                s.Append("{\"type\": \"array\", \"items\": ");
                Write(element, s, open);
                s.Append('}');
                return;
            }
            if (type.IsPrimitive || type == typeof(DateTime) || type == typeof(object) || typeof(System.Collections.IEnumerable).IsAssignableFrom(type))
            {
                throw new ArgumentException("JsonSchemas cannot describe " + type.FullName + ": use strings, numbers, booleans, enums, arrays or lists, and classes of those", "type");
            }
            if (!open.Add(type)) throw new ArgumentException("JsonSchemas cannot describe the recursive type " + type.FullName, "type");
            s.Append("{\"type\": \"object\", \"properties\": {");
            var names = new List<string>();
            foreach (KeyValuePair<string, Type> member in Members(type))
            {
                if (names.Count > 0) s.Append(", ");
                names.Add(member.Key);
                s.Append(Quote(member.Key)).Append(": ");
                Write(member.Value, s, open);
            }
            s.Append("}, \"required\": [");
            for (int i = 0; i < names.Count; i++) s.Append(i > 0 ? ", " : "").Append(Quote(names[i]));
            s.Append("], \"additionalProperties\": false}");
            open.Remove(type);
        }

        /// <summary>T of T[], List&lt;T&gt;, IList&lt;T&gt;, IEnumerable&lt;T&gt;, ...; null otherwise.</summary>
        private static Type ElementType(Type type)
        {
            if (type.IsArray) return type.GetArrayRank() == 1 ? type.GetElementType() : null;
            if (!type.IsGenericType || type == typeof(string)) return null;
            Type definition = type.GetGenericTypeDefinition();
            if (definition == typeof(List<>) || definition == typeof(IList<>) || definition == typeof(IEnumerable<>)
                || definition == typeof(ICollection<>) || definition == typeof(IReadOnlyList<>) || definition == typeof(IReadOnlyCollection<>))
            {
                return type.GetGenericArguments()[0];
            }
            return null;
        }

        /// <summary>The members DataContractJsonSerializer reads, by JSON name, in declaration order.</summary>
        private static IEnumerable<KeyValuePair<string, Type>> Members(Type type)
        {
            bool contract = type.GetCustomAttributes(typeof(DataContractAttribute), false).Length > 0;
            const BindingFlags flags = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly;
            var members = new List<MemberInfo>();
            for (Type t = type; t != null && t != typeof(object); t = t.BaseType)
            {
                var own = new List<MemberInfo>();
                own.AddRange(t.GetProperties(flags));
                own.AddRange(t.GetFields(flags));
                members.InsertRange(0, own);
            }
            foreach (MemberInfo m in members)
            {
                var property = m as PropertyInfo;
                var field = m as FieldInfo;
                Type memberType = property != null ? property.PropertyType : field.FieldType;
                if (contract)
                {
                    var attribute = (DataMemberAttribute)Attribute.GetCustomAttribute(m, typeof(DataMemberAttribute));
                    if (attribute == null) continue;
                    yield return new KeyValuePair<string, Type>(attribute.Name ?? m.Name, memberType);
                }
                else if (property != null)
                {
                    MethodInfo get = property.GetGetMethod(), set = property.GetSetMethod();
                    if (get != null && set != null && property.GetIndexParameters().Length == 0) yield return new KeyValuePair<string, Type>(m.Name, memberType);
                }
                else if (field.IsPublic && !field.IsInitOnly && !field.IsDefined(typeof(IgnoreDataMemberAttribute), false))
                {
                    yield return new KeyValuePair<string, Type>(m.Name, memberType);
                }
            }
        }

        /// <summary>A JSON string literal.</summary>
        internal static string Quote(string text)
        {
            var s = new StringBuilder(text.Length + 2);
            s.Append('"');
            foreach (char c in text)
            {
                switch (c)
                {
                    case '"': s.Append("\\\""); break;
                    case '\\': s.Append("\\\\"); break;
                    case '\n': s.Append("\\n"); break;
                    case '\r': s.Append("\\r"); break;
                    case '\t': s.Append("\\t"); break;
                    default:
                        if (c < 0x20) s.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                        else s.Append(c);
                        break;
                }
            }
            return s.Append('"').ToString();
        }
    }
}
