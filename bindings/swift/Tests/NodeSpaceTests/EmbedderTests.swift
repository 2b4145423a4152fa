import Foundation
import NodeSpace
import Testing

/// Embeddings on the tiny committed models against each folder's expected.json (an
/// independent Python reference: tokenizers + onnxruntime + numpy pooling).
@Suite struct EmbedderTests {
    static let models = ["embed-bert", "embed-bert-nott", "embed-pooled", "embed-decoder"]

    static func load(_ model: String) throws -> Embedder {
        try Embedder(options: EmbedderOptions(modelPath: Fixtures.tiny(model)))
    }

    @Test("every tiny model matches expected.json within 2e-5 and reports its settings", arguments: models)
    func matchesReference(model: String) throws {
        let expected = try Fixtures.expected(model)
        let texts = try strings(expected["texts"])
        let want = try matrix(expected["embeddings"])
        let embedder = try Self.load(model)

        #expect(embedder.dimension == expected["dimension"] as? Int)
        #expect(embedder.info.dimension == embedder.dimension)
        #expect(embedder.info.maxLength == expected["max_length"] as? Int)
        #expect(embedder.info.normalize)
        #expect(embedder.info.modelFile.hasSuffix(expected["model_file"] as? String ?? "?"), "\(embedder.info.modelFile)")
        #expect(embedder.info.provider == "CPUExecutionProvider")
        #expect(embedder.info.fallbackReason != nil, "auto on a CPU-only runtime says why it fell back")
        let pooling: Pooling? = switch expected["embedding_source"] as? String == "sentence_embedding" ? "in-graph" : expected["pooling"] as? String {
        case "mean": .mean
        case "cls": .cls
        case "last_token", "lasttoken": .lastToken
        case "max": .max
        case "in-graph": .inGraph
        default: nil
        }
        #expect(pooling != nil && embedder.info.pooling == pooling, "\(String(describing: expected["pooling"]))")

        let got = try embedder.embed(texts)
        #expect(got.count == want.count)
        for (i, (g, w)) in zip(got, want).enumerated() {
            #expect(g.count == embedder.dimension)
            #expect(maxAbsDiff(g, w) <= 2e-5, "\(model) text \(i) \(texts[i].debugDescription): differs by \(maxAbsDiff(g, w))")
            #expect(abs(norm(g) - 1) < 1e-5)
        }
    }

    @Test("async embed runs off the cooperative pool and gives the same bits, also concurrently")
    func asyncEmbed() async throws {
        let embedder = try await Embedder.load(options: EmbedderOptions(modelPath: Fixtures.tiny("embed-bert")))
        let texts = try strings(Fixtures.expected("embed-bert")["texts"])
        // In async code `embed` resolves to the async overload; a sync closure picks the
        // blocking one.
        let sync = try { try embedder.embed(texts) }()
        let async: [[Float]] = try await embedder.embed(texts)
        #expect(async == sync)
        let single: [Float] = try await embedder.embed(texts[0])
        #expect(maxAbsDiff(single, sync[0]) < 1e-5)
        // One embedder shared by many tasks (it is Sendable), run in parallel natively.
        try await withThrowingTaskGroup(of: [[Float]].self) { group in
            for _ in 0 ..< 8 {
                group.addTask { try await embedder.embed(texts) }
            }
            for try await result in group {
                #expect(result == sync)
            }
        }
    }

    @Test("the quantized variant is selectable and matches its reference one text at a time")
    func quantizedVariant() throws {
        let expected = try Fixtures.expected("embed-bert")
        let texts = try strings(expected["texts"])
        let variants = expected["variants"] as? [String: Any]
        let want = try matrix((variants?["onnx/model_quantized.onnx"] as? [String: Any])?["embeddings"])
        let embedder = try Embedder(options: EmbedderOptions(modelPath: Fixtures.tiny("embed-bert"), variant: "quantized"))
        #expect(embedder.info.modelFile.hasSuffix("onnx/model_quantized.onnx"))
        for (i, text) in texts.enumerated() {
            let got = try embedder.embed([text])[0]
            #expect(maxAbsDiff(got, want[i]) <= 2e-5, "text \(i)")
        }
    }

    @Test("prompt names from config_sentence_transformers.json", arguments: ["query", "passage"])
    func promptNames(prompt: String) throws {
        let expected = try Fixtures.expected("embed-bert-nott")
        let texts = try strings(expected["texts"])
        let want = try matrix(((expected["prompted"] as? [String: Any])?[prompt] as? [String: Any])?["embeddings"])
        var options = EmbedderOptions(modelPath: Fixtures.tiny("embed-bert-nott"))
        options.promptName = prompt
        let got = try Embedder(options: options).embed(texts)
        for (i, (g, w)) in zip(got, want).enumerated() {
            #expect(maxAbsDiff(g, w) <= 2e-5, "\(prompt) text \(i)")
        }
    }

