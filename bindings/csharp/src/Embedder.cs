using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;

namespace NodeSpace
{
    /// <summary>How to load an embedding model. Zero / null values mean "as the model folder says"
    /// or the library's default.</summary>
    public sealed class EmbedderOptions
    {
        public EmbedderOptions() { }
        public EmbedderOptions(string modelPath) { ModelPath = modelPath; }

        /// <summary>The model folder (Hugging Face layout: onnx/model.onnx or model.onnx,
        /// tokenizer.json, configs). Required.</summary>
        public string ModelPath { get; set; }
        /// <summary>Graph variant ("int8", "quantized", "fp16", ...: model_&lt;variant&gt;.onnx), or null for model.onnx.</summary>
        public string Variant { get; set; }
        public Device Device { get; set; }
        /// <summary>Intra-op threads per session; 0: the number of physical cores.</summary>
        public int IntraThreads { get; set; }
        /// <summary>Calls that may run at the same time (one ONNX Runtime session each); 0: 2.</summary>
        public int MaxSessions { get; set; }
        public Pooling Pooling { get; set; }
        /// <summary>L2-normalize vectors (default true).</summary>
        public bool Normalize { get; set; } = true;
        /// <summary>Truncate texts to this many tokens; 0: the model's maximum.</summary>
        public int MaxLength { get; set; }
        /// <summary>A text longer than the maximum length (Info.MaxLength, prompt and special tokens
        /// included) throws NodeSpaceException ContextOverflow naming the text and its token count,
        /// instead of being truncated (default false).</summary>
        public bool FailOnTruncation { get; set; }
        /// <summary>Keep only the first N dimensions (Matryoshka models), renormalized; 0: all. A model
        /// that lists the sizes it was trained for accepts only those (else InvalidArgument naming
        /// them) and gets its documented procedure (nomic-embed-text: a layer norm first).</summary>
        public int OutputDimension { get; set; }
        /// <summary>Prompt name from config_sentence_transformers.json ("query", "passage", ...)
        /// prepended to every text; null: the model's default prompt, if any. Embed(texts, promptName)
        /// chooses another one for a single call.</summary>
        public string PromptName { get; set; }
        /// <summary>A batch is cut when rows x longest row would pass this many tokens; 0: 512.</summary>
        public int BatchTokenBudget { get; set; }
        /// <summary>At most this many texts per batch; 0: 64.</summary>
        public int MaxBatchSize { get; set; }
    }

    /// <summary>What an embedder detected and runs with.</summary>
    public sealed class EmbedderInfo
    {
        /// <summary>Floats per vector.</summary>
        public int Dimension { get; internal set; }
        /// <summary>Texts are truncated to this many tokens.</summary>
        public int MaxLength { get; internal set; }
        /// <summary>The pooling in use (<see cref="Pooling.InGraph"/> when the graph pools).</summary>
        public Pooling Pooling { get; internal set; }
        public bool Normalize { get; internal set; }
        /// <summary>The ONNX file in use.</summary>
        public string ModelFile { get; internal set; }
        /// <summary>The execution provider really used, e.g. "CPUExecutionProvider".</summary>
        public string Provider { get; internal set; }
        /// <summary>Why the requested device is not the one used, or null.</summary>
        public string FallbackReason { get; internal set; }
    }

    /// <summary>
    /// An embedding model: texts in, fixed-size float vectors out. Thread-safe: one embedder may
    /// be used by many threads at once (up to MaxSessions run in parallel, the rest wait), with
    /// bitwise-identical results. Dispose it when done; Dispose while another thread is embedding
    /// is safe (the native model is freed when that call returns).
    /// </summary>
    public sealed unsafe class Embedder : IDisposable
    {
        private readonly EmbedderHandle _handle;
        private readonly EmbedderInfo _info;

        private Embedder(EmbedderHandle handle, EmbedderInfo info)
        {
            _handle = handle;
            _info = info;
        }

