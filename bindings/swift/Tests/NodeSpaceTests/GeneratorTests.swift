import Foundation
@testable import NodeSpace
import Testing

/// Generation on the tiny committed decoders (context 128 tokens): greedy output against
/// each folder's expected.json (an independent numpy reference), streaming, stopping,
/// errors and cancellation.
@Suite struct GeneratorTests {
    static let decoders = ["gen-llama", "gen-nopos", "gen-fp16kv", "gen-gemma", "gen-gemma-optimum", "gen-notemplate"]

    static func load(_ model: String, reusePrefix: Bool = true) throws -> Generator {
        var options = GeneratorOptions(modelPath: Fixtures.tiny(model))
        options.reusePrefix = reusePrefix
        return try Generator(options: options)
    }

    static func greedy(_ prompt: String, _ maxNewTokens: Int = 24) -> GenerationRequest {
        GenerationRequest(prompt: prompt, maxNewTokens: maxNewTokens, sampling: .greedy)
    }

    /// Streams `request` to the end: the chunks, and the result reported on completion.
    static func collect(_ generator: Generator, _ request: GenerationRequest) async throws -> ([String], GenerationResult) {
        let completion = Box<Result<GenerationResult, any Error>>()
        var chunks: [String] = []
        for try await chunk in generator.stream(request, onCompletion: { completion.set($0) }) {
            chunks.append(chunk)
        }
        return (chunks, try await completion.get().get())
    }

    @Test("greedy text and token counts match expected.json, through generate and stream", arguments: decoders)
    func greedyMatchesReference(model: String) async throws {
        let expected = try Fixtures.expected(model)
        guard let cases = expected["cases"] as? [[String: Any]], !cases.isEmpty else {
            Issue.record("\(model): expected.json has no cases")
            return
        }
        let generator = try await Generator.load(options: GeneratorOptions(modelPath: Fixtures.tiny(model)))
        for (i, c) in cases.enumerated() {
            let prompt: Prompt
            if let messages = c["messages"] as? [[String: String]] {
                prompt = .chat(messages.map { ChatMessage(role: $0["role"]!, content: $0["content"]!) })
            } else {
                prompt = .text(c["prompt"] as? String ?? "")
            }
            let wantIDs = try ints(c["generated_ids"])
            let request = GenerationRequest(prompt: prompt, maxNewTokens: wantIDs.count, sampling: .greedy)
            let result = try await generator.generate(request)
            let label = "\(model) case \(i)"
            // The C API streams text, not token ids: the ids are checked through their count
            // and decoded text (generated_ids never contain an EOS, so all of them are produced).
            #expect(result.text == c["generated_text"] as? String, "\(label): text")
            #expect(result.stats.generatedTokens == wantIDs.count, "\(label): generated tokens")
            let wantPromptTokens = try ints(c["prompt_ids"]).count
            #expect(result.stats.promptTokens == wantPromptTokens, "\(label): prompt tokens")
            #expect(result.stopReason == .maxTokens, "\(label)")

            let (chunks, streamed) = try await Self.collect(generator, request)
            #expect(chunks.joined() == result.text, "\(label): chunks")
            #expect(streamed.text == result.text)
            #expect(streamed.stopReason == .maxTokens)
            #expect(chunks.allSatisfy { !$0.isEmpty })
        }
    }

    @Test("info describes the graph")
    func info() throws {
        let llama = try Self.load("gen-llama").info
        #expect(llama.contextLength == 128)
        #expect(llama.layers == 2)
        #expect(llama.kvHeads == 2)
        #expect(llama.headDim == 8)
        #expect(llama.hasChatTemplate)
        #expect(llama.modelFile.hasSuffix("onnx/model.onnx"))
        #expect(llama.provider == "CPUExecutionProvider")
        #expect(!(try Self.load("gen-notemplate").info.hasChatTemplate))
    }

