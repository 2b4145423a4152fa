'use strict';
// Embedder on the tiny committed models against their expected.json.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Embedder, NodespaceError } = require('..');
const { tiny, readJson, maxAbsDiff, cosine } = require('./helpers');

const TOLERANCE = 2e-5;

function assertClose(got, want, what) {
  assert.equal(got.length, want.length, `${what}: ${got.length} vectors, expected ${want.length}`);
  got.forEach((g, i) => {
    assert.ok(g instanceof Float32Array, `${what}[${i}] is not a Float32Array`);
    const diff = maxAbsDiff(g, want[i]);
    assert.ok(diff <= TOLERANCE, `${what}: text ${i} differs by ${diff} (> ${TOLERANCE})`);
  });
}

for (const name of ['embed-bert', 'embed-bert-nott', 'embed-pooled', 'embed-decoder']) {
  test(`${name}: vectors match expected.json within ${TOLERANCE}`, async () => {
    const expected = readJson(path.join(tiny(name), 'expected.json'));
    const embedder = await Embedder.load({ model: tiny(name), device: 'cpu' });
    try {
      assert.equal(embedder.dimension, expected.dimension);
      assert.equal(embedder.info.dimension, expected.dimension);
      assert.equal(embedder.info.maxLength, expected.max_length);
      assert.equal(embedder.info.normalize, true);
      assert.ok(embedder.info.modelFile.endsWith(expected.model_file), embedder.info.modelFile);
      assert.equal(embedder.info.provider, 'CPUExecutionProvider');
      assertClose(await embedder.embed(expected.texts), expected.embeddings, name);
      // One by one gives the same vectors.
      const alone = [];
      for (const text of expected.texts) alone.push(await embedder.embedOne(text));
      assertClose(alone, expected.embeddings, `${name} one by one`);
    } finally {
      await embedder.close();
    }
  });
}

test('info: pooling names, in-graph pooling', async () => {
  const bert = await Embedder.load({ model: tiny('embed-bert') });
  const nott = await Embedder.load({ model: tiny('embed-bert-nott') });
  const pooled = await Embedder.load({ model: tiny('embed-pooled') });
  const decoder = await Embedder.load({ model: tiny('embed-decoder') });
  try {
    assert.equal(bert.info.pooling, 'mean');
    assert.equal(nott.info.pooling, 'cls');
    assert.equal(pooled.info.pooling, 'in_graph');
    assert.equal(decoder.info.pooling, 'last_token');
    assert.ok(typeof bert.info.provider === 'string' && bert.info.provider.length > 0);
    assert.ok(bert.info.fallbackReason === null || typeof bert.info.fallbackReason === 'string');
    assert.ok(Object.isFrozen(bert.info));
  } finally {
    await Promise.all([bert.close(), nott.close(), pooled.close(), decoder.close()]);
  }
});

test('variant "quantized" loads onnx/model_quantized.onnx and matches its reference', async () => {
  const expected = readJson(path.join(tiny('embed-bert'), 'expected.json'));
  const want = expected.variants['onnx/model_quantized.onnx'].embeddings;
  const embedder = await Embedder.load({ model: tiny('embed-bert'), variant: 'quantized', threads: 1 });
  try {
    assert.ok(embedder.info.modelFile.endsWith(path.join('onnx', 'model_quantized.onnx')), embedder.info.modelFile);
    const alone = [];
    for (const text of expected.texts) alone.push(await embedder.embed(text));
    assertClose(alone, want, 'quantized');
  } finally {
    await embedder.close();
  }
});

test('unknown variant: NS_ERR_MODEL_NOT_FOUND listing the available ones', async () => {
  await assert.rejects(Embedder.load({ model: tiny('embed-bert'), variant: 'int4' }), (e) => {
    assert.ok(e instanceof NodespaceError);
    assert.equal(e.code, 'NS_ERR_MODEL_NOT_FOUND');
    assert.match(e.message, /quantized/);
    return true;
  });
});

test('prompt names from config_sentence_transformers.json', async () => {
  const expected = readJson(path.join(tiny('embed-bert-nott'), 'expected.json'));
  for (const name of ['query', 'passage']) {
    const embedder = await Embedder.load({ model: tiny('embed-bert-nott'), promptName: name });
    try {
      assertClose(await embedder.embed(expected.texts), expected.prompted[name].embeddings, name);
    } finally {
      await embedder.close();
    }
  }
  await assert.rejects(Embedder.load({ model: tiny('embed-bert-nott'), promptName: 'document' }), { code: 'NS_ERR_INVALID_ARGUMENT' });
});