        /// <summary>
        /// Load an embedding model. Slow (reads and optimizes the model): call it off the UI
        /// thread, or use <see cref="LoadAsync"/>. Throws NodeSpaceException (ModelNotFound with
        /// the path, ModelInvalid, Tokenizer, RuntimeNotFound, Unsupported, ...).
        /// </summary>
        public static Embedder Load(EmbedderOptions options)
        {
            if (options == null) throw new ArgumentNullException("options");
            if (options.ModelPath == null) throw new ArgumentNullException("options.ModelPath");
            Native.EnsureLoaded();
            uint size, librarySize;
            EmbedderOptionsNative o = Native.Defaults<EmbedderOptionsNative>(Native.ns_embedder_options_init, out size, out librarySize);
            o.struct_size = size;
            o.device = (int)options.Device;
            o.intra_threads = Unsigned(options.IntraThreads, "IntraThreads");
            o.max_sessions = Unsigned(options.MaxSessions, "MaxSessions");
            o.pooling = (int)options.Pooling;
            o.normalize = options.Normalize ? 1 : 0;
            o.max_length = Unsigned(options.MaxLength, "MaxLength");
            o.output_dimension = Unsigned(options.OutputDimension, "OutputDimension");
            o.batch_token_budget = Unsigned(options.BatchTokenBudget, "BatchTokenBudget");
            o.max_batch_size = Unsigned(options.MaxBatchSize, "MaxBatchSize");
            o.fail_on_truncation = options.FailOnTruncation ? 1 : 0;

            EmbedderHandle handle;
            var error = new ErrorDetail();
            int status;
            using (var arena = new Utf8Arena())
            {
                o.model_path = arena.String(options.ModelPath);
                o.variant = arena.String(options.Variant);
                o.prompt_name = arena.String(options.PromptName);
                status = Native.ns_embedder_new(ref o, out handle, ref error);
            }
            if (status != 0)
            {
                if (handle != null) handle.Dispose();
                Native.Check(status, ref error);
            }
            try
            {
                return new Embedder(handle, ReadInfo(handle));
            }
            catch
            {
                handle.Dispose();
                throw;
            }
        }

        /// <summary><see cref="Load"/> on a thread-pool thread.</summary>
        public static Task<Embedder> LoadAsync(EmbedderOptions options)
        {
            return Task.Run(() => Load(options));
        }

        private static EmbedderInfo ReadInfo(EmbedderHandle handle)
        {
            var info = new EmbedderInfoNative();
            info.struct_size = (uint)System.Runtime.InteropServices.Marshal.SizeOf(typeof(EmbedderInfoNative));
            Native.Check(Native.ns_embedder_get_info(handle, ref info));
            // The strings are owned by the embedder: copied now, while it is alive.
            return new EmbedderInfo
            {
                Dimension = checked((int)info.dimension.ToUInt64()),
                MaxLength = checked((int)info.max_length.ToUInt64()),
                Pooling = (Pooling)info.pooling,
                Normalize = info.normalize != 0,
                ModelFile = Utf8.FromNative(info.model_file),
                Provider = Utf8.FromNative(info.provider),
                FallbackReason = Utf8.FromNative(info.fallback_reason),
            };
        }

        /// <summary>What the embedder detected (read once, at load).</summary>
        public EmbedderInfo Info { get { ThrowIfDisposed(); return _info; } }

        /// <summary>Floats per vector.</summary>
        public int Dimension { get { ThrowIfDisposed(); return _info.Dimension; } }

        /// <summary>
        /// Embed texts: one vector per text, in input order. An empty list gives an empty array;
        /// an empty text is valid; texts longer than the model's maximum are truncated (or throw
        /// ContextOverflow with <see cref="EmbedderOptions.FailOnTruncation"/>).
        /// Throws ArgumentNullException for a null text, NodeSpaceException for library errors.
        /// </summary>
        public float[][] Embed(IReadOnlyList<string> texts)
        {
            return Embed(texts, null);
        }

