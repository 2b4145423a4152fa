import CNodeSpace

/// A sentence-embedding model (`ns_embedder`): texts in, fixed-size float vectors out.
///
/// Sendable: the C API lets one embedder be used by many threads at once (calls run in
/// parallel on up to `maxSessions` sessions and give bitwise-identical results), and the
/// handle is only freed in `deinit`, when no call can be running.
///
///     let embedder = try Embedder(options: EmbedderOptions(modelPath: "models/all-MiniLM-L6-v2"))
///     let vectors = try await embedder.embed(["first text", "second text"])
public final class Embedder: @unchecked Sendable {
    private let handle: OpaquePointer
    /// Floats per vector.
    public let dimension: Int
    /// What the embedder detected and runs with.
    public let info: EmbedderInfo

    /// Loads the model. Slow (reads and optimizes the graph): in async code prefer
    /// `Embedder.load(options:)`, which does it off the cooperative thread pool.
    public init(options: EmbedderOptions) throws {
        let arena = NativeArena()
        defer { arena.release() }
        var native = ns_embedder_options()
        try check(ns_embedder_options_init(&native, MemoryLayout<ns_embedder_options>.size))
        native.model_path = try arena.cString(options.modelPath, "options.modelPath")
        native.variant = try arena.optionalCString(options.variant, "options.variant")
        native.device = options.device.rawValue
        native.intra_threads = try uint32(options.intraThreads, "options.intraThreads")
        native.max_sessions = try uint32(options.maxSessions, "options.maxSessions")
        native.pooling = options.pooling?.rawValue ?? NS_POOLING_DEFAULT
        native.normalize = options.normalize ? 1 : 0
        native.max_length = try uint32(options.maxLength, "options.maxLength")
        native.output_dimension = try uint32(options.outputDimension, "options.outputDimension")
        native.prompt_name = try arena.optionalCString(options.promptName, "options.promptName")
        native.batch_token_budget = try uint32(options.batchTokenBudget, "options.batchTokenBudget")
        native.max_batch_size = try uint32(options.maxBatchSize, "options.maxBatchSize")
        native.fail_on_truncation = options.failOnTruncation ? 1 : 0

        var out: OpaquePointer?
        try check(ns_embedder_new(&native, &out, nil))
        guard let out else { throw NodeSpaceError.internal("ns_embedder_new returned NS_OK and no embedder") }
        do {
            var raw = ns_embedder_info()
            raw.struct_size = UInt32(MemoryLayout<ns_embedder_info>.size)
            try check(ns_embedder_get_info(out, &raw))
            info = EmbedderInfo(
                dimension: raw.dimension,
                maxLength: raw.max_length,
                pooling: Pooling(rawValue: raw.pooling),
                normalize: raw.normalize != 0,
                modelFile: string(raw.model_file) ?? "",
                provider: string(raw.provider) ?? "",
                fallbackReason: string(raw.fallback_reason)
            )
        } catch {
            ns_embedder_free(out)
            throw error
        }
        handle = out
        dimension = info.dimension
    }

    /// Loads the model on a separate thread (loading blocks for as long as it takes).
    public static func load(options: EmbedderOptions) async throws -> Embedder {
        try await Worker.run("nodespace.embedder.load") { try Embedder(options: options) }
    }

    deinit {
        ns_embedder_free(handle)
    }

    /// One vector (`dimension` floats) per text, in input order. Blocks while the model
    /// runs; in async code use the `async` overload. An empty list is an error
    /// (`.invalidArgument`), an empty string is not. `promptName`: the model's prompt for
    /// this call ("query" for a search, "document" for the notes it searches: one loaded
    /// model serves both) instead of the embedder's own; a name the model does not define
    /// throws `.invalidArgument` listing the ones it does.
    public func embed(_ texts: [String], promptName: String? = nil) throws -> [[Float]] {
        try embedBlocking(texts, promptName: promptName)
    }

    /// One vector per text, computed on a separate thread so that the caller's task is
    /// suspended, not a cooperative-pool thread blocked.
    public func embed(_ texts: [String], promptName: String? = nil) async throws -> [[Float]] {
        try await Worker.run("nodespace.embed") { [self] in try embedBlocking(texts, promptName: promptName) }
    }

    /// The vector of one text.
    public func embed(_ text: String, promptName: String? = nil) async throws -> [Float] {
        try await embed([text], promptName: promptName)[0]
    }

    private func embedBlocking(_ texts: [String], promptName: String?) throws(NodeSpaceError) -> [[Float]] {
        let arena = NativeArena()
        defer { arena.release() }
        let prompt = try arena.optionalCString(promptName, "promptName")
        // All texts in one buffer, passed with explicit byte lengths (no NUL terminators
        // needed; a trailing byte keeps the buffer non-empty).
        var bytes: [UInt8] = []
        var offsets: [Int] = []
        var lengths: [Int] = []
        offsets.reserveCapacity(texts.count)
        lengths.reserveCapacity(texts.count)
        for text in texts {
            offsets.append(bytes.count)
            let before = bytes.count
            bytes.append(contentsOf: text.utf8)
            lengths.append(bytes.count - before)
        }
        bytes.append(0)
        if lengths.isEmpty { lengths.append(0) } // never a NULL array; count stays 0

        var out = [Float](repeating: 0, count: max(texts.count * dimension, 1))
        let status = bytes.withUnsafeBufferPointer { buffer -> Int32 in
            let base = UnsafeRawPointer(buffer.baseAddress!).assumingMemoryBound(to: CChar.self)
            var pointers: [UnsafePointer<CChar>?] = offsets.map { base + $0 }
            if pointers.isEmpty { pointers.append(base) }
            return pointers.withUnsafeBufferPointer { textPointers in
                lengths.withUnsafeBufferPointer { lengthPointer in
                    out.withUnsafeMutableBufferPointer { outBuffer in
                        if let prompt {
                            ns_embed_batch_with_prompt(handle, prompt, textPointers.baseAddress, lengthPointer.baseAddress,
                                                       texts.count, outBuffer.baseAddress, texts.count * dimension, nil)
                        } else {
                            ns_embed_batch(handle, textPointers.baseAddress, lengthPointer.baseAddress, texts.count,
                                           outBuffer.baseAddress, texts.count * dimension, nil)
                        }
                    }
                }
            }
        }
        try check(status)
        return (0 ..< texts.count).map { i in Array(out[i * dimension ..< (i + 1) * dimension]) }
    }
}
