import Foundation
import NodeSpace
import Testing

/// The real models (installed by scripts/setup.sh into models/real) against the Rust CLI's
/// outputs, which bindings/swift/test.sh writes before entering the chroot
/// (scripts/make_reference.py). A model that is not installed is skipped loudly.
@Suite struct RealModelTests {
    @Test("all-MiniLM-L6-v2 gives the Rust CLI's vectors")
    func miniLM() async throws {
        guard let dir = Fixtures.realModel("all-MiniLM-L6-v2") else { return }
        let reference = try Fixtures.reference("minilm.json")
        let texts = try strings(reference["texts"])
        let want = try matrix(reference["embeddings"])
        let embedder = try await Embedder.load(options: EmbedderOptions(modelPath: dir))
        #expect(embedder.dimension == 384)
        let got = try await embedder.embed(texts)
        #expect(got.count == want.count)
        for (i, (g, w)) in zip(got, want).enumerated() {
            // The same library on the same batch: equal up to the JSON's float printing.
            #expect(maxAbsDiff(g, w) <= 1e-6, "text \(i): differs by \(maxAbsDiff(g, w))")
        }
    }

    /// tests/data/nomic_reference.json: llama.cpp's vectors of the same GGUF (it rounds
    /// activations to f16, hence cosine >= 0.9999).
    @Test("nomic-embed-text-v1.5: task prompts per call, Matryoshka 256 and failOnTruncation match llama.cpp")
    func nomic() async throws {
        guard let dir = Fixtures.realModel("nomic-embed-text-v1.5") else { return }
        let reference = try Fixtures.json(Fixtures.repoRoot.appendingPathComponent("tests/data/nomic_reference.json").path)
        let texts = try strings(reference["texts"])
        let vectors = try matrix(reference["embeddings"])
        let lengths = (reference["input_ids"] as? [[Any]] ?? []).map(\.count)
        #expect(lengths.count == texts.count)
        let embedder = try await Embedder.load(options: EmbedderOptions(modelPath: dir))
        #expect(embedder.info.maxLength == 2048)
        var checked = 0
        for (name, prefix) in [("query", "search_query: "), ("document", "search_document: ")] {
            let chosen = texts.indices.filter { lengths[$0] < 100 && texts[$0].hasPrefix(prefix) }
            let got = try await embedder.embed(chosen.map { String(texts[$0].dropFirst(prefix.count)) }, promptName: name)
            for (k, i) in chosen.enumerated() {
                #expect(cosine(got[k], vectors[i]) >= 0.9999, "\(name): text \(i): cosine \(cosine(got[k], vectors[i]))")
            }
            checked += chosen.count
        }
        #expect(checked >= 5)
        let unknown = await nodespaceError { try await embedder.embed("x", promptName: "passage") }
        #expect(unknown?.message.contains("classification, clustering, document, query") == true, "\(String(describing: unknown))")

        let matryoshka = reference["matryoshka"] as? [String: Any] ?? [:]
        let chosen = try ints(matryoshka["texts"])
        let want = try matrix(matryoshka["256"])
        var options = EmbedderOptions(modelPath: dir)
        options.outputDimension = 256
        options.failOnTruncation = true
        let small = try await Embedder.load(options: options)
        #expect(small.dimension == 256)
        for (k, i) in chosen.enumerated() where lengths[i] < 100 {
            let got = try await small.embed(texts[i])
            #expect(cosine(got, want[k]) >= 0.9999, "256 dimensions, text \(i): cosine \(cosine(got, want[k]))")
        }
        let longest = texts.indices.max { lengths[$0] < lengths[$1] }!
        let overflow = await nodespaceError { try await small.embed(["short", texts[longest] + " " + texts[longest]]) }
        #expect(overflow?.status == 12)
        #expect(overflow?.message.contains("at most 2048") == true, "\(String(describing: overflow))")
    }

    /// tests/data/embeddinggemma_reference.json: sentence-transformers on the same folder,
    /// fp32 on both sides (cosine >= 0.99999).
    @Test("embeddinggemma-300m: prompts per call and outputDimension 256 match sentence-transformers")
    func embeddingGemma() async throws {
        guard let dir = Fixtures.realModel("embeddinggemma-300m") else { return }
        let reference = try Fixtures.json(Fixtures.repoRoot.appendingPathComponent("tests/data/embeddinggemma_reference.json").path)
        let texts = try strings(reference["texts"])
        let prompts = reference["prompt_names"] as? [Any] ?? []
        let vectors = try matrix(reference["embeddings"])
        let lengths = (reference["input_ids"] as? [[Any]] ?? []).map(\.count)
        let embedder = try await Embedder.load(options: EmbedderOptions(modelPath: dir))
        #expect(embedder.info.pooling == .inGraph)
        for i in texts.indices where lengths[i] < 40 {
            let got = try await embedder.embed(texts[i], promptName: prompts[i] as? String)
            #expect(cosine(got, vectors[i]) >= 0.99999, "text \(i): cosine \(cosine(got, vectors[i]))")
        }
        let matryoshka = reference["matryoshka"] as? [String: Any] ?? [:]
        let chosen = try ints(matryoshka["texts"])
        let want = try matrix(matryoshka["256"])
        var options = EmbedderOptions(modelPath: dir)
        options.outputDimension = 256
        let small = try await Embedder.load(options: options)
        for (k, i) in chosen.enumerated() where lengths[i] < 40 {
            let got = try await small.embed(texts[i], promptName: prompts[i] as? String)
            #expect(cosine(got, want[k]) >= 0.99999, "256 dimensions, text \(i): cosine \(cosine(got, want[k]))")
        }
    }