        /// <summary>
        /// <see cref="Embed(IReadOnlyList{string})"/> with the model's prompt named
        /// <paramref name="promptName"/> ("query" for a search, "document" for the notes it
        /// searches: one loaded model serves both) instead of the embedder's own; null: the
        /// embedder's own. A name the model does not define throws InvalidArgument listing the
        /// ones it does.
        /// </summary>
        public float[][] Embed(IReadOnlyList<string> texts, string promptName)
        {
            if (texts == null) throw new ArgumentNullException("texts");
            ThrowIfDisposed();
            int count = texts.Count;
            if (count == 0) return new float[0][];

            // All texts in one UTF-8 buffer, passed with explicit lengths (no NUL needed).
            var strings = new string[count];
            var offsets = new int[count];
            var lengths = new UIntPtr[count];
            int total = 0;
            for (int i = 0; i < count; i++)
            {
                string text = texts[i];
                if (text == null) throw new ArgumentNullException("texts", "texts[" + i + "] is null");
                strings[i] = text;
                int length = Utf8.Encoding.GetByteCount(text);
                offsets[i] = total;
                lengths[i] = (UIntPtr)length;
                total = checked(total + length);
            }
            var bytes = new byte[Math.Max(total, 1)];
            for (int i = 0; i < count; i++) Utf8.Encoding.GetBytes(strings[i], 0, strings[i].Length, bytes, offsets[i]);

            int dimension = _info.Dimension;
            var flat = new float[checked(count * dimension)];
            var pointers = new IntPtr[count];
            var error = new ErrorDetail();
            int status;
            fixed (byte* b = bytes)
            fixed (IntPtr* p = pointers)
            fixed (UIntPtr* l = lengths)
            fixed (float* output = flat)
            {
                for (int i = 0; i < count; i++) p[i] = (IntPtr)(b + offsets[i]);
                if (promptName == null)
                {
                    status = Native.ns_embed_batch(_handle, p, l, (UIntPtr)count, output, (UIntPtr)flat.Length, ref error);
                }
                else
                {
                    using (var arena = new Utf8Arena())
                    {
                        status = Native.ns_embed_batch_with_prompt(_handle, arena.String(promptName), p, l, (UIntPtr)count,
                                                                   output, (UIntPtr)flat.Length, ref error);
                    }
                }
            }
            Native.Check(status, ref error);

            var vectors = new float[count][];
            for (int i = 0; i < count; i++)
            {
                vectors[i] = new float[dimension];
                Array.Copy(flat, i * dimension, vectors[i], 0, dimension);
            }
            return vectors;
        }

        /// <summary>Embed one text.</summary>
        public float[] Embed(string text)
        {
            return Embed(text, null);
        }

        /// <summary>Embed one text with the model's prompt named <paramref name="promptName"/>
        /// (null: the embedder's own).</summary>
        public float[] Embed(string text, string promptName)
        {
            if (text == null) throw new ArgumentNullException("text");
            return Embed(new[] { text }, promptName)[0];
        }

        /// <summary>
        /// <see cref="Embed(IReadOnlyList{string})"/> on a thread-pool thread. The token is checked
        /// before the work starts; a batch that has started runs to its end (embedding calls are
        /// short and not interruptible in the C API).
        /// </summary>
        public Task<float[][]> EmbedAsync(IReadOnlyList<string> texts, CancellationToken cancellationToken = default(CancellationToken))
        {
            if (texts == null) throw new ArgumentNullException("texts");
            ThrowIfDisposed();
            return Task.Run(() => Embed(texts), cancellationToken);
        }

        /// <summary><see cref="Embed(IReadOnlyList{string}, string)"/> on a thread-pool thread.</summary>
        public Task<float[][]> EmbedAsync(IReadOnlyList<string> texts, string promptName,
                                          CancellationToken cancellationToken = default(CancellationToken))
        {
            if (texts == null) throw new ArgumentNullException("texts");
            ThrowIfDisposed();
            return Task.Run(() => Embed(texts, promptName), cancellationToken);
        }

        /// <summary>Free the native model. Idempotent; later calls throw ObjectDisposedException.</summary>
        public void Dispose()
        {
            _handle.Dispose();
        }

        private void ThrowIfDisposed()
        {
            if (_handle.IsClosed) throw new ObjectDisposedException(GetType().FullName);
        }

        internal static uint Unsigned(int value, string name)
        {
            if (value < 0) throw new ArgumentOutOfRangeException(name, value, name + " must not be negative (0 means the default)");
            return (uint)value;
        }
    }
}
