// .NET Core 3+ / .NET 5+ only (IAsyncEnumerable, System.Threading.Channels, C# 8). Mono's mcs
// cannot build this, so the tests cannot run it: it is kept to a few lines over the tested
// GenerateAsync (cancellation, exceptions, chunk order) and adds no native interop of its own.
#if NETCOREAPP3_0_OR_GREATER
using System.Collections.Generic;
using System.Runtime.CompilerServices;
using System.Threading;
using System.Threading.Channels;
using System.Threading.Tasks;

namespace NodeSpace
{
    public sealed partial class Generator
    {
        /// <summary>
        /// The generated text as an async stream of chunks (<c>await foreach</c>). Cancelling the
        /// token, or leaving the loop early, stops the native generation; errors of the generation
        /// are thrown from the loop.
        /// </summary>
        public async IAsyncEnumerable<string> StreamAsync(GenerationRequest request,
                                                          [EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            var chunks = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            Task<GenerationResult> generation = GenerateAsync(request, chunk => { chunks.Writer.TryWrite(chunk); }, stop.Token);
            _ = generation.ContinueWith(finished => { chunks.Writer.TryComplete(); }, CancellationToken.None,
                                        TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            try
            {
                await foreach (string chunk in chunks.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
                {
                    yield return chunk;
                }
                await generation.ConfigureAwait(false); // the generation's exception, if any
            }
            finally
            {
                stop.Cancel();
                try { await generation.ConfigureAwait(false); } catch { /* reported above, or the loop was left early */ }
            }
        }
    }
}
#endif