    @Test("a chat for a model without a template is unsupported; raw prompts work")
    func noTemplate() async throws {
        let generator = try Self.load("gen-notemplate")
        let error = await nodespaceError {
            try await generator.generate(GenerationRequest(messages: [.user("hi")], maxNewTokens: 4, sampling: .greedy))
        }
        #expect(error?.status == 13)
        #expect(error?.message.contains("no chat template") == true, "\(String(describing: error))")
        // The same error from a stream is thrown by its iteration.
        let streamError = await nodespaceError {
            for try await _ in generator.stream(GenerationRequest(messages: [.user("hi")], maxNewTokens: 4)) {}
        }
        #expect(streamError == error)
        let ok = try await generator.generate(Self.greedy("hello", 4))
        #expect(ok.stats.generatedTokens == 4)
    }

    @Test("a stop string ends the generation and is never emitted")
    func stopString() async throws {
        let generator = try Self.load("gen-llama")
        let full = try await generator.generate(Self.greedy("hello world"))
        let characters = Array(full.text)
        #expect(characters.count >= 6, "reference text too short: \(full.text.debugDescription)")
        let start = characters.count / 2
        let stop = String(characters[start ..< min(start + 3, characters.count)])
        let prefix = String(full.text[..<full.text.range(of: stop)!.lowerBound])
        var request = Self.greedy("hello world")
        request.stop = [stop, "never-produced"]
        let (chunks, result) = try await Self.collect(generator, request)
        #expect(result.stopReason == .stopString)
        #expect(result.text == prefix)
        #expect(chunks.joined() == prefix)
        #expect(!chunks.joined().contains(stop))
    }

    @Test("request errors: context overflow, bad sampling values, values C cannot hold")
    func requestErrors() async throws {
        let generator = try Self.load("gen-llama")
        let long = String(repeating: "x y ", count: generator.info.contextLength)
        let overflow = await nodespaceError { try await generator.generate(Self.greedy(long, 4)) }
        #expect(overflow?.status == 12, "\(String(describing: overflow))")
        guard case .contextOverflow = overflow else { Issue.record("\(String(describing: overflow))"); return }

        let nan = GenerationRequest(prompt: "hi", maxNewTokens: 4, sampling: .custom(temperature: .nan))
        let nanError = await nodespaceError { try await generator.generate(nan) }
        #expect(nanError?.status == 1)
        #expect(nanError?.message.contains("temperature") == true, "\(String(describing: nanError))")

        let negative = await nodespaceError { try await generator.generate(Self.greedy("hi", -1)) }
        #expect(negative?.status == 1)
        #expect(negative?.message.contains("maxNewTokens") == true)

        let nul = await nodespaceError { try await generator.generate(Self.greedy("a\u{0}b", 4)) }
        #expect(nul?.status == 1)

        let noMessages = await nodespaceError { try await generator.generate(GenerationRequest(messages: [])) }
        #expect(noMessages?.status == 1, "\(String(describing: noMessages))")

        let missing = nodespaceError { try Generator(options: GeneratorOptions(modelPath: "/no/such/model")) }
        #expect(missing?.status == 6)
        #expect(missing?.message.contains("/no/such/model") == true)

        let embedderFolder = nodespaceError { try Generator(options: GeneratorOptions(modelPath: Fixtures.tiny("embed-bert"))) }
        #expect(embedderFolder?.status == 7, "\(String(describing: embedderFolder))")
    }

    @Test("seeded sampling is reproducible; penalties and sampling knobs are accepted")
    func sampling() async throws {
        let generator = try Self.load("gen-llama")
        var request = GenerationRequest(prompt: "hello", maxNewTokens: 20,
                                        sampling: .custom(temperature: 1.5, topK: 50, topP: 0.95, minP: 0.01, seed: 42))
        request.repetitionPenalty = 1.1
        request.presencePenalty = 0.1
        request.frequencyPenalty = 0.1
        let a = try await generator.generate(request)
        let b = try await generator.generate(request)
        #expect(a.text == b.text)
        request.sampling = .custom(temperature: 1.5, topK: 50, topP: 0.95, seed: 43)
        let c = try await generator.generate(request)
        let greedy = try await generator.generate(Self.greedy("hello", 20))
        #expect(c.text != a.text || a.text != greedy.text, "seeded sampling looks like greedy decoding")
        let modelDefault = try await generator.generate(GenerationRequest(prompt: "hello", maxNewTokens: 5))
        #expect(modelDefault.stats.generatedTokens <= 5)
    }

