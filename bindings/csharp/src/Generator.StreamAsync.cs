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
        /// are thrown from the loop. As with <see cref="Stream"/>, leaving the loop does not wait for
        /// the native call to return (it ends moments later; its task is observed and its
        /// resources are freed then).
        /// </summary>
        public async IAsyncEnumerable<string> StreamAsync(GenerationRequest request,
                                                          [EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            var chunks = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
            // Disposed by FinishInBackground once the generation has ended, which may be after this loop.
            var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            Task<GenerationResult> generation;
            try
            {
                generation = GenerateAsync(request, chunk => { chunks.Writer.TryWrite(chunk); }, stop.Token);
            }
            catch
            {
                stop.Dispose();
                throw;
            }
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
                // Left early or cancelled: stop the native generation, without awaiting it here
                // (see StreamChunks in Generator.cs).
                if (!generation.IsCompleted) stop.Cancel();
                FinishInBackground(generation, stop);
            }
        }
    }
}
#endif
