// Tests of the C# binding, compiled with Mono's mcs against build/NodeSpace.dll and run with mono
// (see ../test.sh). Usage: mono NodeSpace.Tests.exe REPO_ROOT [NAME_FILTER]
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace NodeSpace.Tests
{
    internal static partial class Program
    {
        private static string s_root;
        private static bool s_runtimeLoaded;
        private static readonly string[] s_embedders = { "embed-bert", "embed-bert-nott", "embed-pooled", "embed-decoder" };

        private static string Tiny(string name) { return Path.Combine(s_root, "models", "tiny", name); }

        private static object Expected(string name)
        {
            return Json.Parse(File.ReadAllText(Path.Combine(Tiny(name), "expected.json"), Encoding.UTF8));
        }

        private static int Main(string[] args)
        {
            if (args.Length == 3 && args[0] == "--child") return ChildMain(args[1], Path.GetFullPath(args[2]));
            s_root = Path.GetFullPath(args.Length > 0 ? args[0] : ".");
            T.Filter = args.Length > 1 ? args[1] : null;
            T.StartWatchdog();
            Console.WriteLine("nodespace C# binding tests; repo " + s_root + "; CLR " + Environment.Version);

            RuntimeTests();
            if (!s_runtimeLoaded && T.Filter != null)
            {
                // The filter left out the test that loads ONNX Runtime: load it here, untested.
                try
                {
                    NodeSpaceRuntime.Initialize(Environment.GetEnvironmentVariable("NS_ONNXRUNTIME_PATH"));
                    s_runtimeLoaded = NodeSpaceRuntime.OnnxRuntimeVersion.Length > 0;
                }
                catch (NodeSpaceException e)
                {
                    Console.WriteLine(e.Message);
                }
            }
            if (!s_runtimeLoaded)
            {
                // Every other test would fail with the same message.
                Console.WriteLine("ONNX Runtime could not be loaded (set NS_ONNXRUNTIME_PATH to libonnxruntime): the other tests need it");
                Console.WriteLine(T.Passed + " passed, " + Math.Max(T.Failed, 1) + " failed");
                return 1;
            }
            EmbeddingTests();
            ErrorTests();
            DisposeTests();
            GenerationTests();
            RealModelTests();

            Console.WriteLine();
            if (T.Skipped > 0) Console.WriteLine(T.Skipped + " skipped (see SKIPPED lines above)");
            Console.WriteLine(T.Passed + " passed, " + T.Failed + " failed");
            return T.Failed == 0 ? 0 : 1;
        }

        /// <summary>This test program again, in a fresh process: `--child SCENARIO ROOT`.</summary>
        private static string RunChild(string scenario)
        {
            string runtime = System.Diagnostics.Process.GetCurrentProcess().MainModule.FileName; // mono
            string exe = typeof(Program).Assembly.Location;
            return T.Run(runtime, "--debug " + T.Quote(exe) + " --child " + scenario + " " + T.Quote(s_root)).Replace("\r", "");
        }

        /// <summary>
        /// The scenarios run by <see cref="RunChild"/>, in a process where ONNX Runtime is not loaded
        /// yet. Prints "FAILED STATUS message" for each expected failure, then what worked.
        /// "load": bad Initialize paths, then a model load searches as usual (NS_ONNXRUNTIME_PATH).
        /// "init": a bad Initialize, then Initialize with NS_ONNXRUNTIME_PATH.
        /// </summary>
        private static int ChildMain(string scenario, string root)
        {
            s_root = root;
            Action<Action> expectFailure = body =>
            {
                try
                {
                    body();
                    Console.WriteLine("UNEXPECTED success");
                }
                catch (NodeSpaceException e)
                {
                    Console.WriteLine("FAILED " + e.StatusName + " " + e.NativeMessage.Replace('\n', ' '));
                }
            };
            try
            {
                if (scenario == "load")
                {
                    expectFailure(() => NodeSpaceRuntime.Initialize("/etc/passwd"));
                    expectFailure(() => NodeSpaceRuntime.Initialize("/nonexistent/libonnxruntime.so"));
                    expectFailure(() => NodeSpaceRuntime.Initialize("/nonexistent/again/libonnxruntime.so"));
                    using (var embedder = Embedder.Load(new EmbedderOptions(Tiny("embed-bert"))))
                        Console.WriteLine("LOADED dimension " + embedder.Embed("hello").Length + ", ONNX Runtime " + NodeSpaceRuntime.OnnxRuntimeVersion);
                }
                else if (scenario == "init")
                {
                    expectFailure(() => NodeSpaceRuntime.Initialize("/nonexistent/libonnxruntime.so"));
                    NodeSpaceRuntime.Initialize(Environment.GetEnvironmentVariable("NS_ONNXRUNTIME_PATH"));
                    Console.WriteLine("OK ONNX Runtime " + NodeSpaceRuntime.OnnxRuntimeVersion);
                }
                else
                {
                    Console.WriteLine("unknown scenario " + scenario);
                    return 2;
                }
                return 0;
            }
            catch (Exception e)
            {
                Console.WriteLine("UNEXPECTED " + e);
                return 1;
            }
        }

        // ---- runtime -----------------------------------------------------------------------

        private static void RuntimeTests()
        {
            T.Test("runtime: versions", () =>
            {
                string version = NodeSpaceRuntime.Version;
                T.True(System.Text.RegularExpressions.Regex.IsMatch(version, @"^\d+\.\d+\.\d+"), "library version " + version);
                T.Equal(NodeSpaceRuntime.BindingAbiVersion, NodeSpaceRuntime.AbiVersion, "ABI version");
            });

            T.Test("runtime: Initialize with NS_ONNXRUNTIME_PATH, then the ONNX Runtime version", () =>
            {
                string path = Environment.GetEnvironmentVariable("NS_ONNXRUNTIME_PATH");
                NodeSpaceRuntime.Initialize(path); // null: the library searches
                string ort = NodeSpaceRuntime.OnnxRuntimeVersion;
                s_runtimeLoaded = true;
                T.True(System.Text.RegularExpressions.Regex.IsMatch(ort, @"^1\.\d+"), "ONNX Runtime version " + ort);
                // Idempotent with the same settings.
                NodeSpaceRuntime.Initialize(path);
            });

            T.Test("runtime: another ONNX Runtime path once loaded is InvalidArgument", () =>
            {
                // Only once ONNX Runtime is loaded: before that, the bad path would be taken (and
                // every later load would fail).
                T.True(NodeSpaceRuntime.OnnxRuntimeVersion.Length > 0, "ONNX Runtime loaded");
                var e = T.Throws<NodeSpaceException>(() => NodeSpaceRuntime.Initialize("/nonexistent/libonnxruntime.so"), "second path");
                T.Equal(NodeSpaceStatus.InvalidArgument, e.Status, "status");
            });

            T.Test("runtime: a failed Initialize changes nothing: the next Initialize or model load works (fresh processes)", () =>
            {
                // Each scenario in a fresh process: ONNX Runtime is loaded once per process, and
                // it must not be loaded yet.
                string load = RunChild("load");
                string[] lines = load.Split(new[] { '\n' }, StringSplitOptions.RemoveEmptyEntries);
                T.Equal(4, lines.Length, "child output lines: " + load);
                T.True(lines[0].StartsWith("FAILED NS_ERR_RUNTIME_NOT_FOUND ", StringComparison.Ordinal) && lines[0].Contains("/etc/passwd"), lines[0]);
                // The loader's own reason, not just "dlopen failed".
                if (File.Exists("/proc/self/maps")) /* Linux */ T.True(lines[0].Contains("invalid ELF header"), lines[0]);
                T.True(lines[1].StartsWith("FAILED NS_ERR_RUNTIME_NOT_FOUND ", StringComparison.Ordinal) && lines[1].Contains("/nonexistent/libonnxruntime.so"), lines[1]);
                T.True(lines[2].StartsWith("FAILED NS_ERR_RUNTIME_NOT_FOUND ", StringComparison.Ordinal) && lines[2].Contains("/nonexistent/again/libonnxruntime.so"), lines[2]);
                T.True(System.Text.RegularExpressions.Regex.IsMatch(lines[3], @"^LOADED dimension 32, ONNX Runtime 1\.\d+"), lines[3]);
                string init = RunChild("init");
                T.True(System.Text.RegularExpressions.Regex.IsMatch(init, @"^FAILED NS_ERR_RUNTIME_NOT_FOUND [^\n]*\nOK ONNX Runtime 1\.\d+"), init);
            });

            T.Test("runtime: option struct layouts match the library's sizes", () =>
            {
                string[] names = { "ns_embedder_options", "ns_generator_options", "ns_generate_request", "ns_runtime_options" };
                int[][] sizes = Native.LibraryStructSizes();
                for (int i = 0; i < names.Length; i++) T.Equal(sizes[i][0], sizes[i][1], names[i] + ": library size vs C# size");
            });

            T.Test("runtime: C# structs and P/Invokes follow include/nodespace.h (fields in order, every function)", () =>
            {
                string header = File.ReadAllText(Path.Combine(s_root, "include", "nodespace.h"));
                var structs = new Dictionary<string, Type>
                {
                    { "ns_embedder_options", typeof(EmbedderOptionsNative) }, { "ns_embedder_info", typeof(EmbedderInfoNative) },
                    { "ns_generator_options", typeof(GeneratorOptionsNative) }, { "ns_generator_info", typeof(GeneratorInfoNative) },
                    { "ns_chat_message", typeof(ChatMessageNative) }, { "ns_generate_request", typeof(GenerateRequestNative) },
                    { "ns_generation_stats", typeof(GenerationStatsNative) }, { "ns_runtime_options", typeof(RuntimeOptionsNative) },
                };
                foreach (var pair in structs)
                {
                    var body = System.Text.RegularExpressions.Regex.Match(header, "typedef struct " + pair.Key + @" \{(.*?)\} " + pair.Key + ";",
                                                                           System.Text.RegularExpressions.RegexOptions.Singleline);
                    T.True(body.Success, pair.Key + " in the header");
                    string code = System.Text.RegularExpressions.Regex.Replace(body.Groups[1].Value, @"/\*.*?\*/", "", System.Text.RegularExpressions.RegexOptions.Singleline);
                    var fields = System.Text.RegularExpressions.Regex.Matches(code, @"(\w+)\s*;").Cast<System.Text.RegularExpressions.Match>()
                                       .Select(m => m.Groups[1].Value).ToArray();
                    var ours = pair.Value.GetFields().OrderBy(f => (long)System.Runtime.InteropServices.Marshal.OffsetOf(pair.Value, f.Name)).Select(f => f.Name).ToArray();
                    T.Equal(string.Join(",", fields), string.Join(",", ours), pair.Key + " fields");
                }
                var declared = new HashSet<string>(typeof(Native).GetMethods(System.Reflection.BindingFlags.Static | System.Reflection.BindingFlags.NonPublic)
                    .Where(m => m.GetCustomAttributes(typeof(System.Runtime.InteropServices.DllImportAttribute), false).Length > 0).Select(m => m.Name));
                var functions = System.Text.RegularExpressions.Regex.Matches(header, @"\b(ns_\w+)\(").Cast<System.Text.RegularExpressions.Match>()
                                      .Select(m => m.Groups[1].Value).Distinct().ToArray();
                T.True(functions.Length > 20, "functions found in the header");
                foreach (string f in functions) T.True(declared.Contains(f), f + " has a P/Invoke declaration");
                T.True(header.Contains("#define NS_ABI_VERSION " + NodeSpaceRuntime.BindingAbiVersion + "\n"), "NS_ABI_VERSION");
                T.True(header.Contains("#define NS_ERROR_DETAIL_CAPACITY " + ErrorDetail.Capacity + "\n"), "NS_ERROR_DETAIL_CAPACITY");
            });

            T.Test("runtime: status names agree with ns_status_string", () =>
            {
                for (int s = 0; s <= 16; s++)
                    T.Equal(Utf8.FromNative(Native.ns_status_string(s)), NodeSpaceRuntime.StatusName((NodeSpaceStatus)s), "status " + s);
                T.Equal("NS_ERR_MODEL_NOT_FOUND", NodeSpaceRuntime.StatusName(NodeSpaceStatus.ModelNotFound), "name");
                T.Equal("NS_ERR_UNKNOWN", NodeSpaceRuntime.StatusName((NodeSpaceStatus)999), "unknown status");
            });

            T.Test("runtime: a panic inside the library comes back as NS_ERR_INTERNAL (its panic message on stderr is expected)", () =>
            {
                T.Equal((int)NodeSpaceStatus.Internal, Native.ns_debug_trigger_panic(), "status");
                string message = Utf8.FromNative(Native.ns_last_error_message());
                T.True(message.Contains("ns_debug_trigger_panic"), "message: " + message);
            });

            T.Test("runtime: log handler receives the library's messages", () =>
            {
                var messages = new List<string>();
                NodeSpaceRuntime.SetLogHandler((level, message) => { lock (messages) messages.Add(level + " " + message); }, LogLevel.Debug);
                try
                {
                    using (Embedder.Load(new EmbedderOptions(Tiny("embed-bert")))) { }
                }
                finally
                {
                    NodeSpaceRuntime.SetLogHandler(null);
                }
                lock (messages) T.True(messages.Count > 0, "no log messages while loading a model");
                int count;
                lock (messages) count = messages.Count;
                using (Embedder.Load(new EmbedderOptions(Tiny("embed-bert")))) { }
                lock (messages) T.Equal(count, messages.Count, "messages after the handler was removed");
            });
        }

        // ---- embeddings --------------------------------------------------------------------

        private static void AssertClose(string what, float[][] want, float[][] got, float tolerance)
        {
            T.Equal(want.Length, got.Length, what + ": vector count");
            for (int i = 0; i < want.Length; i++)
            {
                float diff = T.MaxAbsDiff(want[i], got[i]);
                T.True(diff <= tolerance, what + ": text " + i + " differs from the reference by " + diff);
            }
        }

        private static void EmbeddingTests()
        {
            foreach (string name in s_embedders)
            {
                string model = name;
                T.Test("embed: " + model + " matches expected.json within 2e-5 and reports its settings", () =>
                {
                    object expected = Expected(model);
                    List<string> texts = Json.Strings(Json.Get(expected, "texts"));
                    float[][] want = Json.Matrix(Json.Get(expected, "embeddings"));
                    using (var embedder = Embedder.Load(new EmbedderOptions(Tiny(model))))
                    {
                        EmbedderInfo info = embedder.Info;
                        T.Equal((int)(double)Json.Get(expected, "dimension"), embedder.Dimension, "dimension");
                        T.Equal(embedder.Dimension, info.Dimension, "info dimension");
                        T.Equal((int)(double)Json.Get(expected, "max_length"), info.MaxLength, "max length");
                        T.Equal(true, info.Normalize, "normalize");
                        T.Equal("CPUExecutionProvider", info.Provider, "provider");
                        T.True(info.FallbackReason != null, "auto on a CPU-only runtime says why it fell back");
                        string file = ((string)Json.Get(expected, "model_file")).Replace('/', Path.DirectorySeparatorChar);
                        T.True(info.ModelFile.EndsWith(file, StringComparison.Ordinal), "model file " + info.ModelFile + " ends with " + file);
                        Pooling pooling = Json.Get(expected, "embedding_source") as string == "sentence_embedding" ? Pooling.InGraph
                            : ParsePooling((string)Json.Get(expected, "pooling"));
                        T.Equal(pooling, info.Pooling, "pooling");

                        float[][] got = embedder.Embed(texts);
                        AssertClose(model, want, got, 2e-5f);
                        foreach (float[] v in got) T.True(Math.Abs(T.Norm(v) - 1) < 1e-5, "unit norm");
                    }
                });
            }

            T.Test("embed: variant \"quantized\" loads model_quantized.onnx and matches its reference", () =>
            {
                object expected = Expected("embed-bert");
                List<string> texts = Json.Strings(Json.Get(expected, "texts"));
                float[][] want = Json.Matrix(Json.Get(Json.Get(Json.Get(expected, "variants"), "onnx/model_quantized.onnx"), "embeddings"));
                using (var embedder = Embedder.Load(new EmbedderOptions(Tiny("embed-bert")) { Variant = "quantized" }))
                {
                    T.True(embedder.Info.ModelFile.EndsWith("model_quantized.onnx", StringComparison.Ordinal), embedder.Info.ModelFile);
                    // The reference embeds one text per run: dynamic int8 quantization scales
                    // activations over the whole batch, so batched vectors move slightly.
                    AssertClose("quantized", want, texts.Select(t => embedder.Embed(t)).ToArray(), 2e-5f);
                    float[][] batched = embedder.Embed(texts);
                    for (int i = 0; i < texts.Count; i++) T.True(T.Cosine(want[i], batched[i]) > 0.999, "batched int8 text " + i);
                }
            });

            T.Test("embed: PromptName query / passage match the prompted references", () =>
            {
                object expected = Expected("embed-bert-nott");
                List<string> texts = Json.Strings(Json.Get(expected, "texts"));
                foreach (string prompt in new[] { "query", "passage" })
                {
                    float[][] want = Json.Matrix(Json.Get(Json.Get(Json.Get(expected, "prompted"), prompt), "embeddings"));
                    using (var embedder = Embedder.Load(new EmbedderOptions(Tiny("embed-bert-nott")) { PromptName = prompt }))
                        AssertClose(prompt, want, embedder.Embed(texts), 2e-5f);
                }
            });

            T.Test("embed: Embed(texts, promptName) chooses the prompt per call with one loaded model", () =>
            {
                object expected = Expected("embed-bert-nott");
                List<string> texts = Json.Strings(Json.Get(expected, "texts"));
                using (var plain = Embedder.Load(new EmbedderOptions(Tiny("embed-bert-nott"))))
                using (var query = Embedder.Load(new EmbedderOptions(Tiny("embed-bert-nott")) { PromptName = "query" }))
                {
                    float[][] unprompted = plain.Embed(texts);
                    foreach (string prompt in new[] { "query", "passage" })
                    {
                        float[][] got = plain.Embed(texts, prompt);
                        AssertClose(prompt, Json.Matrix(Json.Get(Json.Get(Json.Get(expected, "prompted"), prompt), "embeddings")), got, 2e-5f);
                        // Replaces the embedder's own prompt (applied once): the same bits from either embedder.
                        T.True(T.BitwiseEqual(got, query.Embed(texts, prompt)), prompt + ": same bits whatever the embedder's own prompt");
                        T.True(T.BitwiseEqual(got, plain.EmbedAsync(texts, prompt).Result), prompt + ": async");
                    }
                    T.True(T.BitwiseEqual(new[] { plain.Embed(texts[0], "query") }, new[] { query.Embed(texts[0]) }), "one text");
                    T.True(T.BitwiseEqual(unprompted, plain.Embed(texts)), "the per-call prompt left the embedder's own alone");
                    var e = T.Throws<NodeSpaceException>(() => plain.Embed(texts, "document"), "unknown prompt");
                    T.Equal(NodeSpaceStatus.InvalidArgument, e.Status, "unknown prompt status");
                    T.True(e.Message.Contains("'document'") && e.Message.Contains("passage, query"), "message lists the prompts: " + e.Message);
                }
            });

            T.Test("embed: FailOnTruncation makes a text over MaxLength a ContextOverflow; the default truncates", () =>
            {
                string dir = Tiny("embed-bert");
                using (var cutting = Embedder.Load(new EmbedderOptions(dir) { MaxLength = 16 }))
                using (var strict = Embedder.Load(new EmbedderOptions(dir) { MaxLength = 16, FailOnTruncation = true }))
                {
                    string longText = string.Concat(Enumerable.Repeat("cat ", 40));
                    string first14 = string.Concat(Enumerable.Repeat("cat ", 14)); // + [CLS] and [SEP] = 16 tokens
                    T.True(T.BitwiseEqual(new[] { cutting.Embed(longText) }, new[] { cutting.Embed(first14) }), "truncated to 16 tokens");
                    T.True(T.BitwiseEqual(new[] { strict.Embed(first14) }, new[] { cutting.Embed(first14) }), "a text that fits");
                    var e = T.Throws<NodeSpaceException>(() => strict.Embed(new[] { "short", longText }), "long text");
                    T.Equal(NodeSpaceStatus.ContextOverflow, e.Status, "status");
                    T.True(e.Message.Contains("text 1 is 42 tokens") && e.Message.Contains("at most 16"), e.Message);
                }
            });

            T.Test("embed: options (output dimension, normalize, pooling, max length, batching)", () =>
            {
                List<string> texts = Json.Strings(Json.Get(Expected("embed-bert"), "texts"));
                string dir = Tiny("embed-bert");
                float[][] full;
                using (var e = Embedder.Load(new EmbedderOptions(dir))) full = e.Embed(texts);

                using (var e = Embedder.Load(new EmbedderOptions(dir) { OutputDimension = 16 }))
                {
                    T.Equal(16, e.Dimension, "output dimension");
                    float[][] cut = e.Embed(texts);
                    for (int i = 0; i < texts.Count; i++)
                    {
                        float[] prefix = full[i].Take(16).ToArray();
                        double norm = T.Norm(prefix);
                        float[] renormalized = prefix.Select(x => (float)(x / norm)).ToArray();
                        T.True(T.MaxAbsDiff(renormalized, cut[i]) < 1e-5, "Matryoshka cut of text " + i);
                    }
                }
                using (var e = Embedder.Load(new EmbedderOptions(dir) { Normalize = false }))
                {
                    T.Equal(false, e.Info.Normalize, "info normalize");
                    float[][] raw = e.Embed(texts);
                    T.True(raw.Any(v => Math.Abs(T.Norm(v) - 1) > 1e-3), "some vector is not unit length without normalization");
                    for (int i = 0; i < texts.Count; i++)
                    {
                        double norm = T.Norm(raw[i]);
                        T.True(T.MaxAbsDiff(raw[i].Select(x => (float)(x / norm)).ToArray(), full[i]) < 1e-5, "direction of text " + i);
                    }
                }
                using (var e = Embedder.Load(new EmbedderOptions(dir) { Pooling = Pooling.Cls, MaxLength = 4 }))
                {
                    T.Equal(Pooling.Cls, e.Info.Pooling, "pooling override");
                    T.Equal(4, e.Info.MaxLength, "max length override");
                }
                using (var e = Embedder.Load(new EmbedderOptions(dir) { BatchTokenBudget = 20, MaxBatchSize = 3, MaxSessions = 1, IntraThreads = 1, Device = Device.Cpu }))
                {
                    T.Equal(null, e.Info.FallbackReason, "no fallback when CPU is asked for");
                    AssertClose("small batches", full, e.Embed(texts), 1e-5f);
                }
            });

            T.Test("embed: single text, empty list, empty and odd texts, async", () =>
            {
                object expected = Expected("embed-bert");
                List<string> texts = Json.Strings(Json.Get(expected, "texts"));
                float[][] want = Json.Matrix(Json.Get(expected, "embeddings"));
                using (var e = Embedder.Load(new EmbedderOptions(Tiny("embed-bert"))))
                {
                    T.True(T.MaxAbsDiff(want[0], e.Embed(texts[0])) <= 2e-5f, "Embed(string)");
                    T.Equal(0, e.Embed(new string[0]).Length, "empty list");
                    T.Equal(32, e.Embed("").Length, "empty text");
                    // A lone surrogate is not valid Unicode: sent as U+FFFD, like .NET's marshalling.
                    float[] lone = e.Embed("a\uD800b");
                    T.True(T.MaxAbsDiff(lone, e.Embed("a\uFFFDb")) == 0, "lone surrogate -> U+FFFD");
                    T.Throws<ArgumentNullException>(() => e.Embed(new[] { "a", null }), "null text");
                    T.Throws<ArgumentNullException>(() => e.Embed((IReadOnlyList<string>)null), "null list");

                    float[][] sync = e.Embed(texts);
                    float[][] async = e.EmbedAsync(texts).Result;
                    T.True(T.BitwiseEqual(sync, async), "EmbedAsync == Embed");
                    var list = new List<string>(texts);
                    T.True(T.BitwiseEqual(sync, e.Embed(list)), "List<string> input");
                    var cancelled = new CancellationTokenSource();
                    cancelled.Cancel();
                    Task<float[][]> task = e.EmbedAsync(texts, cancelled.Token);
                    T.Throws<TaskCanceledException>(() => task.Wait(), "pre-cancelled EmbedAsync");
                    T.True(task.IsCanceled, "task is Canceled");
                }
                using (var e = Embedder.LoadAsync(new EmbedderOptions(Tiny("embed-bert"))).Result)
                    AssertClose("LoadAsync", want, e.Embed(texts), 2e-5f);
            });

            T.Test("embed: concurrent Embed from 6 threads gives bitwise-identical results", () =>
            {
                List<string> texts = Json.Strings(Json.Get(Expected("embed-decoder"), "texts"));
                using (var e = Embedder.Load(new EmbedderOptions(Tiny("embed-decoder")) { MaxSessions = 3 }))
                {
                    float[][] reference = e.Embed(texts);
                    int mismatches = 0, done = 0;
                    Exception failure = null;
                    var threads = new List<Thread>();
                    for (int t = 0; t < 6; t++)
                    {
                        int seed = t;
                        var thread = new Thread(() =>
                        {
                            try
                            {
                                for (int round = 0; round < 15; round++)
                                {
                                    // Rotate the batch so threads run different shapes at once.
                                    int shift = (seed + round) % texts.Count;
                                    var rotated = texts.Skip(shift).Concat(texts.Take(shift)).ToList();
                                    float[][] got = e.Embed(rotated);
                                    var back = got.Skip(texts.Count - shift).Concat(got.Take(texts.Count - shift)).ToArray();
                                    if (!T.BitwiseEqual(reference, back)) Interlocked.Increment(ref mismatches);
                                    Interlocked.Increment(ref done);
                                }
                            }
                            catch (Exception ex)
                            {
                                failure = ex;
                            }
                        });
                        threads.Add(thread);
                        thread.Start();
                    }
                    foreach (Thread thread in threads) thread.Join();
                    if (failure != null) throw failure;
                    T.Equal(90, done, "calls");
                    T.Equal(0, mismatches, "results that differ from the single-thread result");
                }
            });
        }

        private static Pooling ParsePooling(string name)
        {
            switch (name)
            {
                case "mean": return Pooling.Mean;
                case "cls": return Pooling.Cls;
                case "lasttoken": return Pooling.LastToken;
                case "max": return Pooling.Max;
                default: throw new Exception("unknown pooling " + name);
            }
        }

        // ---- errors ------------------------------------------------------------------------

        private static void ErrorTests()
        {
            T.Test("errors: missing model folder -> NS_ERR_MODEL_NOT_FOUND naming the path", () =>
            {
                string path = Path.Combine(s_root, "models", "tiny", "no-such-model");
                var e = T.Throws<NodeSpaceException>(() => Embedder.Load(new EmbedderOptions(path)), "missing folder");
                T.Equal(NodeSpaceStatus.ModelNotFound, e.Status, "status");
                T.Equal("NS_ERR_MODEL_NOT_FOUND", e.StatusName, "status name");
                T.True(e.NativeMessage.Contains(path), "message names the path: " + e.NativeMessage);
                T.True(e.Message.StartsWith("NS_ERR_MODEL_NOT_FOUND: ", StringComparison.Ordinal), "Message: " + e.Message);

                var g = T.Throws<NodeSpaceException>(() => Generator.Load(new GeneratorOptions(path)), "generator, missing folder");
                T.Equal(NodeSpaceStatus.ModelNotFound, g.Status, "generator status");
                T.True(g.NativeMessage.Contains(path), "generator message names the path: " + g.NativeMessage);
            });

            T.Test("errors: missing variant names the file it looked for", () =>
            {
                var e = T.Throws<NodeSpaceException>(() => Embedder.Load(new EmbedderOptions(Tiny("embed-bert")) { Variant = "nope" }), "variant");
                T.Equal(NodeSpaceStatus.ModelNotFound, e.Status, "status");
                T.True(e.NativeMessage.Contains("model_nope.onnx"), e.NativeMessage);
            });

            T.Test("errors: corrupt model file -> NS_ERR_MODEL_INVALID; error detail works on worker threads", () =>
            {
                string dir = Path.Combine(Path.GetTempPath(), "nodespace-csharp-corrupt-" + Guid.NewGuid().ToString("N"));
                Directory.CreateDirectory(dir);
                try
                {
                    foreach (string f in Directory.GetFiles(Tiny("embed-bert-nott")))
                        File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
                    File.WriteAllText(Path.Combine(dir, "model.onnx"), "this is not an ONNX graph");
                    // Through Task.Run: the message comes from ns_error_detail, not the thread-local one.
                    var e = T.Throws<NodeSpaceException>(() => Embedder.LoadAsync(new EmbedderOptions(dir)).Wait(), "corrupt model");
                    T.Equal(NodeSpaceStatus.ModelInvalid, e.Status, "status");
                    T.True(e.NativeMessage.Length > 0 && e.NativeMessage.Contains(dir), "message names the file: " + e.NativeMessage);
                }
                finally
                {
                    Directory.Delete(dir, true);
                }
            });

            T.Test("errors: an embedding model is not a generator (NS_ERR_MODEL_INVALID)", () =>
            {
                var e = T.Throws<NodeSpaceException>(() => Generator.Load(new GeneratorOptions(Tiny("embed-bert"))), "embedder as generator");
                T.Equal(NodeSpaceStatus.ModelInvalid, e.Status, "status: " + e.Message);
            });

            T.Test("errors: bad option values", () =>
            {
                var e = T.Throws<NodeSpaceException>(() => Embedder.Load(new EmbedderOptions(Tiny("embed-bert")) { Device = (Device)99 }), "device 99");
                T.Equal(NodeSpaceStatus.InvalidArgument, e.Status, "status");
                T.True(e.NativeMessage.Contains("99"), e.NativeMessage);
                e = T.Throws<NodeSpaceException>(() => Embedder.Load(new EmbedderOptions(Tiny("embed-bert")) { Pooling = Pooling.InGraph }), "pooling InGraph");
                T.Equal(NodeSpaceStatus.InvalidArgument, e.Status, "pooling status");
                T.Throws<ArgumentOutOfRangeException>(() => Embedder.Load(new EmbedderOptions(Tiny("embed-bert")) { MaxLength = -1 }), "negative");
                T.Throws<ArgumentNullException>(() => Embedder.Load(null), "null options");
                T.Throws<ArgumentNullException>(() => Embedder.Load(new EmbedderOptions()), "no model path");
                T.Throws<ArgumentNullException>(() => Generator.Load(new GeneratorOptions()), "no generator model path");
            });
        }

        // ---- dispose -----------------------------------------------------------------------

        private static void DisposeTests()
        {
            T.Test("dispose: use after Dispose throws ObjectDisposedException; Dispose is idempotent", () =>
            {
                var e = Embedder.Load(new EmbedderOptions(Tiny("embed-bert")));
                e.Embed("hello");
                e.Dispose();
                e.Dispose();
                T.Throws<ObjectDisposedException>(() => e.Embed("hello"), "Embed");
                T.Throws<ObjectDisposedException>(() => e.Embed(new[] { "a", "b" }), "Embed list");
                T.Throws<ObjectDisposedException>(() => { var x = e.Info; }, "Info");
                T.Throws<ObjectDisposedException>(() => { var x = e.Dimension; }, "Dimension");
                T.Throws<ObjectDisposedException>(() => e.EmbedAsync(new[] { "a" }), "EmbedAsync");
            });

            T.Test("dispose: Dispose while other threads embed is safe (they finish or get ObjectDisposedException)", () =>
            {
                List<string> texts = Json.Strings(Json.Get(Expected("embed-bert"), "texts"));
                var e = Embedder.Load(new EmbedderOptions(Tiny("embed-bert")));
                float[][] reference = e.Embed(texts);
                int ok = 0, disposed = 0, wrong = 0;
                Exception other = null;
                var threads = new List<Thread>();
                for (int t = 0; t < 4; t++)
                {
                    var thread = new Thread(() =>
                    {
                        var watch = System.Diagnostics.Stopwatch.StartNew();
                        while (watch.Elapsed < TimeSpan.FromSeconds(60))
                        {
                            try
                            {
                                if (T.BitwiseEqual(reference, e.Embed(texts))) Interlocked.Increment(ref ok);
                                else Interlocked.Increment(ref wrong);
                            }
                            catch (ObjectDisposedException)
                            {
                                Interlocked.Increment(ref disposed);
                                return;
                            }
                            catch (Exception ex)
                            {
                                other = ex;
                                return;
                            }
                        }
                    });
                    threads.Add(thread);
                    thread.Start();
                }
                while (Volatile.Read(ref ok) < 40 && other == null) Thread.Sleep(1);
                e.Dispose();
                foreach (Thread thread in threads) thread.Join();
                if (other != null) throw other;
                T.Equal(0, wrong, "wrong results");
                T.Equal(4, disposed, "every thread ended with ObjectDisposedException (ok " + ok + ")");
            });

            T.Test("dispose: the finalizer frees an embedder that was never disposed", () =>
            {
                WeakReference weak = LoadAndDrop();
                for (int i = 0; i < 5 && weak.IsAlive; i++)
                {
                    GC.Collect();
                    GC.WaitForPendingFinalizers();
                }
                T.True(!weak.IsAlive, "embedder collected");
            });
        }

        private static WeakReference LoadAndDrop()
        {
            var e = Embedder.Load(new EmbedderOptions(Tiny("embed-bert")));
            e.Embed("x");
            return new WeakReference(e);
        }
    }
}
