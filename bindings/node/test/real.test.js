'use strict';
// Real models against the Rust CLI: all-MiniLM-L6-v2 (embeddings, cosine >= 0.99999 vs
// `cli embed --json`), nomic-embed-text-v1.5 (against llama.cpp's vectors), embeddinggemma-300m (against sentence-transformers'), SmolLM2-135M-Instruct, Qwen2.5-Coder-0.5B-Instruct's q4 graph and gemma-3-270m
// (greedy text equal to `cli generate --greedy --json`). Each skips loudly ("SKIPPED") when its folder under models/real/ is absent
// (NS_REAL_MODELS=DIR looks elsewhere; NS_REQUIRE_REAL_MODELS=1 turns the skip into a failure).

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { Embedder, Generator } = require('..');
const { repo, realModel, skipLoudly, cliPath, cliEmbed, cliGenerate, cosine } = require('./helpers');

const TEXTS = [
  'A man is eating food.',
  'A man is eating a piece of bread.',
  'The girl is carrying a baby.',
  'A man is riding a horse.',
  'Two men pushed carts through the woods.',
  'Café naïve Ünïcödé — 東京は日本の首都です 🍕',
  '',
  'This is a much longer sentence about on-device embeddings, ONNX Runtime, tokenizers and the C ABI that a Node.js binding calls through koffi without blocking the event loop. '.repeat(8),
];

function needCli(t) {
  if (cliPath()) return true;
  skipLoudly(t, 'the reference CLI is not built (cargo build --release --example cli; test.sh builds it)');
  return false;
}

test('all-MiniLM-L6-v2: embeddings match `cli embed --json` (cosine >= 0.99999)', async (t) => {
  const dir = realModel(t, 'all-MiniLM-L6-v2');
  if (!dir || !needCli(t)) return;
  const variants = [undefined];
  if (fs.existsSync(path.join(dir, 'onnx', 'model_int8.onnx'))) variants.push('int8');
  for (const variant of variants) {
    const reference = cliEmbed(dir, TEXTS, variant);
    const embedder = await Embedder.load({ model: dir, variant });
    try {
      assert.equal(embedder.dimension, 384);
      const vectors = await embedder.embed(TEXTS);
      assert.equal(vectors.length, reference.length);
      let worst = 1;
      vectors.forEach((v, i) => {
        const c = cosine(v, reference[i]);
        worst = Math.min(worst, c);
        assert.ok(c >= 0.99999, `${variant ?? 'model.onnx'} text ${i}: cosine ${c}`);
      });
      t.diagnostic(`${variant ?? 'model.onnx'}: worst cosine vs CLI ${worst}`);
      // Semantics survive: the two eating sentences are closer than eating vs riding.
      assert.ok(cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[3]));
    } finally {
      await embedder.close();
    }
  }
});

