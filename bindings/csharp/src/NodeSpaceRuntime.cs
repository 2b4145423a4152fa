using System;
using System.Threading;

namespace NodeSpace
{
    /// <summary>Process-wide things: versions, where ONNX Runtime comes from, the log.</summary>
    public static unsafe class NodeSpaceRuntime
    {
        /// <summary>The C ABI version this binding was written for (NS_ABI_VERSION).</summary>
        public const int BindingAbiVersion = (int)Native.AbiVersion;

        /// <summary>Version of the native library, e.g. "0.1.0".</summary>
        public static string Version
        {
            get { Native.EnsureLoaded(); return Utf8.FromNative(Native.ns_version()); }
        }

        /// <summary>The C ABI version the native library implements. The binding refuses to run
        /// against another one (NodeSpaceException, status Unsupported).</summary>
        public static int AbiVersion
        {
            get
            {
                try { return (int)Native.ns_abi_version(); }
                catch (DllNotFoundException e) { throw Native.NotFound(e); }
            }
        }

        /// <summary>
        /// Load ONNX Runtime now (instead of at the first model load), so that a missing or
        /// incompatible runtime is reported here, optionally from an explicit path. Without a path
        /// the library searches NS_ONNXRUNTIME_PATH, ORT_DYLIB_PATH, the folder of libnodespace,
        /// the executable's folder, then the system loader. Call it before any model is loaded:
        /// once loaded, ONNX Runtime cannot be replaced (another path gives InvalidArgument).
        /// Throws NodeSpaceException (RuntimeNotFound, listing the places searched with the loader's
        /// reason for each). A failed call changes nothing: call it again with another path, or let
        /// the next model load search as usual.
        /// </summary>
        public static void Initialize(string onnxRuntimePath = null)
        {
            Native.EnsureLoaded();
            uint size, librarySize;
            RuntimeOptionsNative options = Native.Defaults<RuntimeOptionsNative>(Native.ns_runtime_options_init, out size, out librarySize);
            options.struct_size = size;
            using (var arena = new Utf8Arena())
            {
                options.onnxruntime_path = arena.String(onnxRuntimePath);
                Native.Check(Native.ns_runtime_init(ref options));
            }
        }

        /// <summary>Version of the loaded ONNX Runtime, e.g. "1.31.1" (loads it if needed).</summary>
        public static string OnnxRuntimeVersion
        {
            get
            {
                Native.EnsureLoaded();
                for (int capacity = 64; ; capacity *= 4)
                {
                    byte* buffer = stackalloc byte[capacity];
                    int status = Native.ns_runtime_version(buffer, (UIntPtr)capacity);
                    if (status == (int)NodeSpaceStatus.BufferTooSmall && capacity < 4096) continue;
                    Native.Check(status);
                    return Utf8.FromNative((IntPtr)buffer);
                }
            }
        }

        /// <summary>The C name of a status ("NS_ERR_MODEL_NOT_FOUND", ...).</summary>
        public static string StatusName(NodeSpaceStatus status)
        {
            int value = (int)status;
            if (value >= 0 && value < s_statusNames.Length) return s_statusNames[value];
            try { return Utf8.FromNative(Native.ns_status_string(value)); }
            catch (DllNotFoundException) { return "NS_ERR_UNKNOWN"; }
        }

        private static readonly string[] s_statusNames =
        {
            "NS_OK", "NS_ERR_INVALID_ARGUMENT", "NS_ERR_NULL_POINTER", "NS_ERR_INVALID_UTF8", "NS_ERR_BUFFER_TOO_SMALL",
            "NS_ERR_STRUCT_SIZE", "NS_ERR_MODEL_NOT_FOUND", "NS_ERR_MODEL_INVALID", "NS_ERR_TOKENIZER",
            "NS_ERR_RUNTIME_NOT_FOUND", "NS_ERR_RUNTIME", "NS_ERR_CANCELLED", "NS_ERR_CONTEXT_OVERFLOW",
            "NS_ERR_UNSUPPORTED", "NS_ERR_TEMPLATE", "NS_ERR_IO", "NS_ERR_INTERNAL",
        };

        // The native side keeps a pointer to this delegate for as long as a handler is set, so it
        // lives in a static field forever (a collected delegate would crash the process).
        private static readonly LogCallback s_logCallback = OnLog;
        private static Action<LogLevel, string> s_logHandler;
        private static readonly object s_logLock = new object();

        /// <summary>
        /// Send nodespace's diagnostics (runtime loaded, device fallback, ...) and ONNX Runtime's
        /// own log, up to <paramref name="maxLevel"/>, to <paramref name="handler"/>; null removes
        /// it. The handler runs on whichever thread logs (also ONNX Runtime's own threads), possibly
        /// several at once and from inside other nodespace calls: it must be thread-safe, quick,
        /// and must not call nodespace. Exceptions it throws are swallowed.
        /// </summary>
        public static void SetLogHandler(Action<LogLevel, string> handler, LogLevel maxLevel = LogLevel.Info)
        {
            Native.EnsureLoaded();
            lock (s_logLock)
            {
                if (handler == null)
                {
                    Native.Check(Native.ns_set_log_callback(null, IntPtr.Zero, (int)maxLevel));
                    Volatile.Write(ref s_logHandler, null);
                }
                else
                {
                    Volatile.Write(ref s_logHandler, handler);
                    Native.Check(Native.ns_set_log_callback(s_logCallback, IntPtr.Zero, (int)maxLevel));
                }
            }
        }

        [MonoPInvokeCallback(typeof(LogCallback))]
        private static void OnLog(int level, IntPtr message, IntPtr userData)
        {
            try
            {
                Action<LogLevel, string> handler = Volatile.Read(ref s_logHandler);
                if (handler != null) handler((LogLevel)level, Utf8.FromNative(message));
            }
            catch (Exception)
            {
                // An exception must not unwind into native frames.
            }
        }
    }
}
