// Generation tests on the tiny decoders, and the real-model parity tests against the Rust CLI.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace NodeSpace.Tests
{
    internal static partial class Program
    {
        private static readonly string[] s_decoders = { "gen-llama", "gen-nopos", "gen-fp16kv", "gen-gemma", "gen-gemma-optimum", "gen-notemplate" };

        private static GenerationRequest Greedy(string prompt, int maxNewTokens)
        {
            return new GenerationRequest { Prompt = prompt, Sampling = Sampling.Greedy, MaxNewTokens = maxNewTokens };
        }

        /// <summary>
        /// Starts <paramref name="request"/> on <paramref name="g"/> with a slow consumer (15 ms per
        /// chunk, on the generation's own thread) and returns once its first chunk has come: it
        /// then holds a session for a couple of seconds.
        /// </summary>
        private static Task<GenerationResult> StartHoldingASession(Generator g, GenerationRequest request)
        {
            using (var first = new ManualResetEventSlim())
            {
                Task<GenerationResult> running = g.GenerateAsync(request, c => { first.Set(); Thread.Sleep(15); });
                T.True(first.Wait(TimeSpan.FromSeconds(60)), "the running generation started");
                return running;
            }
        }

        private static double MillisecondsBetween(long from, long to)
        {
            return (to - from) * 1000.0 / Stopwatch.Frequency;
        }

        /// <summary>The Rust CLI (target/release/examples/cli, or NS_CLI), the reference for texts.</summary>
        private static string Cli()
        {
            string cli = Environment.GetEnvironmentVariable("NS_CLI");
            if (string.IsNullOrEmpty(cli)) cli = Path.Combine(s_root, "target", "release", "examples", "cli");
            if (!File.Exists(cli)) throw new Exception("the reference CLI " + cli + " is missing: cargo build --release --example cli");
            return cli;
        }

        /// <summary>`cli generate --json` for a prompt or a (system?, user) chat.</summary>
        private static object CliGenerate(string model, GenerationRequest request, string variant = null)
        {
            var args = new StringBuilder("generate --model " + T.Quote(model) + " --greedy --json --max-new-tokens " + request.MaxNewTokens);
            if (variant != null) args.Append(" --variant " + variant);
            if (request.Prompt != null)
            {
                args.Append(" --prompt " + T.Quote(request.Prompt));
            }
            else
            {
                foreach (ChatMessage m in request.Messages)
                {
                    if (m.Role != "system" && m.Role != "user") throw new Exception("the CLI takes only a system and a user message");
                    args.Append(" --" + m.Role + " " + T.Quote(m.Content));
                }
            }
            return Json.Parse(T.Run(Cli(), args.ToString()).Trim());
        }

        /// <summary>Greedy chat replies (32 tokens at most) to each user prompt: the CLI's text and
        /// token count, streamed chunks that concatenate to the text.</summary>
        private static void ExpectCliTexts(GeneratorOptions options, params string[] prompts)
        {
            using (var g = Generator.Load(options))
            {
                T.True(g.Info.HasChatTemplate, options.ModelPath + " has a chat template");
                foreach (string prompt in prompts)
                {
                    GenerationRequest request = GenerationRequest.FromUser(prompt);
                    request.Sampling = Sampling.Greedy;
                    request.MaxNewTokens = 32;
                    var chunks = new List<string>();
                    GenerationResult result = Collect(g, request, chunks);
                    object cli = CliGenerate(options.ModelPath, request, options.Variant);
                    T.Equal((string)Json.Get(cli, "text"), result.Text, "text for '" + prompt + "'");
                    T.Equal(Json.Arr(Json.Get(cli, "tokens")).Count, result.GeneratedTokens, "token count for '" + prompt + "'");
                    T.Equal(result.Text, string.Concat(chunks), "chunks");
                }
            }
        }

        private static GenerationResult Collect(Generator g, GenerationRequest request, List<string> chunks)
        {
            return g.Generate(request, chunk => chunks.Add(chunk));
        }

        private static bool RequireRealModels()
        {
            return !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("NS_REQUIRE_REAL_MODELS"));
        }

        private static void GenerationTests()
        {
            var present = new List<string>();
            foreach (string name in s_decoders)
            {
                if (File.Exists(Path.Combine(Tiny(name), "expected.json"))) present.Add(name);
                else T.Skip("generate: " + name, "models/tiny/" + name + " is not there yet (models/make_tiny_decoders.py)");
            }

            foreach (string name in present)
            {
                string model = name;
                T.Test("generate: " + model + " greedy cases match expected.json (text, token counts; ids through the Rust CLI), chunks == text", () =>
                {
                    List<object> cases = Json.Arr(Json.Get(Expected(model), "cases"));
                    T.True(cases.Count > 0, "expected.json has cases");
                    using (var g = Generator.Load(new GeneratorOptions(Tiny(model))))
                    {
                        for (int i = 0; i < cases.Count; i++)
                        {
                            object c = cases[i];
                            int[] want = Json.Ints(Json.Get(c, "generated_ids"));
                            GenerationRequest request;
                            if (Json.Get(c, "messages") != null)
                            {
                                var messages = Json.Arr(Json.Get(c, "messages"))
                                    .Select(m => new ChatMessage((string)Json.Get(m, "role"), (string)Json.Get(m, "content"))).ToArray();
                                request = new GenerationRequest { Messages = messages };
                            }
                            else
                            {
                                request = new GenerationRequest { Prompt = (string)Json.Get(c, "prompt") };
                            }
                            request.Sampling = Sampling.Greedy;
                            request.MaxNewTokens = want.Length;
                            var chunks = new List<string>();
                            GenerationResult result = Collect(g, request, chunks);
                            string where = model + " case " + i;
                            T.Equal(Json.Ints(Json.Get(c, "prompt_ids")).Length, result.PromptTokens, where + ": prompt tokens");
                            T.Equal(want.Length, result.GeneratedTokens, where + ": generated tokens");
                            T.Equal(string.Concat(chunks), result.Text, where + ": chunks concatenated");
                            T.True(chunks.All(x => x.Length > 0), where + ": no empty chunk");
                            T.Equal((string)Json.Get(c, "generated_text"), result.Text, where + ": text of expected.json");
                            // The C API gives no token ids. The Rust CLI runs the same request through
                            // the same library and prints them: its ids must be expected.json's and
                            // its text ours. It replays raw prompts and (system?, user) chats only;
                            // a multi-turn chat is checked by its text above.
                            bool cliReplays = request.Messages == null || request.Messages.All(m => m.Role == "system" || m.Role == "user");
                            if (!cliReplays) continue;
                            object cli = CliGenerate(Tiny(model), request);
                            T.True(Json.Ints(Json.Get(cli, "tokens")).SequenceEqual(want), where + ": CLI token ids == expected.json");
                            T.Equal((string)Json.Get(cli, "text"), result.Text, where + ": text of the CLI");
                        }
                    }
                });
            }

            if (!present.Contains("gen-llama")) return;
            string llama = Tiny("gen-llama");

            T.Test("generate: info", () =>
            {
                using (var g = Generator.Load(new GeneratorOptions(llama)))
                {
                    GeneratorInfo info = g.Info;
                    T.True(info.HasChatTemplate, "gen-llama has a chat template");
                    T.True(info.Layers >= 1 && info.HeadDim > 0 && info.KvHeads > 0 && info.ContextLength > 0,
                           "layers " + info.Layers + ", kv heads " + info.KvHeads + ", head dim " + info.HeadDim + ", context " + info.ContextLength);
                    T.Equal("CPUExecutionProvider", info.Provider, "provider");
                    T.True(info.ModelFile.EndsWith(".onnx", StringComparison.Ordinal), info.ModelFile);
                }
                if (present.Contains("gen-notemplate"))
                    using (var g = Generator.Load(new GeneratorOptions(Tiny("gen-notemplate"))))
                        T.True(!g.Info.HasChatTemplate, "gen-notemplate has no chat template");
            });

            T.Test("generate: Generate, GenerateAsync and Stream agree; chunks concatenate to the text", () =>
            {
                using (var g = Generator.Load(new GeneratorOptions(llama)))
                {
                    GenerationRequest request = Greedy("naïve café 東京 🍕", 40);
                    var chunks = new List<string>();
                    GenerationResult sync = Collect(g, request, chunks);
                    T.True(sync.Text.Length > 0 && chunks.Count > 1, "some text in several chunks");
                    T.Equal(sync.Text, string.Concat(chunks), "chunks");
                    T.True(sync.StopReason == StopReason.MaxTokens || sync.StopReason == StopReason.EndOfSequence, "stop reason " + sync.StopReason);
                    T.True(sync.TotalMs > 0 && sync.PromptTokens > 0, "stats");
                    foreach (string c in chunks) T.True(c.IndexOf('\uFFFD') < 0 || sync.Text.IndexOf('\uFFFD') >= 0, "a chunk split a character");

                    var asyncChunks = new List<string>();
                    int callbackThread = -1;
                    GenerationResult async = g.GenerateAsync(request, c => { asyncChunks.Add(c); callbackThread = Thread.CurrentThread.ManagedThreadId; }).Result;
                    T.Equal(sync.Text, async.Text, "GenerateAsync text");
                    T.Equal(sync.Text, string.Concat(asyncChunks), "GenerateAsync chunks");
                    T.True(callbackThread != Thread.CurrentThread.ManagedThreadId, "GenerateAsync calls back on its worker thread");

                    var streamed = g.Stream(request).ToList();
                    T.Equal(sync.Text, string.Concat(streamed), "Stream");
                    T.Equal(chunks.Count, streamed.Count, "Stream chunk count");

                    GenerationResult none = g.Generate(request);
                    T.Equal(sync.Text, none.Text, "without a callback");

                    var chat = g.Generate(new GenerationRequest { Messages = new[] { ChatMessage.System("Be brief."), ChatMessage.User("hello") }, Sampling = Sampling.Greedy, MaxNewTokens = 8 });
                    T.True(chat.PromptTokens > 2, "chat prompt rendered with the template");
                }
            });

            T.Test("generate: stop strings end the text before them", () =>
            {
                using (var g = Generator.Load(new GeneratorOptions(llama)))
                {
                    GenerationResult full = g.Generate(Greedy("hello world", 24));
                    T.True(full.Text.Length >= 6, "reference text long enough: " + full.Text);
                    int start = full.Text.Length / 2;
                    if (char.IsLowSurrogate(full.Text[start])) start++;
                    string stop = full.Text.Substring(start, Math.Min(3, full.Text.Length - start));
                    if (char.IsHighSurrogate(stop[stop.Length - 1])) stop = full.Text.Substring(start, stop.Length + 1);
                    GenerationRequest request = Greedy("hello world", 24);
                    request.Stop = new[] { stop, "never-produced" };
                    var chunks = new List<string>();
                    GenerationResult r = Collect(g, request, chunks);
                    string prefix = full.Text.Substring(0, full.Text.IndexOf(stop, StringComparison.Ordinal));
                    T.Equal(StopReason.StopString, r.StopReason, "stop reason");
                    T.Equal(prefix, r.Text, "text before the stop string");
                    T.Equal(prefix, string.Concat(chunks), "chunks before the stop string");
                }
            });

            T.Test("generate: seeded sampling is reproducible; options reach the library", () =>
            {
                using (var g = Generator.Load(new GeneratorOptions(llama) { MaxSessions = 1, IntraThreads = 1, Device = Device.Cpu }))
                {
                    var r = new GenerationRequest
                    {
                        Prompt = "hello", MaxNewTokens = 20, Sampling = Sampling.Custom,
                        Temperature = 1.5f, TopP = 0.95f, TopK = 50, MinP = 0.01f, Seed = 42,
                        RepetitionPenalty = 1.1f, PresencePenalty = 0.1f, FrequencyPenalty = 0.1f,
                    };
                    string a = g.Generate(r).Text, b = g.Generate(r).Text;
                    T.Equal(a, b, "same seed, same text");
                    r.Temperature = float.NaN;
                    var e = T.Throws<NodeSpaceException>(() => g.Generate(r), "NaN temperature");
                    T.Equal(NodeSpaceStatus.InvalidArgument, e.Status, "status");
                    T.True(e.NativeMessage.Contains("temperature"), e.NativeMessage);
                }
            });

            T.Test("generate: prompt lookup (LookupMaxDraft, default 8) gives the greedy text of LookupMaxDraft 0 and counts its drafts", () =>
            {
                using (var g = Generator.Load(new GeneratorOptions(llama) { Device = Device.Cpu }))
                {
                    int drafted = 0;
                    // Repeated word pairs: the tiny decoder's output repeats their n-grams, so drafts are made.
                    foreach (var pair in new[] { "the fox", "1 2", "a b", "hello world", "x is", "to of" })
                    {
                        string prompt = pair + " " + pair + " " + pair;
                        GenerationResult fast = g.Generate(Greedy(prompt, 60));
                        GenerationRequest off = Greedy(prompt, 60);
                        off.LookupMaxDraft = 0;
                        GenerationResult plain = g.Generate(off);
                        T.Equal(plain.Text, fast.Text, prompt + ": same greedy text");
                        T.Equal(plain.GeneratedTokens, fast.GeneratedTokens, prompt + ": same token count");
                        T.Equal(0, plain.DraftedTokens, "no drafts with LookupMaxDraft 0");
                        T.True(fast.AcceptedTokens <= fast.DraftedTokens, "accepted " + fast.AcceptedTokens + " of " + fast.DraftedTokens);
                        drafted += fast.DraftedTokens;
                    }
                    T.True(drafted > 0, "drafts on prompts of repeated words");
                    GenerationRequest tooLong = Greedy("hello", 4);
                    tooLong.LookupMaxDraft = 65;
                    var e = T.Throws<NodeSpaceException>(() => g.Generate(tooLong), "LookupMaxDraft 65");
                    T.Equal(NodeSpaceStatus.InvalidArgument, e.Status, "status");
                    T.True(e.NativeMessage.Contains("max_draft 65"), e.NativeMessage);
                    tooLong.LookupMaxDraft = -1;
                    T.Throws<ArgumentOutOfRangeException>(() => g.Generate(tooLong), "LookupMaxDraft -1");
                }
            });

            // Structured output: the tiny model's random weights never write these by chance.
            T.Test("generate: constraints (JsonSchema, Regex, Grammar, Choices) give only what they accept; streaming and cancel hold", () =>
            {
                using (var g = Generator.Load(new GeneratorOptions(llama) { Device = Device.Cpu }))
                {
                    GenerationRequest r = Greedy("the fox the fox", 60);
                    r.JsonSchema = "{\"type\": \"object\", \"properties\": {\"ok\": {\"type\": \"boolean\"}}, \"required\": [\"ok\"], "
                        + "\"additionalProperties\": false, \"x-guidance\": {\"whitespace_flexible\": false}}";
                    GenerationResult json = g.Generate(r);
                    T.True(json.Text == "{\"ok\":true}" || json.Text == "{\"ok\":false}", json.Text);
                    T.Equal(StopReason.EndOfSequence, json.StopReason, "complete JSON ends the generation");
                    r = Greedy("hello", 60);
                    r.Regex = "20[0-9]{2}-[01][0-9]";
                    T.True(System.Text.RegularExpressions.Regex.IsMatch(g.Generate(r).Text, "^20[0-9]{2}-[01][0-9]$"), "regex");
                    r = Greedy("hello", 60);
                    r.Grammar = "start: (\"yes\" | \"no\") \"!\"";
                    string answer = g.Generate(r).Text;
                    T.True(answer == "yes!" || answer == "no!", answer);
                    r = Greedy("hello", 60);
                    r.Choices = new[] { "urgent", "later", "someday" };
                    var streamed = new StringBuilder();
                    GenerationResult label = g.Generate(r, c => streamed.Append(c));
                    T.True(Array.IndexOf(new[] { "urgent", "later", "someday" }, label.Text) >= 0, label.Text);
                    T.Equal(label.Text, streamed.ToString(), "chunks concatenate to the text");
                    using (var cts = new CancellationTokenSource())
                    {
                        r = Greedy("hello", 300);
                        r.Regex = "[a-z ]{1,300}";
                        int chunks = 0;
                        T.Throws<OperationCanceledException>(() => g.Generate(r, c => { if (++chunks == 2) cts.Cancel(); }, cts.Token), "cancelled");
                        T.True(chunks < 10, "stopped promptly (" + chunks + " chunks)");
                    }
                }
            });

            T.Test("generate: malformed constraints throw InvalidArgument naming the error; two at once are refused", () =>
            {
                using (var g = Generator.Load(new GeneratorOptions(llama) { Device = Device.Cpu }))
                {
                    GenerationRequest r = Greedy("hello", 10);
                    r.Regex = "ab(c";
                    var e = T.Throws<NodeSpaceException>(() => g.Generate(r), "bad regex");
                    T.Equal(NodeSpaceStatus.InvalidArgument, e.Status, "status");
                    T.True(e.NativeMessage.Contains("unclosed group"), e.NativeMessage);
                    r = Greedy("hello", 10);
                    r.JsonSchema = "{\"type\": \"string\", \"minLength\": 4, \"maxLength\": 1}";
                    e = T.Throws<NodeSpaceException>(() => g.Generate(r), "unsatisfiable schema");
                    T.True(e.NativeMessage.Contains("minLength"), e.NativeMessage);
                    r = Greedy("hello", 10);
                    r.Choices = new string[0];
                    e = T.Throws<NodeSpaceException>(() => g.Generate(r), "no choices");
                    T.True(e.NativeMessage.Contains("choice list is empty"), e.NativeMessage);
                    r.Regex = "a";
                    T.Throws<ArgumentException>(() => g.Generate(r), "two constraints");
                }
            });

            T.Test("generate: JsonSchemaFor<T> builds the schema from the public properties and Deserialize<T> reads the answer", () =>
            {
                string schema = JsonSchemas.For<TinyItem>();
                T.True(schema.Contains("\"Done\": {\"type\": \"boolean\"}") && schema.Contains("\"Count\": {\"anyOf\": [{\"type\": \"integer\"}, {\"type\": \"null\"}]}")
                    && schema.Contains("\"Tags\": {\"type\": \"array\", \"items\": {\"type\": \"string\"}}") && schema.Contains("\"required\": [\"Done\", \"Count\", \"Tags\"]"), schema);
                T.True(JsonSchemas.For<Named>().Contains("\"owner\": {\"type\": \"string\"}") && !JsonSchemas.For<Named>().Contains("Hidden"), JsonSchemas.For<Named>());
                T.Throws<ArgumentException>(() => JsonSchemas.For<Dictionary<string, int>>(), "dictionaries");
                T.Throws<ArgumentException>(() => JsonSchemas.For<Node>(), "recursive types");
                using (var g = Generator.Load(new GeneratorOptions(llama) { Device = Device.Cpu }))
                {
                    // Tags bounded by the tiny context: the schema's text, then a bound of our own.
                    GenerationRequest r = Greedy("the fox", 100);
                    r.JsonSchema = "{\"type\": \"object\", \"properties\": {\"Done\": {\"type\": \"boolean\"}, \"Count\": {\"anyOf\": [{\"type\": \"integer\", \"minimum\": 0, \"maximum\": 9}, {\"type\": \"null\"}]}, "
                        + "\"Tags\": {\"type\": \"array\", \"maxItems\": 1, \"items\": {\"type\": \"string\", \"maxLength\": 3}}}, \"required\": [\"Done\", \"Count\", \"Tags\"], \"additionalProperties\": false, \"x-guidance\": {\"whitespace_flexible\": false}}";
                    GenerationResult result = g.Generate(r);
                    T.Equal(StopReason.EndOfSequence, result.StopReason, result.Text);
                    TinyItem item = result.Deserialize<TinyItem>();
                    T.True(item.Tags != null && item.Tags.Count <= 1, result.Text);
                    T.True(item.Count == null || (item.Count >= 0 && item.Count <= 9), result.Text);
                    // The full schema from the type works as a constraint too.
                    GenerationRequest full = Greedy("the fox", 10).JsonSchemaFor<TinyItem>();
                    T.Equal(schema, full.JsonSchema, "JsonSchemaFor sets JsonSchema");
                    r = Greedy("the fox", 20);
                    r.Regex = "not json";
                    T.Throws<System.Runtime.Serialization.SerializationException>(() => g.Generate(r).Deserialize<TinyItem>(), "text that is not JSON");
                }
            });

            T.Test("generate: tools: ToolChoice.One gives one valid call in ToolCalls; a follow-up turn renders; errors are named", () =>
            {
                using (var g = Generator.Load(new GeneratorOptions(llama) { Device = Device.Cpu }))
                {
                    var tools = new[]
                    {
                        new ToolDefinition("add", "Add a task", "{\"type\": \"object\", \"properties\": {\"t\": {\"type\": \"string\", \"maxLength\": 2}}, \"required\": [\"t\"]}"),
                        new ToolDefinition("find", null, "{\"type\": \"object\", \"properties\": {\"n\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 9}}, \"required\": [\"n\"]}"),
                    };
                    T.Equal(ToolSupport.Parsed, g.Info.Tools, "gen-llama renders and parses tools");
                    T.True(g.Info.LookupOffReason == null, "gen-llama's fp32 graph keeps lookup on");
                    using (var int8 = Generator.Load(new GeneratorOptions(Tiny("gen-llama")) { Variant = "quantized" }))
                    {
                        T.True((int8.Info.LookupOffReason ?? "").Contains("DynamicQuantizeLinear"),
                            "the dynamic int8 graph keeps lookup off: " + int8.Info.LookupOffReason);
                    }
                    GenerationRequest r = GenerationRequest.FromUser("find 3");
                    r.Sampling = Sampling.Greedy;
                    r.MaxNewTokens = 100;
                    r.Tools = tools;
                    r.ToolChoice = ToolChoice.One;
                    var streamed = new StringBuilder();
                    GenerationResult result = g.Generate(r, c => streamed.Append(c));
                    T.Equal(StopReason.EndOfSequence, result.StopReason, result.Text);
                    T.Equal(1, result.ToolCalls.Count, result.Text);
                    T.Equal(result.Text, streamed.ToString(), "chunks concatenate to the text");
                    ToolCall call = result.ToolCalls[0];
                    if (call.Name == "find") T.True(call.Arguments<FindArguments>().n >= 1 && call.Arguments<FindArguments>().n <= 9, call.ArgumentsJson);
                    else T.True(call.Name == "add" && call.Arguments<AddArguments>().t.Length <= 2, call.ArgumentsJson);
                    // Streamed under the constraint, and cancelled.
                    var chunks = new List<string>(g.Stream(r));
                    T.True(string.Concat(chunks).StartsWith("<tool_call>"), string.Concat(chunks));
                    using (var cts = new CancellationTokenSource())
                    {
                        r.ToolChoice = ToolChoice.Required;
                        int n = 0;
                        T.Throws<OperationCanceledException>(() => g.Generate(r, c => { if (++n == 2) cts.Cancel(); }, cts.Token), "cancelled");
                    }
                    // The follow-up turn: the call and its result.
                    var followUp = GenerationRequest.FromMessages(ChatMessage.System("s"), ChatMessage.User("add ab"),
                        ChatMessage.AssistantToolCalls(new[] { new ToolCall("add", "{\"t\": \"ab\"}", "c1") }), ChatMessage.Tool("ok", "c1"));
                    followUp.Sampling = Sampling.Greedy;
                    followUp.MaxNewTokens = 4;
                    T.True(g.Generate(followUp).PromptTokens > 30, "the follow-up renders");
                    // Errors.
                    r = GenerationRequest.FromUser("x");
                    r.ToolsJson = "[{\"type\": \"function\"}]";
                    var e = T.Throws<NodeSpaceException>(() => g.Generate(r), "a tool without a name");
                    T.True(e.NativeMessage.Contains("tool 0 has no name"), e.NativeMessage);
                    r.Tools = tools;
                    T.Throws<ArgumentException>(() => g.Generate(r), "Tools and ToolsJson");
                    r.ToolsJson = null;
                    r.Prompt = "raw";
                    r.Messages = null;
                    e = T.Throws<NodeSpaceException>(() => g.Generate(r), "tools with a raw prompt");
                    T.True(e.NativeMessage.Contains("chat messages"), e.NativeMessage);
                }
                using (var gemma = Generator.Load(new GeneratorOptions(Tiny("gen-gemma")) { Device = Device.Cpu }))
                {
                    T.Equal(ToolSupport.None, gemma.Info.Tools, "Gemma 3's template renders no tools");
                    GenerationRequest r = GenerationRequest.FromUser("x");
                    r.ToolsJson = "[{\"name\": \"f\"}]";
                    var e = T.Throws<NodeSpaceException>(() => gemma.Generate(r), "a template without tools");
                    T.Equal(NodeSpaceStatus.Unsupported, e.Status, "status");
                }
            });

            T.Test("generate: ToolDefinition.For<T> takes its parameters from T", () =>
            {
                string json = ToolDefinition.For<FindArguments>("find", "Find notes").ToJson();
                T.Equal("{\"type\": \"function\", \"function\": {\"name\": \"find\", \"description\": \"Find notes\", \"parameters\": "
                    + "{\"type\": \"object\", \"properties\": {\"n\": {\"type\": \"integer\"}}, \"required\": [\"n\"], \"additionalProperties\": false}}}", json, "definition");
            });

            T.Test("generate: CancellationToken cancelled in the callback stops the native generation", () =>
            {
                using (var g = Generator.Load(new GeneratorOptions(llama)))
                using (var cts = new CancellationTokenSource())
                {
                    var chunks = new List<string>();
                    var e = T.Throws<OperationCanceledException>(() => g.Generate(Greedy("hello", 60), c =>
                    {
                        chunks.Add(c);
                        if (chunks.Count == 3) cts.Cancel();
                    }, cts.Token), "cancelled");
                    T.Equal(cts.Token, e.CancellationToken, "the exception carries the token");
                    T.True(chunks.Count >= 3 && chunks.Count < 10, "stopped promptly after the 3rd chunk (" + chunks.Count + " chunks)");
                }
            });

            T.Test("generate: CancellationToken cancelled from another thread cancels GenerateAsync", () =>
            {
                using (var g = Generator.Load(new GeneratorOptions(llama)))
                using (var cts = new CancellationTokenSource())
                using (var first = new ManualResetEventSlim())
                {
                    int count = 0;
                    Task<GenerationResult> task = g.GenerateAsync(Greedy("hello", 100), c =>
                    {
                        Interlocked.Increment(ref count);
                        first.Set();
                        Thread.Sleep(20); // slow consumer: leaves time for the cancel to land mid-generation
                    }, cts.Token);
                    T.True(first.Wait(TimeSpan.FromSeconds(60)), "first chunk");
                    cts.Cancel();
                    T.Throws<TaskCanceledException>(() => task.Wait(), "task");
                    T.True(task.IsCanceled, "task ends Canceled, status " + task.Status);
                    T.True(count < 100, "generation stopped early (" + count + " chunks)");
                }
            });

            T.Test("generate: already-cancelled token: nothing runs", () =>
            {
                using (var g = Generator.Load(new GeneratorOptions(llama)))
                {
                    var token = new CancellationToken(true);
                    int calls = 0;
                    T.Throws<OperationCanceledException>(() => g.Generate(Greedy("hello", 10), c => calls++, token), "Generate");
                    Task<GenerationResult> task = g.GenerateAsync(Greedy("hello", 10), c => calls++, token);
                    T.Throws<TaskCanceledException>(() => task.Wait(), "GenerateAsync");
                    T.True(task.IsCanceled, "Canceled");
                    T.Throws<OperationCanceledException>(() => g.Stream(Greedy("hello", 10), token).ToList(), "Stream");
                    T.Equal(0, calls, "callbacks");
                }
            });

            T.Test("generate: an exception in onChunk stops the generation and is rethrown", () =>
            {
                using (var g = Generator.Load(new GeneratorOptions(llama)))
                {
                    int calls = 0;
                    var e = T.Throws<InvalidOperationException>(() => g.Generate(Greedy("hello", 30), c =>
                    {
                        calls++;
                        throw new InvalidOperationException("boom");
                    }), "sync");
                    T.Equal("boom", e.Message, "the caller's exception");
                    T.Equal(1, calls, "no callback after the exception");
                    calls = 0;
                    var task = g.GenerateAsync(Greedy("hello", 30), c => { calls++; throw new FormatException("bang"); });
                    T.Throws<FormatException>(() => task.Wait(), "async");
                    T.Equal(1, calls, "async callbacks");
                    // The generator is still usable.
                    T.True(g.Generate(Greedy("hello", 5)).GeneratedTokens > 0, "next generation");
                }
            });

            T.Test("generate: leaving a Stream loop early stops the generation", () =>
            {
                using (var g = Generator.Load(new GeneratorOptions(llama) { MaxSessions = 1 }))
                {
                    string full = g.Generate(Greedy("hello", 100)).Text;
                    var taken = new List<string>();
                    foreach (string chunk in g.Stream(Greedy("hello", 100)))
                    {
                        taken.Add(chunk);
                        if (taken.Count == 2) break;
                    }
                    T.True(full.StartsWith(string.Concat(taken), StringComparison.Ordinal), "the first chunks");
                    // With one session, this waits for the abandoned generation if it were still running.
                    T.Equal(full, g.Generate(Greedy("hello", 100)).Text, "the generator works after the early exit");
                    using (var cts = new CancellationTokenSource())
                    {
                        var got = new List<string>();
                        T.Throws<OperationCanceledException>(() =>
                        {
                            foreach (string chunk in g.Stream(Greedy("hello", 100), cts.Token))
                            {
                                got.Add(chunk);
                                if (got.Count == 2) cts.Cancel();
                            }
                        }, "Stream cancelled by its token");
                        T.True(got.Count < 50, "stopped (" + got.Count + " chunks)");
                    }
                }
            });

            // A cancel of a call that waits for a session (MaxSessions 1, another one running)
            // must end it promptly, not when the running one frees the session.
            T.Test("generate: cancelling a GenerateAsync queued behind a running one (MaxSessions 1) ends it within 50 ms; the running one is unaffected", () =>
            {
                using (var g = Generator.Load(new GeneratorOptions(llama) { MaxSessions = 1, IntraThreads = 1, Device = Device.Cpu }))
                {
                    GenerationRequest request = Greedy("hello world", 120);
                    GenerationResult solo = g.Generate(request);
                    T.Equal(120, solo.GeneratedTokens, "reference tokens");
                    Task<GenerationResult> running = StartHoldingASession(g, request);
                    using (var cts = new CancellationTokenSource())
                    {
                        int queuedChunks = 0;
                        Task<GenerationResult> queued = g.GenerateAsync(request, c => Interlocked.Increment(ref queuedChunks), cts.Token);
                        Thread.Sleep(100); // now waiting for the session inside the library
                        T.True(!running.IsCompleted && !queued.IsCompleted, "both still running before the cancel (else the test proves nothing)");
                        long cancelledAt = Stopwatch.GetTimestamp();
                        cts.Cancel();
                        try { queued.Wait(); } catch (AggregateException) { }
                        double ms = MillisecondsBetween(cancelledAt, Stopwatch.GetTimestamp());
                        bool runningLeft = !running.IsCompleted;
                        Console.WriteLine("     queued GenerateAsync ended " + ms.ToString("F1") + " ms after Cancel()");
                        T.True(ms < 50, "the queued GenerateAsync ended " + ms.ToString("F1") + " ms after Cancel() (bound 50 ms)");
                        T.True(runningLeft, "the queued GenerateAsync ended only after the running one");
                        T.True(queued.IsCanceled, "the queued task ends Canceled, status " + queued.Status);
                        T.Equal(0, Volatile.Read(ref queuedChunks), "chunks of the queued generation");
                    }
                    GenerationResult r = running.Result;
                    T.Equal(solo.Text, r.Text, "the running generation's text");
                    T.Equal(solo.GeneratedTokens, r.GeneratedTokens, "the running generation's tokens");
                    T.Equal(solo.Text, g.Generate(request).Text, "the session is free again");
                }
            });

            T.Test("generate: cancelling a Stream queued behind a running one ends the loop within 50 ms; nothing is left behind", () =>
            {
                int unobserved = 0;
                EventHandler<UnobservedTaskExceptionEventArgs> onUnobserved = (sender, e) => Interlocked.Increment(ref unobserved);
                TaskScheduler.UnobservedTaskException += onUnobserved;
                try
                {
                    using (var g = Generator.Load(new GeneratorOptions(llama) { MaxSessions = 1, IntraThreads = 1, Device = Device.Cpu }))
                    {
                        GenerationRequest request = Greedy("hello world", 120);
                        GenerationResult solo = g.Generate(request);
                        Task<GenerationResult> running = StartHoldingASession(g, request);
                        using (var cts = new CancellationTokenSource())
                        {
                            long cancelledAt = 0;
                            bool runningAtCancel = false;
                            // The loop blocks this thread in MoveNext: the cancel comes from another one.
                            var canceller = new Thread(() =>
                            {
                                Thread.Sleep(100); // the Stream's generation now waits for the session
                                runningAtCancel = !running.IsCompleted;
                                Volatile.Write(ref cancelledAt, Stopwatch.GetTimestamp());
                                cts.Cancel();
                            });
                            var got = new List<string>();
                            canceller.Start();
                            T.Throws<OperationCanceledException>(() =>
                            {
                                foreach (string chunk in g.Stream(request, cts.Token)) got.Add(chunk);
                            }, "the Stream loop");
                            long returnedAt = Stopwatch.GetTimestamp();
                            bool runningLeft = !running.IsCompleted;
                            canceller.Join();
                            double ms = MillisecondsBetween(Volatile.Read(ref cancelledAt), returnedAt);
                            Console.WriteLine("     queued Stream loop ended " + ms.ToString("F1") + " ms after Cancel()");
                            T.True(runningAtCancel, "the running generation was still running at the cancel (else the test proves nothing)");
                            T.True(ms < 50, "the queued Stream loop ended " + ms.ToString("F1") + " ms after Cancel() (bound 50 ms)");
                            T.True(runningLeft, "the queued Stream loop ended only after the running one");
                            T.Equal(0, got.Count, "chunks of the queued generation");
                        }
                        GenerationResult r = running.Result;
                        T.Equal(solo.Text, r.Text, "the running generation's text");
                        T.Equal(solo.GeneratedTokens, r.GeneratedTokens, "the running generation's tokens");
                        // The cancelled generation gave up its place: the only session serves the next call.
                        T.Equal(solo.Text, string.Concat(g.Stream(request)), "a Stream after it");
                    }
                    // The abandoned generation's task was observed (its OperationCanceledException
                    // is not an unobserved task exception when the task is collected).
                    GC.Collect();
                    GC.WaitForPendingFinalizers();
                    GC.Collect();
                    GC.WaitForPendingFinalizers();
                    T.Equal(0, Volatile.Read(ref unobserved), "unobserved task exceptions");
                }
                finally
                {
                    TaskScheduler.UnobservedTaskException -= onUnobserved;
                }
            });

            T.Test("generate: request validation and library errors", () =>
            {
                using (var g = Generator.Load(new GeneratorOptions(llama)))
                {
                    T.Throws<ArgumentException>(() => g.Generate(new GenerationRequest()), "neither prompt nor messages");
                    T.Throws<ArgumentException>(() => g.Generate(new GenerationRequest { Prompt = "a", Messages = new[] { ChatMessage.User("b") } }), "both");
                    T.Throws<ArgumentNullException>(() => g.Generate(null), "null request");
                    T.Throws<ArgumentNullException>(() => ChatMessage.User(null), "null content");
                    T.Throws<ArgumentException>(() => g.Generate(new GenerationRequest { Prompt = "a", Stop = new string[] { null } }), "null stop string");
                    // An empty stop string would match everywhere: the library refuses it, naming its index.
                    var empty = T.Throws<NodeSpaceException>(() => g.Generate(new GenerationRequest { Prompt = "a", MaxNewTokens = 4, Stop = new[] { "\n", "" } }), "empty stop string");
                    T.Equal(NodeSpaceStatus.InvalidArgument, empty.Status, "status");
                    T.True(empty.NativeMessage.Contains("stop string 1 is empty"), empty.NativeMessage);
                    empty = T.Throws<NodeSpaceException>(() => g.Stream(new GenerationRequest { Prompt = "a", MaxNewTokens = 4, Stop = new[] { "" } }).ToList(), "empty stop string, Stream");
                    T.Equal(NodeSpaceStatus.InvalidArgument, empty.Status, "Stream status");
                    T.True(empty.NativeMessage.Contains("stop string 0 is empty"), empty.NativeMessage);
                    string longPrompt = string.Concat(Enumerable.Repeat("x y ", g.Info.ContextLength));
                    var e = T.Throws<NodeSpaceException>(() => g.Generate(Greedy(longPrompt, 4)), "prompt longer than the context");
                    T.Equal(NodeSpaceStatus.ContextOverflow, e.Status, "status");
                }
                if (File.Exists(Path.Combine(Tiny("gen-notemplate"), "expected.json")))
                    using (var g = Generator.Load(new GeneratorOptions(Tiny("gen-notemplate"))))
                    {
                        var e = T.Throws<NodeSpaceException>(() => g.Generate(GenerationRequest.FromUser("hi")), "chat without template");
                        T.Equal(NodeSpaceStatus.Unsupported, e.Status, "status");
                        T.True(e.NativeMessage.Contains("chat template"), e.NativeMessage);
                        T.True(g.Generate(Greedy("hello", 4)).GeneratedTokens > 0, "raw prompt works");
                    }
            });

            T.Test("generate: a chat follow-up reuses the KV cache (ReusePrefix) with identical output", () =>
            {
                using (var with = Generator.Load(new GeneratorOptions(llama) { MaxSessions = 1 }))
                using (var without = Generator.Load(new GeneratorOptions(llama) { MaxSessions = 1, ReusePrefix = false }))
                {
                    var chat = new List<ChatMessage> { ChatMessage.User("hello there") };
                    GenerationResult first = with.Generate(new GenerationRequest { Messages = chat.ToArray(), Sampling = Sampling.Greedy, MaxNewTokens = 12 });
                    T.Equal(0, first.ReusedPromptTokens, "nothing to reuse at first");
                    chat.Add(ChatMessage.Assistant(first.Text));
                    chat.Add(ChatMessage.User("tell me more"));
                    var next = new GenerationRequest { Messages = chat.ToArray(), Sampling = Sampling.Greedy, MaxNewTokens = 12 };
                    GenerationResult reused = with.Generate(next);
                    GenerationResult fresh = without.Generate(next);
                    T.True(reused.ReusedPromptTokens > first.PromptTokens / 2, "reused " + reused.ReusedPromptTokens + " of " + reused.PromptTokens);
                    T.Equal(0, fresh.ReusedPromptTokens, "ReusePrefix = false");
                    T.Equal(fresh.Text, reused.Text, "same text either way");
                }
            });

            T.Test("generate: concurrent generations on one generator are independent", () =>
            {
                using (var g = Generator.Load(new GeneratorOptions(llama) { MaxSessions = 2 }))
                {
                    string solo = g.Generate(Greedy("hello", 20)).Text;
                    var tasks = Enumerable.Range(0, 4).Select(i => g.GenerateAsync(Greedy("hello", 20))).ToArray();
                    Task.WaitAll(tasks);
                    foreach (var t in tasks) T.Equal(solo, t.Result.Text, "concurrent text");
                }
            });

            T.Test("generate: Dispose during a generation is safe; later use throws ObjectDisposedException", () =>
            {
                var g = Generator.Load(new GeneratorOptions(llama));
                using (var first = new ManualResetEventSlim())
                {
                    string reference = g.Generate(Greedy("hello", 30)).Text;
                    Task<GenerationResult> running = g.GenerateAsync(Greedy("hello", 30), c => { first.Set(); Thread.Sleep(5); });
                    T.True(first.Wait(TimeSpan.FromSeconds(60)), "started");
                    g.Dispose();
                    T.Equal(reference, running.Result.Text, "the running generation finishes on the still-alive model");
                }
                g.Dispose();
                T.Throws<ObjectDisposedException>(() => g.Generate(Greedy("hello", 3)), "Generate");
                T.Throws<ObjectDisposedException>(() => g.GenerateAsync(Greedy("hello", 3)), "GenerateAsync");
                T.Throws<ObjectDisposedException>(() => g.Stream(Greedy("hello", 3)), "Stream");
                T.Throws<ObjectDisposedException>(() => { var x = g.Info; }, "Info");
            });
        }

        // ---- real models -------------------------------------------------------------------

        private static string Real(string name)
        {
            string dir = Environment.GetEnvironmentVariable("NS_REAL_MODELS");
            if (string.IsNullOrEmpty(dir)) dir = Path.Combine(s_root, "models", "real");
            return Path.Combine(dir, name);
        }

        private static bool RealPresent(string testName, string dir)
        {
            if (Directory.Exists(dir)) return true;
            if (RequireRealModels())
                T.Test(testName, () => { throw new Exception("NS_REQUIRE_REAL_MODELS is set but " + dir + " is missing"); });
            else
                T.Skip(testName, "real model " + dir + " is not installed (scripts/setup.sh installs it)");
            return false;
        }

        private static void RealModelTests()
        {
            string minilm = Real("all-MiniLM-L6-v2");
            foreach (string variant in new[] { null, "int8" })
            {
                string v = variant;
                string name = "real: all-MiniLM-L6-v2" + (v == null ? "" : " (" + v + ")") + " matches the Rust CLI (cosine >= 0.99999)";
                if (!RealPresent(name, minilm)) break;
                T.Test(name, () =>
                {
                    string[] texts =
                    {
                        "budget review moved to Friday", "The quarterly finance meeting was rescheduled.", "",
                        "Café naïve 東京 🍕 emoji and accents", "short", string.Join(" ", Enumerable.Repeat("a very long note", 200)),
                    };
                    string file = Path.GetTempFileName();
                    try
                    {
                        File.WriteAllText(file, string.Join("\n", texts) + "\n", new UTF8Encoding(false));
                        string output = T.Run(Cli(), "embed --model " + T.Quote(minilm) + (v == null ? "" : " --variant " + v) + " --json --file " + T.Quote(file));
                        string[] lines = output.Split(new[] { '\n' }, StringSplitOptions.RemoveEmptyEntries);
                        T.Equal(texts.Length, lines.Length, "CLI vectors (one per line of the file)");
                        using (var e = Embedder.Load(new EmbedderOptions(minilm) { Variant = v }))
                        {
                            T.Equal(384, e.Dimension, "dimension");
                            float[][] got = e.Embed(texts);
                            for (int i = 0; i < texts.Length; i++)
                            {
                                double cos = T.Cosine(Json.Floats(Json.Parse(lines[i])), got[i]);
                                T.True(cos >= 0.99999, "text " + i + ": cosine " + cos);
                            }
                        }
                    }
                    finally
                    {
                        File.Delete(file);
                    }
                });
            }

            string nomic = Real("nomic-embed-text-v1.5");
            const string nomicName = "real: nomic-embed-text-v1.5: task prompts per call, Matryoshka 256 and FailOnTruncation match llama.cpp (cosine >= 0.9999)";
            if (RealPresent(nomicName, nomic))
            {
                // tests/data/nomic_reference.json: llama.cpp's vectors of the same GGUF (it rounds
                // activations to f16, hence 0.9999).
                T.Test(nomicName, () =>
                {
                    object reference = Json.Parse(File.ReadAllText(Path.Combine(s_root, "tests", "data", "nomic_reference.json")));
                    List<string> texts = Json.Strings(Json.Get(reference, "texts"));
                    float[][] vectors = Json.Matrix(Json.Get(reference, "embeddings"));
                    var lengths = Json.Arr(Json.Get(reference, "input_ids")).Select(ids => Json.Arr(ids).Count).ToArray();
                    int checkedTexts = 0;
                    using (var e = Embedder.Load(new EmbedderOptions(nomic)))
                    {
                        T.Equal(2048, e.Info.MaxLength, "max length");
                        foreach (var task in new[] { new[] { "query", "search_query: " }, new[] { "document", "search_document: " } })
                        {
                            int[] chosen = Enumerable.Range(0, texts.Count).Where(i => lengths[i] < 100 && texts[i].StartsWith(task[1], StringComparison.Ordinal)).ToArray();
                            float[][] got = e.Embed(chosen.Select(i => texts[i].Substring(task[1].Length)).ToList(), task[0]);
                            for (int k = 0; k < chosen.Length; k++)
                            {
                                double cos = T.Cosine(vectors[chosen[k]], got[k]);
                                T.True(cos >= 0.9999, task[0] + ": text " + chosen[k] + ": cosine " + cos);
                            }
                            checkedTexts += chosen.Length;
                        }
                        T.True(checkedTexts >= 5, "prefixed texts checked: " + checkedTexts);
                        var unknown = T.Throws<NodeSpaceException>(() => e.Embed("x", "passage"), "unknown prompt");
                        T.True(unknown.Message.Contains("classification, clustering, document, query"), unknown.Message);
                    }
                    object matryoshka = Json.Get(reference, "matryoshka");
                    int[] chosenForSize = Json.Ints(Json.Get(matryoshka, "texts"));
                    float[][] want256 = Json.Matrix(Json.Get(matryoshka, "256"));
                    using (var e = Embedder.Load(new EmbedderOptions(nomic) { OutputDimension = 256, FailOnTruncation = true }))
                    {
                        T.Equal(256, e.Dimension, "dimension");
                        for (int k = 0; k < chosenForSize.Length; k++)
                        {
                            if (lengths[chosenForSize[k]] >= 100) continue;
                            double cos = T.Cosine(want256[k], e.Embed(texts[chosenForSize[k]]));
                            T.True(cos >= 0.9999, "256 dimensions, text " + chosenForSize[k] + ": cosine " + cos);
                        }
                        int longest = Enumerable.Range(0, texts.Count).OrderByDescending(i => lengths[i]).First();
                        var overflow = T.Throws<NodeSpaceException>(() => e.Embed(new[] { "short", texts[longest] + " " + texts[longest] }), "a 4,000-token text");
                        T.Equal(NodeSpaceStatus.ContextOverflow, overflow.Status, "status");
                        T.True(overflow.Message.Contains("text 1 is ") && overflow.Message.Contains("at most 2048"), overflow.Message);
                    }
                });
            }

            string gemmaEmbed = Real("embeddinggemma-300m");
            const string gemmaEmbedName = "real: embeddinggemma-300m: prompts per call and OutputDimension 256 match sentence-transformers (cosine >= 0.99999)";
            if (RealPresent(gemmaEmbedName, gemmaEmbed))
            {
                // tests/data/embeddinggemma_reference.json: sentence-transformers on the same folder, fp32.
                T.Test(gemmaEmbedName, () =>
                {
                    object reference = Json.Parse(File.ReadAllText(Path.Combine(s_root, "tests", "data", "embeddinggemma_reference.json")));
                    List<string> texts = Json.Strings(Json.Get(reference, "texts"));
                    List<object> prompts = Json.Arr(Json.Get(reference, "prompt_names"));
                    float[][] vectors = Json.Matrix(Json.Get(reference, "embeddings"));
                    var lengths = Json.Arr(Json.Get(reference, "input_ids")).Select(ids => Json.Arr(ids).Count).ToArray();
                    object matryoshka = Json.Get(reference, "matryoshka");
                    int[] chosenForSize = Json.Ints(Json.Get(matryoshka, "texts"));
                    float[][] want256 = Json.Matrix(Json.Get(matryoshka, "256"));
                    using (var e = Embedder.Load(new EmbedderOptions(gemmaEmbed)))
                    using (var small = Embedder.Load(new EmbedderOptions(gemmaEmbed) { OutputDimension = 256 }))
                    {
                        T.Equal(Pooling.InGraph, e.Info.Pooling, "pooling");
                        for (int i = 0; i < texts.Count; i++)
                        {
                            if (lengths[i] >= 40) continue;
                            double cos = T.Cosine(vectors[i], e.Embed(texts[i], (string)prompts[i]));
                            T.True(cos >= 0.99999, "text " + i + ": cosine " + cos);
                        }
                        for (int k = 0; k < chosenForSize.Length; k++)
                        {
                            int i = chosenForSize[k];
                            if (lengths[i] >= 40) continue;
                            double cos = T.Cosine(want256[k], small.Embed(texts[i], (string)prompts[i]));
                            T.True(cos >= 0.99999, "256 dimensions, text " + i + ": cosine " + cos);
                        }
                    }
                });
            }

            string qwen = Real("Qwen2.5-Coder-0.5B-Instruct");
            const string qwenName = "real: Qwen2.5-Coder-0.5B-Instruct (q4) greedy text equals the Rust CLI's";
            if (RealPresent(qwenName, qwen))
            {
                // KV prefix reuse on (the default): the CLI runs every prompt fresh, and a
                // reused prefix gives the same bits (attention never runs one row: the spare row).
                T.Test(qwenName, () => ExpectCliTexts(new GeneratorOptions(qwen) { Variant = "q4" },
                    "Rewrite politely: send the report",
                    "Write a C# method that returns the larger of two integers."));
            }

            string gemma = Real("gemma-3-270m");
            const string gemmaName = "real: gemma-3-270m (fused, raw text) greedy text equals transformers' (tests/data/gemma3_greedy.json)";
            if (RealPresent(gemmaName, gemma))
            {
                T.Test(gemmaName, () =>
                {
                    object reference = Json.Parse(File.ReadAllText(Path.Combine(s_root, "tests", "data", "gemma3_greedy.json")));
                    var cases = (List<object>)Json.Get(reference, "cases");
                    using (var g = Generator.Load(new GeneratorOptions(gemma) { Variant = "fused" }))
                    {
                        T.True(!g.Info.HasChatTemplate, "a base model: no chat template");
                        foreach (object c in cases.Take(3))
                        {
                            int[] want = Json.Ints(Json.Get(c, "generated_ids"));
                            var request = new GenerationRequest { Prompt = (string)Json.Get(c, "prompt_text"), Sampling = Sampling.Greedy, MaxNewTokens = want.Length };
                            var chunks = new List<string>();
                            GenerationResult result = Collect(g, request, chunks);
                            T.Equal((string)Json.Get(c, "generated_text"), result.Text, request.Prompt + ": text");
                            T.Equal(string.Concat(chunks), result.Text, "chunks concatenated");
                            T.Equal(Json.Ints(Json.Get(c, "prompt_ids")).Length, result.PromptTokens, "prompt tokens");
                            T.Equal(want.Length, result.GeneratedTokens, "generated tokens");
                        }
                    }
                });
            }

            string smol = Real("SmolLM2-135M-Instruct");
            const string smolName = "real: SmolLM2-135M-Instruct greedy text equals the Rust CLI's";
            if (RealPresent(smolName, smol))
            {
                T.Test(smolName, () => ExpectCliTexts(new GeneratorOptions(smol),
                    "Rewrite politely: send the report",
                    "Summarize in one sentence: the meeting moved to Friday because the budget is late.",
                    "List three colors."));

                // A call that has to build a session (the generator made one at load; MaxSessions 2
                // lets a second call create another, which takes seconds for this model) cannot be
                // interrupted until the session is built: the Stream loop must end at once anyway,
                // not when the native call returns.
                T.Test("real: cancelling a Stream whose call is building a session (SmolLM2, MaxSessions 2) ends the loop within 50 ms", () =>
                {
                    using (var g = Generator.Load(new GeneratorOptions(smol) { MaxSessions = 2, Device = Device.Cpu }))
                    using (var cts = new CancellationTokenSource())
                    {
                        GenerationRequest request = Greedy("hello world", 8);
                        Task<GenerationResult> running = StartHoldingASession(g, request);
                        long cancelledAt = 0;
                        var canceller = new Thread(() =>
                        {
                            Thread.Sleep(20); // the Stream's call is now building the second session
                            Volatile.Write(ref cancelledAt, Stopwatch.GetTimestamp());
                            cts.Cancel();
                        });
                        var got = new List<string>();
                        canceller.Start();
                        T.Throws<OperationCanceledException>(() =>
                        {
                            foreach (string chunk in g.Stream(request, cts.Token)) got.Add(chunk);
                        }, "the Stream loop");
                        long returnedAt = Stopwatch.GetTimestamp();
                        canceller.Join();
                        double ms = MillisecondsBetween(Volatile.Read(ref cancelledAt), returnedAt);
                        Console.WriteLine("     Stream loop ended " + ms.ToString("F1") + " ms after Cancel()");
                        T.True(ms < 50, "the Stream loop ended " + ms.ToString("F1") + " ms after Cancel() (bound 50 ms)");
                        T.Equal(0, got.Count, "chunks");
                        T.True(running.Result.GeneratedTokens > 0, "the running generation finished");
                        // The cancelled call ends by itself once its session is built; Dispose
                        // (below) is safe while it has not.
                    }
                });
            }
        }
    }

    // Types the JSON tests describe and read back (public: DataContractJsonSerializer reads them).
    public sealed class TinyItem
    {
        public bool Done { get; set; }
        public int? Count { get; set; }
        public List<string> Tags { get; set; }
        public string ReadOnly { get { return "not a member"; } }
    }

    [System.Runtime.Serialization.DataContract]
    public sealed class Named
    {
        [System.Runtime.Serialization.DataMember(Name = "owner")] public string Owner { get; set; }
        public string Hidden { get; set; }
    }

    public sealed class Node
    {
        public Node Next { get; set; }
    }

    public sealed class FindArguments
    {
        public int n { get; set; }
    }

    public sealed class AddArguments
    {
        public string t { get; set; }
    }
}
