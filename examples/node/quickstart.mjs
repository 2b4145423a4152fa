// nodespace from Node.js: embed sentences, then stream a chat answer.
//
//   cd bindings/node && npm ci && cd ../..
//   export NODESPACE_LIBRARY=$PWD/target/release/libnodespace.so   # after cargo build --release
//   export NS_ONNXRUNTIME_PATH=/path/to/libonnxruntime.so           # if the library cannot find it
//   node examples/node/quickstart.mjs [EMBED_MODEL_DIR] [GENERATE_MODEL_DIR]
//
// Defaults: models/real/all-MiniLM-L6-v2 and models/real/SmolLM2-135M-Instruct when present,
// else the tiny test models (whose output is random text: they only exercise the code).

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
// In an application: import { Embedder, Generator, AbortError } from 'nodespace';
import { Embedder, Generator, AbortError } from '../../bindings/node/index.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const pick = (arg, real, tiny) => arg ?? (existsSync(path.join(repo, real)) ? path.join(repo, real) : path.join(repo, tiny));
const embedModel = pick(process.argv[2], 'models/real/all-MiniLM-L6-v2', 'models/tiny/embed-bert');
const generateModel = pick(process.argv[3], 'models/real/SmolLM2-135M-Instruct', 'models/tiny/gen-llama');

const cosine = (a, b) => a.reduce((sum, x, i) => sum + x * b[i], 0); // vectors are L2-normalized

// --- Embeddings -------------------------------------------------------------------------
const embedder = await Embedder.load({ model: embedModel }); // loads on a worker thread
try {
  const sentences = ['A man is eating food.', 'A man is eating a piece of bread.', 'A man is riding a horse.'];
  const vectors = await embedder.embed(sentences); // Float32Array[], computed off the main thread
  console.log(`${path.basename(embedModel)}: ${vectors.length} vectors of ${embedder.dimension} floats (${embedder.info.provider})`);
  for (let i = 1; i < sentences.length; i++) {
    console.log(`  cosine(${JSON.stringify(sentences[0])}, ${JSON.stringify(sentences[i])}) = ${cosine(vectors[0], vectors[i]).toFixed(3)}`);
  }
  const one = await embedder.embedOne('just one text');
  console.log(`  embedOne -> Float32Array(${one.length})`);
} finally {
  await embedder.close();
}

// --- Streamed generation ----------------------------------------------------------------
if (existsSync(generateModel)) {
  const generator = await Generator.load({ model: generateModel });
  try {
    const messages = [{ role: 'user', content: 'What is the capital of France?' }];
    const prompt = generator.info.hasChatTemplate ? messages : 'The capital of France is';
    // The event loop stays free while the model runs: this timer keeps ticking.
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    process.stdout.write(`${path.basename(generateModel)}> `);
    const stream = generator.stream(prompt, { greedy: true, maxNewTokens: 32 });
    for await (const chunk of stream) process.stdout.write(chunk);
    clearInterval(timer);
    const { stats } = await stream.result;
    console.log(`\n  [${stats.generatedTokens} tokens, stop: ${stats.stopReason}, ${stats.decodeTokensPerS.toFixed(1)} tok/s; a 10 ms timer ticked ${ticks} times meanwhile]`);

    // Cancellation: an AbortSignal (here a 500 ms timeout) rejects with an AbortError.
    try {
      await generator.generate(prompt, { maxNewTokens: 1000, signal: AbortSignal.timeout(500) });
      console.log('  finished before the timeout');
    } catch (e) {
      if (!(e instanceof AbortError)) throw e;
      console.log(`  aborted (${e.code}) after ${e.stats.generatedTokens} tokens: ${JSON.stringify(e.text.slice(0, 40))}...`);
    }
  } finally {
    await generator.close();
  }
} else {
  console.log(`(no generation model at ${generateModel}: skipping the generation part)`);
}