// nomic-embed-text-v1.5 against llama.cpp's vectors of the same GGUF
// (tests/data/nomic_reference.json; cosine >= 0.9999: llama.cpp rounds activations to f16).
test('nomic-embed-text-v1.5: task prompts per call, Matryoshka 256 and failOnTruncation match llama.cpp', async (t) => {
  const dir = realModel(t, 'nomic-embed-text-v1.5');
  if (!dir) return;
  const ref = JSON.parse(fs.readFileSync(path.join(repo, 'tests', 'data', 'nomic_reference.json'), 'utf8'));
  const short = ref.texts.map((text, i) => i).filter((i) => ref.input_ids[i].length < 100);
  const embedder = await Embedder.load({ model: dir });
  try {
    assert.equal(embedder.info.maxLength, 2048);
    let checked = 0;
    for (const [name, prefix] of [['query', 'search_query: '], ['document', 'search_document: ']]) {
      const chosen = short.filter((i) => ref.texts[i].startsWith(prefix));
      const got = await embedder.embed(chosen.map((i) => ref.texts[i].slice(prefix.length)), { promptName: name });
      chosen.forEach((i, k) => {
        const c = cosine(got[k], ref.embeddings[i]);
        assert.ok(c >= 0.9999, `${name}: text ${i}: cosine ${c}`);
      });
      checked += chosen.length;
    }
    assert.ok(checked >= 5, `only ${checked} prefixed texts`);
    await assert.rejects(embedder.embed('x', { promptName: 'passage' }), (e) => {
      assert.equal(e.code, 'NS_ERR_INVALID_ARGUMENT');
      assert.match(e.message, /classification, clustering, document, query/);
      return true;
    });
  } finally {
    await embedder.close();
  }
  const small = await Embedder.load({ model: dir, outputDimension: 256, failOnTruncation: true });
  try {
    assert.equal(small.dimension, 256);
    const chosen = ref.matryoshka.texts.filter((i) => ref.input_ids[i].length < 100);
    const got = await small.embed(chosen.map((i) => ref.texts[i]));
    chosen.forEach((i, k) => {
      const c = cosine(got[k], ref.matryoshka['256'][ref.matryoshka.texts.indexOf(i)]);
      assert.ok(c >= 0.9999, `256 dimensions, text ${i}: cosine ${c}`);
    });
    const longest = ref.input_ids.reduce((best, ids, i) => (ids.length > ref.input_ids[best].length ? i : best), 0);
    await assert.rejects(small.embed(['short', `${ref.texts[longest]} ${ref.texts[longest]}`]), (e) => {
      assert.equal(e.code, 'NS_ERR_CONTEXT_OVERFLOW');
      assert.match(e.message, /text 1 is \d+ tokens.*at most 2048/);
      return true;
    });
  } finally {
    await small.close();
  }
  await assert.rejects(Embedder.load({ model: dir, outputDimension: 300 }), { code: 'NS_ERR_INVALID_ARGUMENT' });
});

// EmbeddingGemma-300M against sentence-transformers on the same folder
// (tests/data/embeddinggemma_reference.json; both fp32: cosine >= 0.99999).
test('embeddinggemma-300m: prompts per call and Matryoshka 256 match sentence-transformers', async (t) => {
  const dir = realModel(t, 'embeddinggemma-300m');
  if (!dir) return;
  const ref = JSON.parse(fs.readFileSync(path.join(repo, 'tests', 'data', 'embeddinggemma_reference.json'), 'utf8'));
  const short = ref.texts.map((_, i) => i).filter((i) => ref.input_ids[i].length < 40);
  const embedder = await Embedder.load({ model: dir });
  const small = await Embedder.load({ model: dir, outputDimension: 256 });
  try {
    assert.equal(embedder.info.pooling, 'in_graph');
    for (const i of short) {
      const options = ref.prompt_names[i] ? { promptName: ref.prompt_names[i] } : {};
      const c = cosine(await embedder.embed(ref.texts[i], options), ref.embeddings[i]);
      assert.ok(c >= 0.99999, `text ${i} (${ref.prompt_names[i]}): cosine ${c}`);
    }
    assert.equal(small.dimension, 256);
    for (const [k, i] of ref.matryoshka.texts.entries()) {
      if (ref.input_ids[i].length >= 40) continue;
      const v = await small.embed(ref.texts[i], { promptName: ref.prompt_names[i] ?? undefined });
      const c = cosine(v, ref.matryoshka['256'][k]);
      assert.ok(c >= 0.99999, `256 dimensions, text ${i}: cosine ${c}`);
    }
    await assert.rejects(Embedder.load({ model: dir, outputDimension: 64 }), { code: 'NS_ERR_INVALID_ARGUMENT' });
  } finally {
    await Promise.all([embedder.close(), small.close()]);
  }
});

const PROMPTS = [
  { user: 'What is the capital of France?' },
  { user: 'Write a haiku about the sea.' },
  { system: 'You are a concise assistant.', user: 'Rewrite politely: send the report' },
  { user: 'List three colors.' },
];