    @Test("embed(_:promptName:) chooses the prompt per call with one loaded model", arguments: ["query", "passage"])
    func promptPerCall(prompt: String) throws {
        let expected = try Fixtures.expected("embed-bert-nott")
        let texts = try strings(expected["texts"])
        let want = try matrix(((expected["prompted"] as? [String: Any])?[prompt] as? [String: Any])?["embeddings"])
        let plain = try Embedder(options: EmbedderOptions(modelPath: Fixtures.tiny("embed-bert-nott")))
        var queryOptions = EmbedderOptions(modelPath: Fixtures.tiny("embed-bert-nott"))
        queryOptions.promptName = "query"
        let query = try Embedder(options: queryOptions)
        let unprompted = try plain.embed(texts)
        let got = try plain.embed(texts, promptName: prompt)
        for (i, (g, w)) in zip(got, want).enumerated() {
            #expect(maxAbsDiff(g, w) <= 2e-5, "\(prompt) text \(i)")
        }
        // Replaces the embedder's own prompt (applied once): the same bits from either embedder.
        #expect(try query.embed(texts, promptName: prompt) == got)
        #expect(try plain.embed(texts) == unprompted, "the per-call prompt left the embedder's own alone")
        let unknown = nodespaceError { try plain.embed(texts, promptName: "document") }
        #expect(unknown?.status == 1)
        #expect(unknown?.message.contains("passage, query") == true, "\(String(describing: unknown))")
    }

    /// The blocking overload, called from a synchronous context (an async one picks `async`).
    static func embedBlocking(_ embedder: Embedder, _ texts: [String], promptName: String?) throws -> [[Float]] {
        try embedder.embed(texts, promptName: promptName)
    }

    @Test("the async embed overloads take promptName too")
    func promptPerCallAsync() async throws {
        let texts = try strings(Fixtures.expected("embed-bert-nott")["texts"])
        let plain = try Embedder(options: EmbedderOptions(modelPath: Fixtures.tiny("embed-bert-nott")))
        let want = try Self.embedBlocking(plain, texts, promptName: "query")
        #expect(try await plain.embed(texts, promptName: "query") == want)
        #expect(try await plain.embed(texts[0], promptName: "query") == want[0])
        #expect(try await plain.embed(texts) != want)
    }

    @Test("failOnTruncation makes a text over maxLength .contextOverflow; the default truncates")
    func failOnTruncation() throws {
        var options = EmbedderOptions(modelPath: Fixtures.tiny("embed-bert"))
        options.maxLength = 16
        let cutting = try Embedder(options: options)
        options.failOnTruncation = true
        let strict = try Embedder(options: options)
        let long = String(repeating: "cat ", count: 40)
        let first14 = String(repeating: "cat ", count: 14) // + [CLS] and [SEP] = 16 tokens
        #expect(try cutting.embed([long]) == cutting.embed([first14]))
        #expect(try strict.embed([first14]) == cutting.embed([first14]))
        let overflow = nodespaceError { try strict.embed(["short", long]) }
        #expect(overflow?.status == 12)
        #expect(overflow?.message.contains("text 1 is 42 tokens") == true, "\(String(describing: overflow))")
        #expect(overflow?.message.contains("at most 16") == true)
    }

    @Test("options: no normalization, Matryoshka dimension, pooling override, small batches")
    func options() throws {
        let expected = try Fixtures.expected("embed-bert")
        let texts = try strings(expected["texts"])
        let want = try matrix(expected["embeddings"])
        let path = Fixtures.tiny("embed-bert")

        var raw = EmbedderOptions(modelPath: path)
        raw.normalize = false
        let rawEmbedder = try Embedder(options: raw)
        #expect(!rawEmbedder.info.normalize)
        let rawVectors = try rawEmbedder.embed(texts)
        for (r, w) in zip(rawVectors, want) {
            #expect(cosine(r, w) > 0.99999)
            #expect(abs(norm(r) - 1) > 1e-3, "unnormalized vector has norm 1")
        }

        var short = EmbedderOptions(modelPath: path)
        short.outputDimension = 8
        let shortEmbedder = try Embedder(options: short)
        #expect(shortEmbedder.dimension == 8)
        for (s, r) in zip(try shortEmbedder.embed(texts), rawVectors) {
            #expect(s.count == 8)
            #expect(cosine(s, Array(r[..<8])) > 0.99999)
        }

        var cls = EmbedderOptions(modelPath: path)
        cls.pooling = .cls
        let clsEmbedder = try Embedder(options: cls)
        #expect(clsEmbedder.info.pooling == .cls)
        #expect(cosine(try clsEmbedder.embed([texts[0]])[0], want[0]) < 0.9999, "CLS pooling gave the mean-pooled vector")

        var batches = EmbedderOptions(modelPath: path)
        batches.batchTokenBudget = 20
        batches.maxBatchSize = 3
        batches.intraThreads = 1
        batches.maxSessions = 1
        batches.device = .cpu
        for (g, w) in zip(try Embedder(options: batches).embed(texts), want) {
            #expect(maxAbsDiff(g, w) <= 2e-5)
        }
    }

