using System;

namespace NodeSpace
{
    /// <summary>The library's status codes (ns_status, NS_ERR_*). Values are append-only.</summary>
    public enum NodeSpaceStatus
    {
        Ok = 0,
        /// <summary>An argument is out of range or inconsistent.</summary>
        InvalidArgument = 1,
        /// <summary>A required pointer argument is NULL (a bug in the binding when seen from C#).</summary>
        NullPointer = 2,
        /// <summary>A text argument is not valid UTF-8.</summary>
        InvalidUtf8 = 3,
        /// <summary>A caller-provided output buffer is too small.</summary>
        BufferTooSmall = 4,
        /// <summary>An options struct's size is not one the library knows (binding and library versions differ).</summary>
        StructSize = 5,
        /// <summary>A model folder or a file it needs does not exist; the message has the path.</summary>
        ModelNotFound = 6,
        /// <summary>A model file exists but cannot be used (corrupt, or the wrong kind of model).</summary>
        ModelInvalid = 7,
        /// <summary>The tokenizer could not be loaded or failed on an input.</summary>
        Tokenizer = 8,
        /// <summary>The ONNX Runtime shared library could not be found or loaded; the message lists where it looked.</summary>
        RuntimeNotFound = 9,
        /// <summary>ONNX Runtime reported an error.</summary>
        Runtime = 10,
        /// <summary>The operation was cancelled.</summary>
        Cancelled = 11,
        /// <summary>The input does not fit the model's context window.</summary>
        ContextOverflow = 12,
        /// <summary>The request needs something this build, runtime or model does not support.</summary>
        Unsupported = 13,
        /// <summary>The model's chat template failed to parse or render.</summary>
        Template = 14,
        /// <summary>Reading or writing a file failed.</summary>
        Io = 15,
        /// <summary>A bug in nodespace (an internal panic was caught). Please report it.</summary>
        Internal = 16,
    }

    /// <summary>Execution device (NS_DEVICE_*).</summary>
    public enum Device
    {
        /// <summary>The platform accelerator when this build and runtime have it, else CPU.
        /// The model's Info says which provider really runs and why it fell back.</summary>
        Auto = 0,
        Cpu = 1,
        CoreML = 2,
        DirectML = 3,
        Cuda = 4,
    }

    /// <summary>Pooling of token vectors into one sentence vector (NS_POOLING_*).</summary>
    public enum Pooling
    {
        /// <summary>As the model folder says (1_Pooling/config.json; mean when absent).</summary>
        Default = 0,
        Mean = 1,
        Cls = 2,
        LastToken = 3,
        Max = 4,
        /// <summary>Only in <see cref="EmbedderInfo.Pooling"/>: the graph pools itself.</summary>
        InGraph = 5,
    }

    /// <summary>How the next token is chosen (NS_SAMPLING_*).</summary>
    public enum Sampling
    {
        /// <summary>As the model's generation_config.json says (greedy unless it sets do_sample).</summary>
        ModelDefault = 0,
        /// <summary>Always the most likely token (reproducible).</summary>
        Greedy = 1,
        /// <summary>The request's Temperature / TopK / TopP / MinP / Seed.</summary>
        Custom = 2,
    }

    /// <summary>Why a generation ended (NS_STOP_*).</summary>
    public enum StopReason
    {
        /// <summary>The generation failed before it started.</summary>
        None = 0,
        /// <summary>The model produced an end-of-sequence token, or the text completed the
        /// request's constraint (nothing but end of sequence could follow).</summary>
        EndOfSequence = 1,
        /// <summary>MaxNewTokens were generated.</summary>
        MaxTokens = 2,
        /// <summary>A stop string was produced (and not emitted).</summary>
        StopString = 3,
        /// <summary>The model's context window is full.</summary>
        ContextFull = 4,
        /// <summary>Cancelled.</summary>
        Cancelled = 5,
    }

    /// <summary>Log levels (NS_LOG_*), most severe first.</summary>
    public enum LogLevel
    {
        Error = 1,
        Warn = 2,
        Info = 3,
        Debug = 4,
    }

    /// <summary>
    /// A failed nodespace call: the library's status and its message (which names the problem,
    /// and the path when a file is involved).
    /// </summary>
    public class NodeSpaceException : Exception
    {
        public NodeSpaceException(NodeSpaceStatus status, string message)
            : base(NodeSpaceRuntime.StatusName(status) + ": " + message)
        {
            Status = status;
            NativeMessage = message;
        }

        /// <summary>The status the library returned.</summary>
        public NodeSpaceStatus Status { get; private set; }

        /// <summary>The C name of the status, e.g. "NS_ERR_MODEL_NOT_FOUND".</summary>
        public string StatusName { get { return NodeSpaceRuntime.StatusName(Status); } }

        /// <summary>The library's message alone (<see cref="Exception.Message"/> is "STATUS: message").</summary>
        public string NativeMessage { get; private set; }
    }
}
