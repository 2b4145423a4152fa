using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Text;

namespace NodeSpace
{
    /// <summary>
    /// UTF-8 both ways, by hand: netstandard2.0 has no Marshal.PtrToStringUTF8 and the default
    /// string marshalling of .NET Framework / Mono is not UTF-8 on every platform.
    /// </summary>
    internal static unsafe class Utf8
    {
        /// <summary>
        /// Strings going in: a lone UTF-16 surrogate (not valid Unicode) becomes U+FFFD, as .NET's
        /// own UTF-8 marshalling does, so the library never sees invalid UTF-8 from us.
        /// </summary>
        internal static readonly Encoding Encoding = new UTF8Encoding(false, false);

        internal static string Decode(byte* bytes, int length)
        {
            return length == 0 ? string.Empty : Encoding.GetString(bytes, length);
        }

        /// <summary>A NUL-terminated string owned by the library; null for NULL.</summary>
        internal static string FromNative(IntPtr text)
        {
            if (text == IntPtr.Zero) return null;
            byte* bytes = (byte*)text;
            int length = 0;
            while (bytes[length] != 0) length++;
            return Decode(bytes, length);
        }
    }

    /// <summary>
    /// Unmanaged, NUL-terminated UTF-8 copies of the strings (and pointer arrays) of one native
    /// call, freed together when the call is over. Unmanaged memory never moves, so the
    /// pointers stay valid for the whole call without pinning.
    /// </summary>
    internal sealed unsafe class Utf8Arena : IDisposable
    {
        private readonly List<IntPtr> _blocks = new List<IntPtr>();

        internal IntPtr Alloc(int bytes)
        {
            IntPtr block = Marshal.AllocHGlobal(Math.Max(bytes, 1));
            _blocks.Add(block);
            return block;
        }

        /// <summary>A NUL-terminated UTF-8 copy of <paramref name="text"/>; IntPtr.Zero for null.</summary>
        internal IntPtr String(string text)
        {
            if (text == null) return IntPtr.Zero;
            int length = Utf8.Encoding.GetByteCount(text);
            IntPtr block = Alloc(length + 1);
            byte* bytes = (byte*)block;
            if (length > 0)
            {
                fixed (char* chars = text) Utf8.Encoding.GetBytes(chars, text.Length, bytes, length);
            }
            bytes[length] = 0;
            return block;
        }

        /// <summary>An array of <paramref name="count"/> pointers.</summary>
        internal IntPtr* Pointers(int count)
        {
            return (IntPtr*)Alloc(count * IntPtr.Size);
        }

        public void Dispose()
        {
            foreach (IntPtr block in _blocks) Marshal.FreeHGlobal(block);
            _blocks.Clear();
        }
    }
}