    @Test("empty strings and non-ASCII text are valid input; an empty list is an error")
    func inputs() throws {
        let embedder = try Self.load("embed-bert")
        let got = try embedder.embed(["", "東京は日本の首都です 🍕", "e\u{301}"])
        #expect(got.map(\.count) == [32, 32, 32])
        let error = nodespaceError { try embedder.embed([]) }
        #expect(error?.status == 1)
        #expect(error?.statusName == "NS_ERR_INVALID_ARGUMENT")
        #expect(error?.message.contains("no texts") == true, "\(String(describing: error))")
    }

    @Test("a missing folder is modelNotFound naming the path")
    func missingModel() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("nodespace-no-such-model").path
        let error = nodespaceError { try Embedder(options: EmbedderOptions(modelPath: path)) }
        guard case .modelNotFound(let message) = error else {
            Issue.record("expected modelNotFound, got \(String(describing: error))")
            return
        }
        #expect(error?.status == 6)
        #expect(message.contains("nodespace-no-such-model"), "\(message)")
    }

    @Test("an unknown variant is modelNotFound listing the available ones")
    func unknownVariant() throws {
        let error = nodespaceError {
            try Embedder(options: EmbedderOptions(modelPath: Fixtures.tiny("embed-bert"), variant: "int4"))
        }
        #expect(error?.status == 6)
        #expect(error?.message.contains("quantized") == true, "\(String(describing: error))")
    }

    @Test("invalid options are invalidArgument with the library's message")
    func invalidOptions() throws {
        var tooWide = EmbedderOptions(modelPath: Fixtures.tiny("embed-bert"))
        tooWide.outputDimension = 33
        let wide = nodespaceError { try Embedder(options: tooWide) }
        #expect(wide?.status == 1)
        #expect(wide?.message.isEmpty == false)

        var prompt = EmbedderOptions(modelPath: Fixtures.tiny("embed-bert-nott"))
        prompt.promptName = "document"
        let promptError = nodespaceError { try Embedder(options: prompt) }
        #expect(promptError?.status == 1)
        #expect(promptError?.message.contains("query") == true, "\(String(describing: promptError))")

        // Values a C field cannot hold are caught in Swift, with the same status.
        var negative = EmbedderOptions(modelPath: Fixtures.tiny("embed-bert"))
        negative.intraThreads = -1
        let negativeError = nodespaceError { try Embedder(options: negative) }
        #expect(negativeError?.status == 1)
        #expect(negativeError?.message.contains("intraThreads") == true)

        let nul = nodespaceError { try Embedder(options: EmbedderOptions(modelPath: "models\u{0}x")) }
        #expect(nul?.status == 1)
    }

    @Test("a corrupt tokenizer.json is a tokenizer error naming the file")
    func corruptTokenizer() throws {
        let dir = try scratchCopy("embed-bert", "garbage-tokenizer")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data("{ not json".utf8).write(to: URL(fileURLWithPath: dir + "/tokenizer.json"))
        let error = nodespaceError { try Embedder(options: EmbedderOptions(modelPath: dir)) }
        guard case .tokenizer(let message) = error else {
            Issue.record("expected tokenizer, got \(String(describing: error))")
            return
        }
        #expect(message.contains("tokenizer.json"), "\(message)")
    }

    @Test("embedders are freed when released")
    func freedOnRelease() throws {
        weak var weakEmbedder: Embedder?
        do {
            let embedder = try Self.load("embed-bert")
            weakEmbedder = embedder
            _ = try embedder.embed(["x"])
        }
        #expect(weakEmbedder == nil)
        // Many load/free cycles: handles are released in deinit, never twice.
        for _ in 0 ..< 20 {
            _ = try Self.load("embed-pooled").embed(["y"])
        }
    }
}

/// A writable copy of a tiny model folder under the temporary directory.
func scratchCopy(_ model: String, _ tag: String) throws -> String {
    let dir = FileManager.default.temporaryDirectory
        .appendingPathComponent("nodespace-swift-\(tag)-\(ProcessInfo.processInfo.processIdentifier)").path
    try? FileManager.default.removeItem(atPath: dir)
    try FileManager.default.copyItem(atPath: Fixtures.tiny(model), toPath: dir)
    return dir
}