    @Test("prompt lookup (lookupMaxDraft, default 8) gives the greedy text of lookupMaxDraft 0 and counts its drafts")
    func promptLookup() async throws {
        let generator = try Self.load("gen-llama")
        var drafted = 0
        // Repeated word pairs: the tiny decoder's output repeats their n-grams, so drafts are made.
        for pair in ["the fox", "1 2", "a b", "hello world", "x is", "to of"] {
            let prompt = "\(pair) \(pair) \(pair)"
            let fast = try await generator.generate(Self.greedy(prompt, 60))
            var off = Self.greedy(prompt, 60)
            off.lookupMaxDraft = 0
            let plain = try await generator.generate(off)
            #expect(fast.text == plain.text, "\(prompt)")
            #expect(fast.stats.generatedTokens == plain.stats.generatedTokens)
            #expect(plain.stats.draftedTokens == 0 && plain.stats.acceptedTokens == 0)
            #expect(fast.stats.acceptedTokens <= fast.stats.draftedTokens)
            drafted += fast.stats.draftedTokens
        }
        #expect(drafted > 0, "no drafts on prompts of repeated words")
        var tooLong = Self.greedy("hello", 4)
        tooLong.lookupMaxDraft = 65
        let refused = await nodespaceError { try await generator.generate(tooLong) }
        #expect(refused?.status == 1)
        #expect(refused?.message.contains("max_draft 65") == true, "\(String(describing: refused))")
        tooLong.lookupMaxDraft = -1
        let negative = await nodespaceError { try await generator.generate(tooLong) }
        #expect(negative?.message.contains("lookupMaxDraft") == true, "\(String(describing: negative))")
    }

