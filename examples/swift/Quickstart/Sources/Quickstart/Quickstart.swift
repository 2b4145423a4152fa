// Quickstart: embed sentences and compare them; optionally stream a chat reply.
//
//   swift run Quickstart EMBEDDING_MODEL_DIR [GENERATION_MODEL_DIR]
//
// libnodespace must be found at link and run time (LIBRARY_PATH, and LD_LIBRARY_PATH or
// DYLD_LIBRARY_PATH), and ONNX Runtime beside it or through NS_ONNXRUNTIME_PATH.
import Foundation
import NodeSpace

@main
struct Quickstart {
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        guard let embeddingModel = arguments.first else {
            print("usage: Quickstart EMBEDDING_MODEL_DIR [GENERATION_MODEL_DIR]")
            exit(2)
        }
        do {
            try await embed(modelPath: embeddingModel)
            if arguments.count > 1 {
                try await chat(modelPath: arguments[1])
            }
        } catch let error as NodeSpaceError {
            print("nodespace error \(error.statusName): \(error.message)")
            exit(1)
        } catch {
            print("error: \(error)")
            exit(1)
        }
    }

    static func embed(modelPath: String) async throws {
        // Loading and inference block, so the async APIs run them on their own threads.
        let embedder = try await Embedder.load(options: EmbedderOptions(modelPath: modelPath))
        let sentences = ["The cat sits on the mat.", "A cat is sitting on a rug.", "Stock prices fell sharply."]
        let vectors = try await embedder.embed(sentences)
        print("\(embedder.info.modelFile): \(embedder.dimension) dimensions on \(embedder.info.provider)")
        for (sentence, vector) in zip(sentences.dropFirst(), vectors.dropFirst()) {
            // Vectors are L2-normalized: the dot product is the cosine similarity.
            let similarity = zip(vectors[0], vector).map(*).reduce(0, +)
            print("similarity(\"\(sentences[0])\", \"\(sentence)\") = \(similarity)")
        }
    }

    static func chat(modelPath: String) async throws {
        let generator = try await Generator.load(options: GeneratorOptions(modelPath: modelPath))
        let request = generator.info.hasChatTemplate
            ? GenerationRequest(messages: [.system("You are concise."), .user("Name three colors.")],
                                maxNewTokens: 24, sampling: .greedy)
            : GenerationRequest(prompt: "Three colors:", maxNewTokens: 24, sampling: .greedy)
        print("reply: ", terminator: "")
        // Chunks arrive as they are generated; leaving the loop early (or cancelling the
        // task) stops the native generation.
        for try await chunk in generator.stream(request) {
            print(chunk, terminator: "")
        }
        print()
        // The whole text at once, with counts and timings.
        let result = try await generator.generate(request)
        print("\(result.stats.generatedTokens) tokens, stop: \(result.stopReason), "
            + "\(Int(result.stats.decodeTokensPerSecond)) tokens/s")
    }
}