async function greedyEqualsCli(t, name, variant, prompts) {
  const dir = realModel(t, name);
  if (!dir || !needCli(t)) return;
  // KV prefix reuse on (the default): the CLI runs every prompt fresh, and a reused prefix
  // gives the same bits (attention never runs a single row: the spare row).
  const generator = await Generator.load({ model: dir, variant });
  try {
    // A base model's prompts are raw text ({ prompt }), a chat model's messages.
    assert.equal(generator.info.hasChatTemplate, prompts.every((p) => p.user !== undefined));
    for (const p of prompts) {
      const reference = cliGenerate(dir, { ...p, maxNewTokens: 32, variant });
      const messages = [];
      if (p.system) messages.push({ role: 'system', content: p.system });
      if (p.user !== undefined) messages.push({ role: 'user', content: p.user });
      const stream = generator.stream(p.prompt ?? messages, { greedy: true, maxNewTokens: 32 });
      const chunks = [];
      for await (const chunk of stream) chunks.push(chunk);
      const { text, stats } = await stream.result;
      assert.equal(text, reference.text, `${JSON.stringify(p)}: text differs from the CLI`);
      assert.equal(chunks.join(''), text);
      assert.equal(stats.generatedTokens, reference.tokens.length);
      assert.equal(stats.promptTokens, reference.prompt_tokens.length);
      assert.equal(stats.stopReason, reference.stop_reason);
      t.diagnostic(`${JSON.stringify(p.user ?? p.prompt)} -> ${JSON.stringify(text)} (${stats.generatedTokens} tokens, ${stats.decodeTokensPerS.toFixed(1)} tok/s)`);
    }
  } finally {
    await generator.close();
  }
}

test('SmolLM2-135M-Instruct: greedy text equals `cli generate --greedy --json`', async (t) => {
  await greedyEqualsCli(t, 'SmolLM2-135M-Instruct', undefined, PROMPTS);
});

test('Qwen2.5-Coder-0.5B-Instruct (q4): greedy text equals `cli generate --greedy --json`', async (t) => {
  await greedyEqualsCli(t, 'Qwen2.5-Coder-0.5B-Instruct', 'q4', [
    ...PROMPTS.slice(0, 2),
    { user: 'Write a Python function that checks whether a number is prime.' },
  ]);
});

test('gemma-3-270m (fused, raw text): greedy text equals transformers\' (tests/data/gemma3_greedy.json) and the CLI', async (t) => {
  const dir = realModel(t, 'gemma-3-270m');
  if (!dir) return;
  const reference = JSON.parse(fs.readFileSync(path.join(repo, 'tests', 'data', 'gemma3_greedy.json'), 'utf8'));
  const cases = reference.cases.slice(0, 4);
  const generator = await Generator.load({ model: dir, variant: 'fused' });
  try {
    assert.equal(generator.info.hasChatTemplate, false);
    for (const c of cases) {
      assert.equal(c.finish_reason, 'length');
      const { text, stats } = await generator.generate(c.prompt_text, { greedy: true, maxNewTokens: c.generated_ids.length });
      assert.equal(text, c.generated_text, `${JSON.stringify(c.prompt_text)}: text differs from transformers`);
      assert.equal(stats.promptTokens, c.prompt_ids.length);
    }
  } finally {
    await generator.close();
  }
  await greedyEqualsCli(t, 'gemma-3-270m', 'q4', cases.slice(0, 2).map((c) => ({ prompt: c.prompt_text })));
});

test('SmolLM2: a timer keeps ticking during one generation; AbortSignal stops it promptly', async (t) => {
  const dir = realModel(t, 'SmolLM2-135M-Instruct');
  if (!dir) return;
  const generator = await Generator.load({ model: dir });
  try {
    let ticks = 0;
    let maxGap = 0;
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
      ticks += 1;
    }, 5);
    const started = performance.now();
    const { stats } = await generator.generate([{ role: 'user', content: 'Tell me a long story about a lighthouse.' }], { greedy: true, maxNewTokens: 48 });
    const ms = performance.now() - started;
    clearInterval(timer);
    t.diagnostic(`${stats.generatedTokens} tokens in ${ms.toFixed(0)} ms; ${ticks} ticks of a 5 ms timer, longest gap ${maxGap.toFixed(1)} ms`);
    assert.ok(ticks >= Math.floor(ms / 5 / 4), `${ticks} ticks in ${ms} ms`);

    const controller = new AbortController();
    setTimeout(() => controller.abort(), 150);
    const t0 = performance.now();
    await assert.rejects(generator.generate([{ role: 'user', content: 'Count from one to one thousand.' }], { greedy: true, maxNewTokens: 400, signal: controller.signal }), (e) => {
      assert.equal(e.name, 'AbortError');
      assert.ok(e.stats.generatedTokens < 400);
      return true;
    });
    t.diagnostic(`aborted after ${(performance.now() - t0).toFixed(0)} ms`);
  } finally {
    await generator.close();
  }
});