    // Structured output: the tiny model's random weights never write these by chance.
    @Test("constraints give only what they accept: JSON Schema, regex, grammar, choices; streamed")
    func constraints() async throws {
        let generator = try Self.load("gen-llama")
        var json = Self.greedy("the fox the fox", 60)
        json.constraint = .jsonSchema(#"{"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"], "additionalProperties": false, "x-guidance": {"whitespace_flexible": false}}"#)
        let answer = try await generator.generate(json)
        #expect(answer.text == #"{"ok":true}"# || answer.text == #"{"ok":false}"#, "\(answer.text)")
        #expect(answer.stopReason == .endOfSequence)
        var date = Self.greedy("hello", 60)
        date.constraint = .regex("20[0-9]{2}-[01][0-9]")
        let d = try await generator.generate(date).text
        #expect(d.count == 7 && d.hasPrefix("20") && Array(d)[4] == "-", "\(d)")
        var yesNo = Self.greedy("hello", 60)
        yesNo.constraint = .grammar(#"start: ("yes" | "no") "!""#)
        let y = try await generator.generate(yesNo).text
        #expect(y == "yes!" || y == "no!", "\(y)")
        var label = Self.greedy("hello", 60)
        label.constraint = .choices(["urgent", "later", "someday"])
        let (chunks, result) = try await Self.collect(generator, label)
        #expect(["urgent", "later", "someday"].contains(result.text), "\(result.text)")
        #expect(chunks.joined() == result.text)
    }

    struct Item: Decodable {
        let done: Bool
        let owner: String
    }

    @Test("a JSON Schema answer decodes into a Decodable type; text that does not fit throws")
    func decodable() async throws {
        let generator = try Self.load("gen-llama")
        var r = Self.greedy("the fox", 60)
        r.constraint = .jsonSchema(#"{"type": "object", "properties": {"done": {"type": "boolean"}, "owner": {"type": "string", "maxLength": 4}}, "required": ["done", "owner"], "additionalProperties": false, "x-guidance": {"whitespace_flexible": false}}"#)
        let result = try await generator.generate(r)
        #expect(result.stopReason == .endOfSequence)
        let item = try result.decode(Item.self)
        #expect(item.owner.count <= 4, "\(result.text)")
        var plain = Self.greedy("the fox", 20)
        plain.constraint = .regex("not json")
        let notJSON = try await generator.generate(plain)
        #expect(throws: DecodingError.self) { try notJSON.decode(Item.self) }
    }

    static let tools = [
        ToolDefinition(name: "add", description: "Add a task", parametersSchema: #"{"type": "object", "properties": {"t": {"type": "string", "maxLength": 2}}, "required": ["t"]}"#),
        ToolDefinition(name: "find", parametersSchema: #"{"type": "object", "properties": {"n": {"type": "integer", "minimum": 1, "maximum": 9}}, "required": ["n"]}"#),
    ]

    struct Find: Decodable { let n: Int }
    struct Add: Decodable { let t: String }

    @Test("tools: .one gives one valid call in toolCalls, streamed; a follow-up turn renders; cancel and errors")
    func toolCalls() async throws {
        let generator = try Self.load("gen-llama")
        #expect(generator.info.tools == .parsed)
        #expect(generator.info.lookupOffReason == nil)
        let int8 = try Generator(options: GeneratorOptions(modelPath: Fixtures.tiny("gen-llama"), variant: "quantized"))
        #expect(int8.info.lookupOffReason?.contains("DynamicQuantizeLinear") == true)
        var r = GenerationRequest(messages: [.user("find 3")], maxNewTokens: 100, sampling: .greedy)
        r.tools = Self.tools
        r.toolChoice = .one
        let (chunks, result) = try await Self.collect(generator, r)
        #expect(chunks.joined() == result.text)
        #expect(result.stopReason == .endOfSequence, "\(result.text)")
        #expect(result.toolCalls.count == 1, "\(result.text)")
        let call = try #require(result.toolCalls.first)
        if call.name == "find" {
            let n = try call.arguments(as: Find.self).n
            #expect((1...9).contains(n))
        } else {
            #expect(call.name == "add")
            #expect(try call.arguments(as: Add.self).t.count <= 2)
        }
        // The follow-up turn: the call and its result.
        let followUp = GenerationRequest(messages: [.system("s"), .user("add ab"), .assistant(toolCalls: [ToolCall(name: "add", argumentsJSON: #"{"t": "ab"}"#, id: "c1")]), .tool("ok", callId: "c1")], maxNewTokens: 4, sampling: .greedy)
        let answered = try await generator.generate(followUp)
        #expect(answered.stats.promptTokens > 30)
        #expect(answered.toolCalls.isEmpty)
        // Cancel under a required call: leaving the stream early stops it.
        r.toolChoice = .required
        var seen = 0
        for try await _ in generator.stream(r) {
            seen += 1
            if seen == 2 { break }
        }
        #expect(seen == 2)
        // Errors name the problem.
        var raw = Self.greedy("raw", 10)
        raw.tools = Self.tools
        let rawError = await nodespaceError { try await generator.generate(raw) }
        #expect(rawError?.message.contains("chat messages") == true, "\(String(describing: rawError))")
        var unnamed = GenerationRequest(messages: [.user("x")], maxNewTokens: 4, sampling: .greedy)
        unnamed.tools = [ToolDefinition(name: "")]
        let unnamedError = await nodespaceError { try await generator.generate(unnamed) }
        #expect(unnamedError?.message.contains("tool 0 has no name") == true, "\(String(describing: unnamedError))")
        let gemma = try Self.load("gen-gemma")
        #expect(gemma.info.tools == ToolSupport.none)
        var offered = GenerationRequest(messages: [.user("x")], maxNewTokens: 4, sampling: .greedy)
        offered.tools = Self.tools
        let unsupported = await nodespaceError { try await gemma.generate(offered) }
        #expect(unsupported?.message.contains("does not render tools") == true, "\(String(describing: unsupported))")
    }

    @Test("malformed constraints throw invalidArgument naming the error")
    func malformedConstraints() async throws {
        let generator = try Self.load("gen-llama")
        for (constraint, needle) in [
            (Constraint.regex("ab(c"), "unclosed group"),
            (.jsonSchema(#"{"type": "string", "minLength": 4, "maxLength": 1}"#), "minLength"),
            (.grammar("start: foo"), "unknown name"),
            (.choices([]), "choice list is empty"),
        ] {
            var r = Self.greedy("hello", 10)
            r.constraint = constraint
            let error = await nodespaceError { try await generator.generate(r) }
            #expect(error?.status == 1, "\(constraint): \(String(describing: error))")
            #expect(error?.message.contains(needle) == true, "\(String(describing: error))")
        }
    }

    @Test("chunks are whole UTF-8 characters that concatenate to the text", arguments: ["gen-llama", "gen-gemma"])
    func utf8Chunks(model: String) async throws {
        let generator = try Self.load(model)
        let (chunks, result) = try await Self.collect(generator, Self.greedy("naïve café 東京 🍕", 40))
        #expect(chunks.joined() == result.text)
        for chunk in chunks {
            #expect(!chunk.isEmpty)
            // Chunks are decoded one by one: a split character would show up as U+FFFD.
            #expect(!chunk.contains("\u{FFFD}") || result.text.contains("\u{FFFD}"))
        }
    }

    @Test("stats, and a follow-up chat turn reusing the KV cache with identical output")
    func statsAndPrefixReuse() async throws {
        let reusing = try Self.load("gen-llama")
        let fresh = try Self.load("gen-llama", reusePrefix: false)
        var chat: [ChatMessage] = [.user("hello there")]
        let first = try await reusing.generate(GenerationRequest(messages: chat, maxNewTokens: 12, sampling: .greedy))
        #expect(first.stats.reusedPromptTokens == 0)
        #expect(first.stats.promptTokens > 0)
        #expect(first.stats.generatedTokens == 12)
        #expect(first.stats.totalMs > 0)
        #expect(first.stats.timeToFirstTokenMs > 0)
        #expect(first.stats.timeToFirstTokenMs <= first.stats.totalMs)
        chat += [.assistant(first.text), .user("tell me more")]
        let followUp = GenerationRequest(messages: chat, maxNewTokens: 12, sampling: .greedy)
        let reused = try await reusing.generate(followUp)
        let recomputed = try await fresh.generate(followUp)
        #expect(reused.stats.reusedPromptTokens > first.stats.promptTokens / 2)
        #expect(recomputed.stats.reusedPromptTokens == 0)
        #expect(reused.text == recomputed.text)
    }

    @Test("one generator, several concurrent generations, identical results")
    func concurrent() async throws {
        let generator = try Self.load("gen-llama")
        let solo = try await generator.generate(Self.greedy("hello", 20)).text
        try await withThrowingTaskGroup(of: String.self) { group in
            for i in 0 ..< 4 {
                if i % 2 == 0 {
                    group.addTask { try await generator.generate(Self.greedy("hello", 20)).text }
                } else {
                    group.addTask { try await Self.collect(generator, Self.greedy("hello", 20)).0.joined() }
                }
            }
            for try await text in group {
                #expect(text == solo)
            }
        }
    }

    // MARK: - Cancellation (ordered deterministically with the internal hooks)

    @Test("releasing a stream before the generation starts cancels it natively")
    func streamReleasedBeforeStart() async throws {
        let generator = try Self.load("gen-llama")
        let gate = Gate()
        let completion = Box<Result<GenerationResult, any Error>>()
        var hooks = GenerationHooks()
        hooks.beforeStart = { _ = gate.wait() }
        var stream: AsyncThrowingStream<String, Error>? = generator.stream(
            Self.greedy("hello", 100), hooks: hooks, onCompletion: { completion.set($0) })
        #expect(stream != nil)
        stream = nil // terminates the stream: onTermination triggers the cancel token
        gate.open()
        let result = try await completion.get().get()
        #expect(result.stopReason == .cancelled)
        #expect(result.stats.generatedTokens == 0)
        #expect(result.text.isEmpty)
    }

    @Test("leaving the loop after the first chunk stops the native generation")
    func breakAfterFirstChunk() async throws {
        let generator = try Self.load("gen-llama")
        let full = try await generator.generate(Self.greedy("hello world", 100))
        let gate = Gate()
        let completion = Box<Result<GenerationResult, any Error>>()
        var hooks = GenerationHooks()
        hooks.afterChunk = { index in if index == 0 { _ = gate.wait() } } // hold the producer
        func firstChunk() async throws -> String? {
            // The stream lives only in this function: returning terminates it.
            for try await chunk in generator.stream(Self.greedy("hello world", 100), hooks: hooks,
                                                    onCompletion: { completion.set($0) }) {
                return chunk
            }
            return nil
        }
        let first = try await firstChunk()
        gate.open()
        let result = try await completion.get().get()
        #expect(result.stopReason == .cancelled)
        #expect(result.stats.generatedTokens < full.stats.generatedTokens, "\(result.stats) vs \(full.stats)")
        #expect(result.stats.generatedTokens <= 3)
        #expect(first.map { full.text.hasPrefix($0) } == true)
        #expect(full.text.hasPrefix(result.text))
    }

    @Test("cancelling the consuming task stops the native generation")
    func cancelConsumingTask() async throws {
        let generator = try Self.load("gen-llama")
        let gate = Gate()
        let firstSeen = Box<Bool>()
        let completion = Box<Result<GenerationResult, any Error>>()
        var hooks = GenerationHooks()
        hooks.afterChunk = { index in
            if index == 0 {
                firstSeen.set(true)
                _ = gate.wait()
            }
        }
        let consumer = Task {
            var chunks: [String] = []
            for try await chunk in generator.stream(Self.greedy("hello world", 100), hooks: hooks,
                                                    onCompletion: { completion.set($0) }) {
                chunks.append(chunk)
            }
            return chunks
        }
        _ = await firstSeen.get()
        consumer.cancel()
        gate.open()
        let result = try await completion.get().get()
        #expect(result.stopReason == .cancelled)
        #expect(result.stats.generatedTokens <= 3)
        let chunks = try await consumer.value // a cancelled iteration just ends
        #expect(chunks.count <= 2)
    }

    @Test("cancelling a task in generate() cancels natively and throws CancellationError")
    func cancelGenerate() async throws {
        let generator = try Self.load("gen-llama")
        let gate = Gate()
        var hooks = GenerationHooks()
        hooks.beforeStart = { _ = gate.wait() }
        let task = Task { try await generator.generate(Self.greedy("hello", 100), hooks: hooks) }
        task.cancel()
        gate.open()
        await #expect(throws: CancellationError.self) { try await task.value }

        // Through the public API: a task that is already cancelled.
        let cancelled = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await generator.generate(Self.greedy("hello", 100))
        }
        await #expect(throws: CancellationError.self) { try await cancelled.value }
        // The generator is still usable afterwards.
        #expect(try await generator.generate(Self.greedy("hello", 4)).stats.generatedTokens == 4)
    }

    @Test("a running stream keeps its generator alive; generators are freed when released")
    func lifetimes() async throws {
        weak var weakGenerator: Generator?
        var stream: AsyncThrowingStream<String, Error>?
        do {
            let generator = try Self.load("gen-llama")
            weakGenerator = generator
            stream = generator.stream(Self.greedy("hello", 16))
        }
        var text = ""
        for try await chunk in stream! { text += chunk }
        #expect(!text.isEmpty)
        stream = nil
        // The generation's thread released its reference before ending.
        for _ in 0 ..< 100 where weakGenerator != nil {
            try await Task.sleep(nanoseconds: 10_000_000)
        }
        #expect(weakGenerator == nil)
    }
}
