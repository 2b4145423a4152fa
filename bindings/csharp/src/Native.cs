// P/Invoke declarations over include/nodespace.h. Nothing public lives here: the public API
// (Embedder, Generator, NodeSpaceRuntime) translates to and from these raw shapes.
//
// Written in the C# subset that Mono's mcs accepts (C# 7.2) because that is what the tests
// are compiled with; the same file builds for netstandard2.0 and net8.0 with the .NET SDK.

using System;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace NodeSpace
{
    /// <summary>
    /// Marks a static method that native code calls back. Xamarin.iOS / Unity IL2CPP (ahead-of-time
    /// compiled Mono) look for an attribute with exactly this name; elsewhere it is ignored.
    /// </summary>
    [AttributeUsage(AttributeTargets.Method)]
    internal sealed class MonoPInvokeCallbackAttribute : Attribute
    {
        public MonoPInvokeCallbackAttribute(Type delegateType) { DelegateType = delegateType; }
        public Type DelegateType { get; private set; }
    }

    // ---- handles ---------------------------------------------------------------------------
    // SafeHandle gives three things the C ABI asks for: the handle is freed exactly once (Dispose
    // or finalizer), it is not freed while a P/Invoke that received it is still running (the
    // marshaller holds a reference for the call: "no call may be running on it" is kept even
    // when Dispose races a call on another thread), and a closed handle is never passed to
    // native code (ObjectDisposedException instead).

    internal sealed class EmbedderHandle : SafeHandleZeroOrMinusOneIsInvalid
    {
        public EmbedderHandle() : base(true) { }
        protected override bool ReleaseHandle() { Native.ns_embedder_free(handle); return true; }
    }

    internal sealed class GeneratorHandle : SafeHandleZeroOrMinusOneIsInvalid
    {
        public GeneratorHandle() : base(true) { }
        protected override bool ReleaseHandle() { Native.ns_generator_free(handle); return true; }
    }

    internal sealed class CancelTokenHandle : SafeHandleZeroOrMinusOneIsInvalid
    {
        public CancelTokenHandle() : base(true) { }
        protected override bool ReleaseHandle() { Native.ns_cancel_token_free(handle); return true; }
    }

    // ---- structs (field for field as in nodespace.h; checked against the library's own sizes
    // by the tests, see Native.LibraryStructSizes) ---------------------------------------------

    [StructLayout(LayoutKind.Sequential)]
    internal unsafe struct ErrorDetail
    {
        public const int Capacity = 1024; // NS_ERROR_DETAIL_CAPACITY
        public int Status;
        public fixed byte Message[Capacity];
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct EmbedderOptionsNative
    {
        public uint struct_size;
        public IntPtr model_path;
        public IntPtr variant;
        public int device;
        public uint intra_threads;
        public uint max_sessions;
        public int pooling;
        public int normalize;
        public uint max_length;
        public uint output_dimension;
        public IntPtr prompt_name;
        public uint batch_token_budget;
        public uint max_batch_size;
        public int fail_on_truncation;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct EmbedderInfoNative
    {
        public uint struct_size;
        public UIntPtr dimension;
        public UIntPtr max_length;
        public int pooling;
        public int normalize;
        public IntPtr model_file;
        public IntPtr provider;
        public IntPtr fallback_reason;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct GeneratorOptionsNative
    {
        public uint struct_size;
        public IntPtr model_path;
        public IntPtr variant;
        public int device;
        public uint intra_threads;
        public uint max_sessions;
        public int reuse_prefix;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct GeneratorInfoNative
    {
        public uint struct_size;
        public UIntPtr context_length;
        public UIntPtr layers;
        public UIntPtr kv_heads;
        public UIntPtr head_dim;
        public int has_chat_template;
        public IntPtr model_file;
        public IntPtr provider;
        public IntPtr fallback_reason;
        public int tools;
        public IntPtr lookup_off_reason;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct ChatMessageNative
    {
        public IntPtr role;
        public IntPtr content;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct GenerateRequestNative
    {
        public uint struct_size;
        public IntPtr prompt;
        public IntPtr messages;
        public UIntPtr message_count;
        public uint max_new_tokens;
        public int sampling;
        public float temperature;
        public uint top_k;
        public float top_p;
        public float min_p;
        public float repetition_penalty;
        public float presence_penalty;
        public float frequency_penalty;
        public ulong seed;
        public IntPtr stop;
        public UIntPtr stop_count;
        public IntPtr cancel;
        public IntPtr token_ids_out;
        public UIntPtr token_ids_capacity;
        public uint lookup_max_draft;
        public int constraint_kind;
        public IntPtr constraint;
        public IntPtr choices;
        public UIntPtr choice_count;
        public IntPtr tools;
        public int tool_choice;
        public IntPtr messages_json;
        public IntPtr on_tool_call;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct GenerationStatsNative
    {
        public uint struct_size;
        public int stop_reason;
        public UIntPtr prompt_tokens;
        public UIntPtr reused_prompt_tokens;
        public UIntPtr generated_tokens;
        public double time_to_first_token_ms;
        public double prefill_tokens_per_s;
        public double decode_tokens_per_s;
        public double total_ms;
        public UIntPtr drafted_tokens;
        public UIntPtr accepted_tokens;
        public UIntPtr tool_calls;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct RuntimeOptionsNative
    {
        public uint struct_size;
        public IntPtr onnxruntime_path;
    }

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    internal delegate int ChunkCallback(IntPtr utf8, UIntPtr len, IntPtr userData);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    internal delegate void ToolCallCallback(UIntPtr index, IntPtr name, IntPtr argumentsJson, IntPtr userData);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    internal delegate void LogCallback(int level, IntPtr message, IntPtr userData);

    internal delegate int StructInit(IntPtr options, UIntPtr size);

    internal static unsafe class Native
    {
        /// <summary>
        /// The name P/Invoke resolves: libnodespace.so (Linux), libnodespace.dylib (macOS),
        /// nodespace.dll (Windows). .NET finds it in runtimes/&lt;rid&gt;/native/ of the NuGet
        /// package or beside the app; Mono through a NodeSpace.dll.config dllmap or the system
        /// loader (LD_LIBRARY_PATH / DYLD_LIBRARY_PATH).
        /// </summary>
        internal const string Library = "nodespace";

        /// <summary>NS_ABI_VERSION of the header this binding was written against.</summary>
        internal const uint AbiVersion = 1;

        internal const int NS_CONTINUE = 0;
        internal const int NS_STOP = 1;

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)] internal static extern IntPtr ns_version();
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)] internal static extern uint ns_abi_version();
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)] internal static extern IntPtr ns_status_string(int status);
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)] internal static extern IntPtr ns_last_error_message();
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)] internal static extern int ns_debug_trigger_panic();

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)] internal static extern int ns_embedder_options_init(IntPtr options, UIntPtr size);
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int ns_embedder_new(ref EmbedderOptionsNative options, out EmbedderHandle embedder, ref ErrorDetail error);
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)] internal static extern UIntPtr ns_embedder_dimension(EmbedderHandle embedder);
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)] internal static extern int ns_embedder_get_info(EmbedderHandle embedder, ref EmbedderInfoNative info);
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int ns_embed_batch(EmbedderHandle embedder, IntPtr* texts, UIntPtr* lengths, UIntPtr count,
                                                  float* output, UIntPtr outputLength, ref ErrorDetail error);
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int ns_embed_batch_with_prompt(EmbedderHandle embedder, IntPtr promptName, IntPtr* texts, UIntPtr* lengths,
                                                              UIntPtr count, float* output, UIntPtr outputLength, ref ErrorDetail error);
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)] internal static extern void ns_embedder_free(IntPtr embedder);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)] internal static extern int ns_generator_options_init(IntPtr options, UIntPtr size);
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int ns_generator_new(ref GeneratorOptionsNative options, out GeneratorHandle generator, ref ErrorDetail error);
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)] internal static extern int ns_generator_get_info(GeneratorHandle generator, ref GeneratorInfoNative info);
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)] internal static extern int ns_generate_request_init(IntPtr request, UIntPtr size);
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern int ns_generate_stream(GeneratorHandle generator, ref GenerateRequestNative request, ChunkCallback onChunk,
                                                      IntPtr userData, ref GenerationStatsNative stats, ref ErrorDetail error);
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)] internal static extern void ns_generator_free(IntPtr generator);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)] internal static extern int ns_cancel_token_new(out CancelTokenHandle token);
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)] internal static extern int ns_cancel_token_cancel(CancelTokenHandle token);
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)] internal static extern int ns_cancel_token_reset(CancelTokenHandle token);
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)] internal static extern void ns_cancel_token_free(IntPtr token);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)] internal static extern int ns_runtime_options_init(IntPtr options, UIntPtr size);
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)] internal static extern int ns_runtime_init(ref RuntimeOptionsNative options);
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)] internal static extern int ns_runtime_version(byte* buffer, UIntPtr capacity);
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)] internal static extern int ns_set_log_callback(LogCallback callback, IntPtr userData, int maxLevel);

        private static volatile bool s_checked;

        /// <summary>
        /// Loads the native library on first use and checks its ABI version; turns "library not
        /// found" into a message that says where .NET and Mono look for it.
        /// </summary>
        internal static void EnsureLoaded()
        {
            if (s_checked) return;
            uint abi;
            try
            {
                abi = ns_abi_version();
            }
            catch (DllNotFoundException e)
            {
                throw NotFound(e);
            }
            if (abi != AbiVersion)
            {
                throw new NodeSpaceException(NodeSpaceStatus.Unsupported,
                    "the loaded nodespace library implements C ABI version " + abi + "; this binding was written for version " + AbiVersion);
            }
            s_checked = true;
        }

        /// <summary>"Library not found", with where .NET and Mono look for it.</summary>
        internal static DllNotFoundException NotFound(DllNotFoundException e)
        {
            return new DllNotFoundException(
                "The nodespace native library (libnodespace.so / libnodespace.dylib / nodespace.dll) could not be loaded. " +
                ".NET looks in the app folder and in runtimes/<rid>/native/ of the NodeSpace package; Mono follows " +
                "NodeSpace.dll.config's <dllmap> and then the system loader (LD_LIBRARY_PATH, DYLD_LIBRARY_PATH). " +
                "Loader said: " + e.Message, e);
        }

        /// <summary>Throws for a status of a call that has no ns_error_detail out-parameter: the
        /// message is the calling thread's ns_last_error_message(), read right after the call on
        /// the same thread.</summary>
        internal static void Check(int status)
        {
            if (status != 0) throw new NodeSpaceException((NodeSpaceStatus)status, Utf8.FromNative(ns_last_error_message()) ?? "");
        }

        /// <summary>Throws for a status of a call that filled an ns_error_detail.</summary>
        internal static void Check(int status, ref ErrorDetail detail)
        {
            if (status != 0) throw new NodeSpaceException((NodeSpaceStatus)status, MessageOf(ref detail));
        }

        internal static string MessageOf(ref ErrorDetail detail)
        {
            fixed (byte* message = detail.Message)
            {
                int length = 0;
                while (length < ErrorDetail.Capacity && message[length] != 0) length++;
                return Utf8.Decode(message, length);
            }
        }

        /// <summary>
        /// Defaults of an option struct from the library's _init function, which takes our
        /// struct size and fills what both sides know. <paramref name="structSize"/> is the
        /// struct_size it set (ours, or the library's when it is older);
        /// <paramref name="librarySize"/> is the same value, kept for the layout test.
        /// </summary>
        internal static T Defaults<T>(StructInit init, out uint structSize, out uint librarySize) where T : struct
        {
            // _init takes our size: an older or newer library fills the fields both know and
            // sets struct_size to that many bytes.
            int ours = Marshal.SizeOf(typeof(T));
            IntPtr block = Marshal.AllocHGlobal(ours);
            try
            {
                Check(init(block, (UIntPtr)ours));
                structSize = *(uint*)block;
                librarySize = structSize;
                return (T)Marshal.PtrToStructure(block, typeof(T));
            }
            finally
            {
                Marshal.FreeHGlobal(block);
            }
        }

        /// <summary>struct_size the library's _init functions report, with ours, for the layout test.</summary>
        internal static int[][] LibraryStructSizes()
        {
            EnsureLoaded();
            uint size, embedder, generator, request, runtime;
            Defaults<EmbedderOptionsNative>(ns_embedder_options_init, out size, out embedder);
            Defaults<GeneratorOptionsNative>(ns_generator_options_init, out size, out generator);
            Defaults<GenerateRequestNative>(ns_generate_request_init, out size, out request);
            Defaults<RuntimeOptionsNative>(ns_runtime_options_init, out size, out runtime);
            return new[]
            {
                new[] { (int)embedder, Marshal.SizeOf(typeof(EmbedderOptionsNative)) },
                new[] { (int)generator, Marshal.SizeOf(typeof(GeneratorOptionsNative)) },
                new[] { (int)request, Marshal.SizeOf(typeof(GenerateRequestNative)) },
                new[] { (int)runtime, Marshal.SizeOf(typeof(RuntimeOptionsNative)) },
            };
        }
    }
}