test('prompt chosen per call: embed(texts, { promptName }) with one loaded model', async () => {
  const expected = readJson(path.join(tiny('embed-bert-nott'), 'expected.json'));
  const plain = await Embedder.load({ model: tiny('embed-bert-nott') });
  const query = await Embedder.load({ model: tiny('embed-bert-nott'), promptName: 'query' });
  try {
    const unprompted = await plain.embed(expected.texts);
    for (const name of ['query', 'passage']) {
      const got = await plain.embed(expected.texts, { promptName: name });
      assertClose(got, expected.prompted[name].embeddings, name);
      // Replaces the embedder's own prompt (applied once): same bits from either embedder.
      assert.deepEqual(await query.embed(expected.texts, { promptName: name }), got);
    }
    assert.deepEqual(await plain.embedOne(expected.texts[0], { promptName: 'query' }), (await query.embed(expected.texts))[0]);
    assert.deepEqual(await plain.embed(expected.texts), unprompted, 'the per-call prompt stuck to the embedder');
    await assert.rejects(plain.embed(expected.texts, { promptName: 'document' }), (e) => {
      assert.equal(e.code, 'NS_ERR_INVALID_ARGUMENT');
      assert.match(e.message, /'document'.*passage, query/);
      return true;
    });
    await assert.rejects(plain.embed('a', null), TypeError);
  } finally {
    await Promise.all([plain.close(), query.close()]);
  }
});

test('failOnTruncation: a text over maxLength rejects with NS_ERR_CONTEXT_OVERFLOW; the default truncates', async () => {
  const cutting = await Embedder.load({ model: tiny('embed-bert'), maxLength: 16 });
  const strict = await Embedder.load({ model: tiny('embed-bert'), maxLength: 16, failOnTruncation: true });
  try {
    assert.equal(strict.info.maxLength, 16);
    const long = 'cat '.repeat(40);
    const first14 = 'cat '.repeat(14); // + [CLS] and [SEP] = 16 tokens
    assert.deepEqual(await cutting.embed(long), await cutting.embed(first14));
    assert.deepEqual(await strict.embed(first14), await cutting.embed(first14));
    await assert.rejects(strict.embed(['short', long]), (e) => {
      assert.equal(e.code, 'NS_ERR_CONTEXT_OVERFLOW');
      assert.match(e.message, /text 1 is 42 tokens.*at most 16/);
      return true;
    });
  } finally {
    await Promise.all([cutting.close(), strict.close()]);
  }
});

test('normalize: false, outputDimension, pooling override', async () => {
  const expected = readJson(path.join(tiny('embed-bert'), 'expected.json'));
  const raw = await Embedder.load({ model: tiny('embed-bert'), normalize: false });
  const short = await Embedder.load({ model: tiny('embed-bert'), outputDimension: 8 });
  const cls = await Embedder.load({ model: tiny('embed-bert'), pooling: 'cls' });
  try {
    assert.equal(raw.info.normalize, false);
    const vectors = await raw.embed(expected.texts);
    vectors.forEach((v, i) => {
      assert.ok(cosine(v, expected.embeddings[i]) > 0.99999);
      const norm = Math.hypot(...v);
      assert.ok(Math.abs(norm - 1) > 1e-3, `text ${i}: unnormalized vector has norm 1`);
    });
    assert.equal(short.dimension, 8);
    const cut = await short.embed(expected.texts);
    cut.forEach((v, i) => {
      assert.equal(v.length, 8);
      assert.ok(cosine(v, vectors[i].subarray(0, 8)) > 0.99999);
      assert.ok(Math.abs(Math.hypot(...v) - 1) < 1e-5);
    });
    assert.equal(cls.info.pooling, 'cls');
    assert.ok(cosine(await cls.embed(expected.texts[0]), expected.embeddings[0]) < 0.9999);
  } finally {
    await Promise.all([raw.close(), short.close(), cls.close()]);
  }
  await assert.rejects(Embedder.load({ model: tiny('embed-bert'), outputDimension: 33 }), { code: 'NS_ERR_INVALID_ARGUMENT' });
});

