// NodeSpace quickstart: semantic search over a few notes, then streamed text about the best hit.
//
//   mono Quickstart.exe [EMBEDDING_MODEL_DIR [GENERATION_MODEL_DIR]]
//
// Defaults to the real models installed by scripts/setup.sh. Build and run: see README.md here.
using System;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using NodeSpace;

internal static class Quickstart
{
    private static int Main(string[] args)
    {
        string embeddingModel = args.Length > 0 ? args[0] : "models/real/all-MiniLM-L6-v2";
        string generationModel = args.Length > 1 ? args[1] : args.Length == 0 ? "models/real/SmolLM2-135M-Instruct" : null;
        try
        {
            RunAsync(embeddingModel, generationModel).GetAwaiter().GetResult();
            return 0;
        }
        catch (NodeSpaceException e)
        {
            // e.Status is the library's status (e.g. NodeSpaceStatus.ModelNotFound); the message names the path.
            Console.Error.WriteLine("error: " + e.Message);
            return 1;
        }
    }

    private static async Task RunAsync(string embeddingModel, string generationModel)
    {
        Console.WriteLine("nodespace " + NodeSpaceRuntime.Version + ", ONNX Runtime " + NodeSpaceRuntime.OnnxRuntimeVersion);

        // 1. Embeddings: load once (slow), then embed from any thread.
        string[] notes =
        {
            "Budget review moved to Friday 10:00, bring the Q3 numbers.",
            "Dentist appointment on Tuesday.",
            "Ask Maria for the updated finance spreadsheet before the review.",
            "Buy milk, eggs and coffee.",
        };
        string best;
        using (Embedder embedder = await Embedder.LoadAsync(new EmbedderOptions(embeddingModel)))
        {
            Console.WriteLine("embedder: " + embedder.Info.ModelFile + " (" + embedder.Dimension + " dimensions, " + embedder.Info.Provider + ")");
            float[][] vectors = await embedder.EmbedAsync(notes);
            float[] query = embedder.Embed("when is the finance meeting?");
            // Vectors are L2-normalized: the dot product is the cosine similarity.
            var ranked = notes.Select((note, i) => new { Note = note, Score = Dot(query, vectors[i]) })
                              .OrderByDescending(x => x.Score);
            foreach (var hit in ranked) Console.WriteLine($"  {hit.Score:F3}  {hit.Note}");
            best = ranked.First().Note;
        }

        if (generationModel == null) return;

        // 2. Generation: chunks stream to the callback; the token cancels the native generation.
        using (Generator generator = await Generator.LoadAsync(new GeneratorOptions(generationModel)))
        using (var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2)))
        {
            GenerationRequest request = GenerationRequest.FromUser("Rewrite as a short reminder: " + best);
            request.MaxNewTokens = 48;
            Console.Write("reminder: ");
            GenerationResult result = await generator.GenerateAsync(request, chunk => Console.Write(chunk), timeout.Token);
            Console.WriteLine();
            Console.WriteLine($"  [{result.GeneratedTokens} tokens, {result.DecodeTokensPerSecond:F1} tokens/s, stopped by {result.StopReason}]");

            // The same as a blocking sequence of chunks.
            Console.Write("action items: ");
            var items = GenerationRequest.FromUser("List the action items: " + best);
            items.MaxNewTokens = 48;
            foreach (string chunk in generator.Stream(items)) Console.Write(chunk);
            Console.WriteLine();
        }
    }

    private static float Dot(float[] a, float[] b)
    {
        float sum = 0;
        for (int i = 0; i < a.Length; i++) sum += a[i] * b[i];
        return sum;
    }
}
