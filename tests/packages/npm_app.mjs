// An application that installed nodespace from npm: no environment variable, no path.
// Prints one JSON line (the library's source, embedding checks, a streamed greedy answer)
// that scripts/package/test_npm.sh compares across platforms.
//   node npm_app.mjs EMBED_MODEL_DIR GENERATE_MODEL_DIR
import { init, Embedder, Generator } from 'nodespace';

const [embedModel, generateModel] = process.argv.slice(2);
const { source } = await init();

const embedder = await Embedder.load({ model: embedModel });
const [a, b, c] = await embedder.embed(['the same note', 'the same note', 'another note']);
const cosine = (x, y) => x.reduce((sum, v, i) => sum + v * y[i], 0);
await embedder.close();

const generator = await Generator.load({ model: generateModel });
const stream = generator.stream([{ role: 'user', content: 'Summarize: the meeting moved to Friday.' }], {
  maxNewTokens: 16,
  greedy: true,
});
let streamed = '';
for await (const chunk of stream) streamed += chunk;
const result = await stream.result;
await generator.close();

console.log(JSON.stringify({
  source,
  dimension: a.length,
  sameCosine: Number(cosine(a, b).toFixed(4)),
  otherCosine: Number(cosine(a, c).toFixed(4)),
  streamedEqualsText: streamed === result.text,
  text: result.text,
  tokens: result.stats.generatedTokens,
}));
