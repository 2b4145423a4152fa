using System.Runtime.CompilerServices;

// The Mono test program checks the private struct layouts against the library's own sizes.
[assembly: InternalsVisibleTo("NodeSpace.Tests")]