    @Test("SmolLM2-135M-Instruct greedy chat replies are the Rust CLI's")
    func smolLM2() async throws {
        guard let dir = Fixtures.realModel("SmolLM2-135M-Instruct") else { return }
        let generator = try await Generator.load(options: GeneratorOptions(modelPath: dir))
        try await expectCliReplies(generator, reference: "smollm2.json")
        // End to end, without test hooks: leaving the loop after the first chunk stops a
        // generation that would run for 200 tokens (seconds on this model).
        let completion = Box<Result<GenerationResult, any Error>>()
        func firstChunk() async throws -> String? {
            let request = GenerationRequest(messages: [.user("Write a long story about the sea.")],
                                            maxNewTokens: 200, sampling: .greedy)
            for try await chunk in generator.stream(request, onCompletion: { completion.set($0) }) {
                return chunk
            }
            return nil
        }
        #expect(try await firstChunk()?.isEmpty == false)
        let cancelled = try await completion.get().get()
        #expect(cancelled.stopReason == .cancelled)
        #expect(cancelled.stats.generatedTokens < 50, "\(cancelled.stats)")
    }

    @Test("Qwen2.5-Coder-0.5B-Instruct (q4) greedy chat replies are the Rust CLI's")
    func qwen2_5() async throws {
        guard let dir = Fixtures.realModel("Qwen2.5-Coder-0.5B-Instruct") else { return }
        // KV prefix reuse on (the default): the CLI ran every prompt fresh, and a reused
        // prefix gives the same bits (attention never runs one row: the spare row).
        let options = GeneratorOptions(modelPath: dir, variant: "q4")
        let generator = try await Generator.load(options: options)
        try await expectCliReplies(generator, reference: "qwen2_5.json")
    }

    @Test("gemma-3-270m (fused, raw text) greedy continuations are transformers'")
    func gemma3() async throws {
        guard let dir = Fixtures.realModel("gemma-3-270m") else { return }
        // tests/data/gemma3_greedy.json: transformers' ids and text (a base model: raw text).
        let reference = try Fixtures.json(Fixtures.repoRoot.appendingPathComponent("tests/data/gemma3_greedy.json").path)
        guard let cases = reference["cases"] as? [[String: Any]], cases.count >= 3 else {
            Issue.record("gemma3_greedy.json has no cases")
            return
        }
        let generator = try await Generator.load(options: GeneratorOptions(modelPath: dir, variant: "fused"))
        #expect(!generator.info.hasChatTemplate)
        for (i, c) in cases.prefix(3).enumerated() {
            let prompt = c["prompt_text"] as? String ?? ""
            let wantIds = try ints(c["generated_ids"])
            let request = GenerationRequest(prompt: prompt, maxNewTokens: wantIds.count, sampling: .greedy)
            var streamed = ""
            let completion = Box<Result<GenerationResult, any Error>>()
            for try await chunk in generator.stream(request, onCompletion: { completion.set($0) }) {
                streamed += chunk
            }
            let result = try await completion.get().get()
            #expect(result.text == c["generated_text"] as? String, "case \(i) \(prompt.debugDescription)")
            #expect(streamed == result.text)
            let promptIds = try ints(c["prompt_ids"])
            #expect(result.stats.promptTokens == promptIds.count, "case \(i)")
            #expect(result.stats.generatedTokens == wantIds.count, "case \(i)")
        }
    }

    /// Every case of a reference file (make_reference.py): streamed text, token counts and
    /// stop reason as the CLI gave them.
    private func expectCliReplies(_ generator: Generator, reference file: String) async throws {
        let reference = try Fixtures.reference(file)
        guard let cases = reference["cases"] as? [[String: Any]], !cases.isEmpty else {
            Issue.record("\(file) has no cases")
            return
        }
        #expect(generator.info.hasChatTemplate)
        for (i, c) in cases.enumerated() {
            let user = c["user"] as? String ?? ""
            let want = c["result"] as? [String: Any] ?? [:]
            let request = GenerationRequest(messages: [.user(user)], maxNewTokens: c["max_new_tokens"] as? Int ?? 32,
                                            sampling: .greedy)
            var streamed = ""
            let completion = Box<Result<GenerationResult, any Error>>()
            for try await chunk in generator.stream(request, onCompletion: { completion.set($0) }) {
                streamed += chunk
            }
            let result = try await completion.get().get()
            #expect(result.text == want["text"] as? String, "case \(i) \(user.debugDescription)")
            #expect(streamed == result.text)
            let wantTokens = try ints(want["tokens"]).count
            let wantPromptTokens = try ints(want["prompt_tokens"]).count
            #expect(result.stats.generatedTokens == wantTokens, "case \(i)")
            #expect(result.stats.promptTokens == wantPromptTokens, "case \(i)")
            let reason: String = switch result.stopReason {
            case .endOfSequence: "eos"
            case .maxTokens: "max_tokens"
            case .stopString: "stop_string"
            case .contextFull: "context_full"
            case .cancelled: "cancelled"
            }
            #expect(reason == want["stop_reason"] as? String, "case \(i)")
        }
    }
}