test('input errors: empty array, invalid UTF-8 bytes, bad types; the empty string is valid', async () => {
  const embedder = await Embedder.load({ model: tiny('embed-bert') });
  try {
    await assert.rejects(embedder.embed([]), (e) => {
      assert.ok(e instanceof NodespaceError);
      assert.equal(e.name, 'NodespaceError');
      assert.equal(e.code, 'NS_ERR_INVALID_ARGUMENT');
      assert.equal(e.status, 1);
      assert.match(e.message, /no texts|count is 0/);
      return true;
    });
    await assert.rejects(embedder.embed(['ok', Buffer.from([0x61, 0xff, 0x62])]), (e) => {
      assert.equal(e.code, 'NS_ERR_INVALID_UTF8');
      assert.match(e.message, /texts\[1\]/);
      return true;
    });
    await assert.rejects(embedder.embed([1, 2]), TypeError);
    await assert.rejects(embedder.embed(null), TypeError);
    await assert.rejects(embedder.embedOne(['a']), TypeError);
    const [empty] = await embedder.embed(['']);
    assert.equal(empty.length, 32);
    // Raw UTF-8 bytes give the same vector as the string.
    const text = 'Café naïve Ünïcödé';
    assert.deepEqual(await embedder.embed(Buffer.from(text, 'utf8')), await embedder.embed(text));
    // Texts are passed with their lengths: a U+0000 inside one is fine.
    assert.equal((await embedder.embed('a\u0000b')).length, 32);
    await assert.rejects(Embedder.load({ model: 'x\u0000y' }), TypeError);
    // Long texts are truncated, not rejected.
    assert.equal((await embedder.embed('cat '.repeat(5000))).length, 32);
  } finally {
    await embedder.close();
  }
});

test('bad model paths and bad options reject with a NodespaceError code', async () => {
  const missing = path.join(os.tmpdir(), 'nodespace-node-no-such-model');
  await assert.rejects(Embedder.load({ model: missing }), (e) => {
    assert.ok(e instanceof NodespaceError);
    assert.equal(e.code, 'NS_ERR_MODEL_NOT_FOUND');
    assert.equal(e.status, 6);
    assert.ok(e.message.includes('nodespace-node-no-such-model'), e.message);
    return true;
  });
  // A broken tokenizer.json in a scratch copy.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nodespace-node-'));
  try {
    fs.cpSync(tiny('embed-bert'), dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), '{ not json');
    await assert.rejects(Embedder.load({ model: dir }), (e) => e.code === 'NS_ERR_TOKENIZER' && e.message.includes('tokenizer.json'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  await assert.rejects(Embedder.load({}), TypeError);
  await assert.rejects(Embedder.load({ model: tiny('embed-bert'), device: 'tpu' }), TypeError);
  await assert.rejects(Embedder.load({ model: tiny('embed-bert'), threads: -1 }), TypeError);
  await assert.rejects(Embedder.load({ model: tiny('embed-bert'), pooling: 'median' }), TypeError);
  assert.throws(() => new Embedder(), TypeError);
});

test('concurrent embeds from several promises give identical results', async () => {
  const expected = readJson(path.join(tiny('embed-bert'), 'expected.json'));
  const embedder = await Embedder.load({ model: tiny('embed-bert'), maxSessions: 2 });
  try {
    const single = await embedder.embed(expected.texts);
    const all = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 3 === 0 ? embedder.embed(expected.texts) : embedder.embed(expected.texts.slice(0, 4)))));
    all.forEach((got, k) => {
      got.forEach((v, i) => assert.deepEqual(v, single[i], `call ${k}, text ${i}: different bits`));
    });
  } finally {
    await embedder.close();
  }
});

test('embedding runs off the main thread: timers fire while one native call is running', async (t) => {
  const embedder = await Embedder.load({ model: tiny('embed-bert'), threads: 1, maxSessions: 1 });
  try {
    const texts = Array.from({ length: 3000 }, (_, i) => `sentence number ${i}: the cat sat on the mat, again and again`);
    let inFlight = false;
    let ticksDuring = 0;
    const timer = setInterval(() => {
      if (inFlight) ticksDuring += 1;
    }, 2);
    const started = performance.now();
    inFlight = true;
    const vectors = await embedder.embed(texts);
    inFlight = false;
    clearInterval(timer);
    const ms = performance.now() - started;
    assert.equal(vectors.length, texts.length);
    t.diagnostic(`3000 texts in ${ms.toFixed(1)} ms, ${ticksDuring} timer ticks meanwhile`);
    if (ms > 30) assert.ok(ticksDuring >= 3, `only ${ticksDuring} ticks in ${ms} ms`);
  } finally {
    await embedder.close();
  }
});
