// An application that installed the NodeSpace NuGet package: no environment variable, no
// dllmap of its own, no path to the native library. Prints one JSON line (embedding checks,
// a streamed greedy answer) that scripts/package/test_nuget.sh checks against the CLI.
//   mono App.exe EMBED_MODEL_DIR GENERATE_MODEL_DIR
using System;
using System.IO;
using System.Runtime.Serialization.Json;
using System.Text;
using NodeSpace;

internal static class NugetApp
{
    private static int Main(string[] args)
    {
        float same, other;
        int dimension;
        using (Embedder embedder = Embedder.LoadAsync(new EmbedderOptions(args[0])).GetAwaiter().GetResult())
        {
            float[][] v = embedder.Embed(new[] { "the same note", "the same note", "another note" });
            dimension = v[0].Length;
            same = Dot(v[0], v[1]);
            other = Dot(v[0], v[2]);
        }
        var streamed = new StringBuilder();
        GenerationResult result;
        using (Generator generator = Generator.LoadAsync(new GeneratorOptions(args[1])).GetAwaiter().GetResult())
        {
            GenerationRequest request = GenerationRequest.FromUser("Summarize: the meeting moved to Friday.");
            request.MaxNewTokens = 16;
            request.Sampling = Sampling.Greedy;
            result = generator.GenerateAsync(request, chunk => streamed.Append(chunk)).GetAwaiter().GetResult();
        }
        Console.WriteLine("{\"dimension\":" + dimension + ",\"sameCosine\":" + Math.Round(same, 4).ToString(System.Globalization.CultureInfo.InvariantCulture) +
            ",\"otherBelowOne\":" + (other < 0.9999f ? "true" : "false") + ",\"streamedEqualsText\":" + (streamed.ToString() == result.Text ? "true" : "false") +
            ",\"tokens\":" + result.GeneratedTokens + ",\"text\":" + Json(result.Text) + "}");
        return 0;
    }

    private static string Json(string text)
    {
        using (var stream = new MemoryStream())
        {
            new DataContractJsonSerializer(typeof(string)).WriteObject(stream, text);
            return Encoding.UTF8.GetString(stream.ToArray());
        }
    }

    private static float Dot(float[] a, float[] b)
    {
        float sum = 0;
        for (int i = 0; i < a.Length; i++) sum += a[i] * b[i];
        return sum;
    }
}
