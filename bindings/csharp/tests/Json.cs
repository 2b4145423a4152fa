// A minimal JSON reader for the tests' expected.json files and the CLI's --json output (Mono's
// minimal install has no JSON library). Objects -> Dictionary<string, object>, arrays ->
// List<object>, numbers -> double, plus string, bool and null.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace NodeSpace.Tests
{
    internal sealed class Json
    {
        private readonly string _s;
        private int _i;

        private Json(string s) { _s = s; }

        public static object Parse(string text)
        {
            var p = new Json(text);
            object value = p.Value();
            p.Space();
            if (p._i != p._s.Length) throw p.Error("trailing characters");
            return value;
        }

        private Exception Error(string what) { return new FormatException("JSON: " + what + " at offset " + _i); }

        private void Space()
        {
            while (_i < _s.Length && char.IsWhiteSpace(_s[_i])) _i++;
        }

        private object Value()
        {
            Space();
            if (_i >= _s.Length) throw Error("unexpected end");
            char c = _s[_i];
            if (c == '{') return Object();
            if (c == '[') return Array();
            if (c == '"') return String();
            if (Word("true")) return true;
            if (Word("false")) return false;
            if (Word("null")) return null;
            return Number();
        }

        private bool Word(string w)
        {
            if (string.CompareOrdinal(_s, _i, w, 0, w.Length) != 0) return false;
            _i += w.Length;
            return true;
        }

        private Dictionary<string, object> Object()
        {
            var o = new Dictionary<string, object>();
            _i++;
            Space();
            if (_s[_i] == '}') { _i++; return o; }
            while (true)
            {
                Space();
                string key = String();
                Space();
                if (_s[_i++] != ':') throw Error("':' expected");
                o[key] = Value();
                Space();
                char c = _s[_i++];
                if (c == '}') return o;
                if (c != ',') throw Error("',' or '}' expected");
            }
        }

        private List<object> Array()
        {
            var a = new List<object>();
            _i++;
            Space();
            if (_s[_i] == ']') { _i++; return a; }
            while (true)
            {
                a.Add(Value());
                Space();
                char c = _s[_i++];
                if (c == ']') return a;
                if (c != ',') throw Error("',' or ']' expected");
            }
        }

        private string String()
        {
            if (_s[_i] != '"') throw Error("string expected");
            _i++;
            var sb = new StringBuilder();
            while (true)
            {
                char c = _s[_i++];
                if (c == '"') return sb.ToString();
                if (c != '\\') { sb.Append(c); continue; }
                char e = _s[_i++];
                switch (e)
                {
                    case '"': sb.Append('"'); break;
                    case '\\': sb.Append('\\'); break;
                    case '/': sb.Append('/'); break;
                    case 'b': sb.Append('\b'); break;
                    case 'f': sb.Append('\f'); break;
                    case 'n': sb.Append('\n'); break;
                    case 'r': sb.Append('\r'); break;
                    case 't': sb.Append('\t'); break;
                    case 'u':
                        sb.Append((char)int.Parse(_s.Substring(_i, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                        _i += 4;
                        break;
                    default: throw Error("bad escape");
                }
            }
        }

        private double Number()
        {
            int start = _i;
            while (_i < _s.Length && "+-0123456789.eE".IndexOf(_s[_i]) >= 0) _i++;
            if (start == _i) throw Error("value expected");
            return double.Parse(_s.Substring(start, _i - start), NumberStyles.Float, CultureInfo.InvariantCulture);
        }

        // ---- helpers for reading parsed values -------------------------------------------------

        public static Dictionary<string, object> Obj(object o) { return (Dictionary<string, object>)o; }
        public static List<object> Arr(object o) { return (List<object>)o; }

        public static object Get(object o, string key)
        {
            object value;
            return Obj(o).TryGetValue(key, out value) ? value : null;
        }

        public static List<string> Strings(object o)
        {
            var list = new List<string>();
            foreach (object x in Arr(o)) list.Add((string)x);
            return list;
        }

        public static float[] Floats(object o)
        {
            List<object> a = Arr(o);
            var v = new float[a.Count];
            for (int i = 0; i < v.Length; i++) v[i] = (float)(double)a[i];
            return v;
        }

        public static float[][] Matrix(object o)
        {
            List<object> a = Arr(o);
            var m = new float[a.Count][];
            for (int i = 0; i < m.Length; i++) m[i] = Floats(a[i]);
            return m;
        }

        public static int[] Ints(object o)
        {
            List<object> a = Arr(o);
            var v = new int[a.Count];
            for (int i = 0; i < v.Length; i++) v[i] = (int)(double)a[i];
            return v;
        }
    }
}
