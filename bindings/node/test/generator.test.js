'use strict';
// Generator on the tiny committed decoders: greedy output against expected.json and the
// reference CLI, streaming, messages, stop strings, cancellation, the event loop, errors.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { Generator, NodespaceError, AbortError } = require('..');
const { tiny, readJson, skipLoudly, cliPath, cliGenerate, sleep } = require('./helpers');

const DECODERS = ['gen-llama', 'gen-nopos', 'gen-fp16kv', 'gen-gemma', 'gen-gemma-optimum', 'gen-notemplate'];

const loaded = new Map();
/** One generator per tiny model for the whole file (closed in the `after` hook). */
async function load(name) {
  if (!loaded.has(name)) loaded.set(name, Generator.load({ model: tiny(name), device: 'cpu' }));
  return loaded.get(name);
}
test.after(async () => {
  for (const g of loaded.values()) await (await g).close();
});

/** The prompt of an expected.json case: a raw string or chat messages. */
function casePrompt(c) {
  return c.messages ? c.messages : c.prompt;
}

async function collect(stream) {
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

for (const name of DECODERS) {
  test(`${name}: greedy text matches expected.json; stream == generate`, async () => {
    const expected = readJson(path.join(tiny(name), 'expected.json'));
    const g = await load(name);
    assert.ok(expected.cases.length > 0);
    for (const [i, c] of expected.cases.entries()) {
      const what = `${name} case ${i}`;
      const options = { greedy: true, maxNewTokens: c.generated_ids.length };
      const result = await g.generate(casePrompt(c), options);
      assert.equal(result.text, c.generated_text, `${what}: text`);
      assert.equal(result.stats.generatedTokens, c.generated_ids.length, `${what}: generated tokens`);
      assert.equal(result.stats.promptTokens, c.prompt_ids.length, `${what}: prompt tokens`);
      assert.equal(result.stats.stopReason, 'max_tokens', what);
      const stream = g.stream(casePrompt(c), options);
      const chunks = await collect(stream);
      assert.ok(chunks.length > 1, `${what}: ${chunks.length} chunk(s)`);
      assert.ok(chunks.every((s) => typeof s === 'string' && s.length > 0), `${what}: empty chunk`);
      assert.equal(chunks.join(''), result.text, `${what}: concatenated chunks != generate().text`);
      const streamed = await stream.result;
      assert.equal(streamed.text, result.text);
      assert.equal(streamed.stats.generatedTokens, result.stats.generatedTokens);
    }
  });
}

test('greedy tokens, token for token, against the reference CLI (cli generate --greedy --json)', async (t) => {
  if (!cliPath()) {
    skipLoudly(t, 'the reference CLI is not built (cargo build --release --example cli; test.sh builds it)');
    return;
  }
  let compared = 0;
  for (const name of DECODERS) {
    const expected = readJson(path.join(tiny(name), 'expected.json'));
    const g = await load(name);
    for (const [i, c] of expected.cases.entries()) {
      // The CLI takes a raw --prompt, or --user with an optional --system before it.
      let args;
      if (!c.messages) args = { prompt: c.prompt };
      else if (c.messages.length === 1 && c.messages[0].role === 'user') args = { user: c.messages[0].content };
      else if (c.messages.length === 2 && c.messages[0].role === 'system' && c.messages[1].role === 'user') {
        args = { system: c.messages[0].content, user: c.messages[1].content };
      } else continue;
      const max = c.generated_ids.length;
      const reference = cliGenerate(tiny(name), { ...args, maxNewTokens: max });
      assert.deepEqual(reference.tokens, c.generated_ids, `${name} case ${i}: CLI tokens != expected.json ids`);
      assert.deepEqual(reference.prompt_tokens, c.prompt_ids, `${name} case ${i}: CLI prompt ids`);
      const ours = await g.generate(casePrompt(c), { greedy: true, maxNewTokens: max });
      assert.equal(ours.text, reference.text, `${name} case ${i}: text != CLI text`);
      assert.equal(ours.stats.generatedTokens, reference.tokens.length);
      assert.equal(ours.stats.promptTokens, reference.prompt_tokens.length);
      assert.equal(ours.stats.stopReason, reference.stop_reason);
      compared += 1;
    }
  }
  assert.ok(compared >= 10, `only ${compared} cases compared`);
});

test('info: context length, chat template', async () => {
  const llama = await load('gen-llama');
  assert.ok(llama.info.contextLength > 0);
  assert.ok(llama.info.layers >= 1 && llama.info.headDim > 0 && llama.info.kvHeads > 0);
  assert.equal(llama.info.hasChatTemplate, true);
  assert.equal(llama.info.tools, 'parsed');
  assert.equal(llama.info.lookupOffReason, null);
  const int8 = await Generator.load({ model: tiny('gen-llama'), variant: 'quantized', device: 'cpu' });
  try {
    assert.match(int8.info.lookupOffReason, /DynamicQuantizeLinear/);
  } finally {
    await int8.close();
  }
  assert.ok(llama.info.modelFile.endsWith(path.join('onnx', 'model.onnx')));
  assert.equal(llama.info.provider, 'CPUExecutionProvider');
  assert.equal((await load('gen-notemplate')).info.hasChatTemplate, false);
});

test('messages give the same text as the raw prompt the chat template renders', async () => {
  const expected = readJson(path.join(tiny('gen-llama'), 'expected.json'));
  const g = await load('gen-llama');
  const c = expected.cases.find((x) => x.messages && x.prompt_text);
  assert.ok(c, 'gen-llama expected.json has a chat case with prompt_text');
  const options = { greedy: true, maxNewTokens: 16 };
  const chat = await g.generate(c.messages, options);
  const raw = await g.generate(c.prompt_text, { ...options });
  assert.equal(chat.text, raw.text);
  assert.equal(chat.stats.promptTokens, raw.stats.promptTokens);
  assert.notEqual((await g.generate('something else entirely', options)).text, chat.text);
});

test('messages without a chat template: NS_ERR_UNSUPPORTED; raw prompts work', async () => {
  const g = await load('gen-notemplate');
  await assert.rejects(g.generate([{ role: 'user', content: 'hi' }], { maxNewTokens: 4 }), (e) => {
    assert.ok(e instanceof NodespaceError);
    assert.equal(e.code, 'NS_ERR_UNSUPPORTED');
    assert.match(e.message, /chat template/);
    return true;
  });
  const r = await g.generate('hello', { greedy: true, maxNewTokens: 4 });
  assert.equal(r.stats.generatedTokens, 4);
});

test('stop strings end the text before them and are never emitted', async () => {
  const g = await load('gen-llama');
  const prompt = 'hello world';
  const full = await g.generate(prompt, { greedy: true, maxNewTokens: 24 });
  const chars = Array.from(full.text);
  assert.ok(chars.length >= 8, `reference text too short: ${JSON.stringify(full.text)}`);
  const stop = chars.slice(Math.floor(chars.length / 2), Math.floor(chars.length / 2) + 3).join('');
  const prefix = full.text.slice(0, full.text.indexOf(stop));
  const stream = g.stream(prompt, { greedy: true, maxNewTokens: 24, stop: [stop, 'never-produced'] });
  const chunks = await collect(stream);
  const { text, stats } = await stream.result;
  assert.equal(stats.stopReason, 'stop_string');
  assert.equal(text, prefix);
  assert.equal(chunks.join(''), prefix);
  assert.ok(!chunks.join('').includes(stop));
  // A single string works too.
  assert.equal((await g.generate(prompt, { greedy: true, maxNewTokens: 24, stop })).text, prefix);
});

test('an empty stop string rejects with NS_ERR_INVALID_ARGUMENT naming it', async () => {
  const g = await load('gen-llama');
  // An empty string would match everywhere and cannot be kept out of the text: the library
  // refuses it (before generating anything), with the index of the empty one.
  const check = (index) => (e) => {
    assert.ok(e instanceof NodespaceError, String(e));
    assert.equal(e.code, 'NS_ERR_INVALID_ARGUMENT');
    assert.match(e.message, new RegExp(`stop string ${index} is empty`));
    return true;
  };
  await assert.rejects(g.generate('hello', { maxNewTokens: 4, stop: '' }), check(0));
  await assert.rejects(g.generate('hello', { maxNewTokens: 4, stop: ['\n', ''] }), check(1));
  const stream = g.stream('hello', { maxNewTokens: 4, stop: ['x', 'y', ''] });
  await assert.rejects(collect(stream), check(2));
  await assert.rejects(stream.result, check(2));
  // The generator is fine afterwards.
  assert.equal((await g.generate('hello', { greedy: true, maxNewTokens: 4 })).stats.generatedTokens, 4);
});

test('chunks arrive while the generation runs, not all at the end', async () => {
  const g = await load('gen-llama');
  const stream = g.stream('hello world', { greedy: true, maxNewTokens: 24 });
  let settled = false;
  stream.result.then(() => (settled = true));
  let seen = 0;
  let seenBeforeEnd = 0;
  for await (const chunk of stream) {
    assert.ok(chunk.length > 0);
    seen += 1;
    if (!settled) seenBeforeEnd += 1;
  }
  assert.ok(seen > 1);
  // Every chunk is handed over before the native call returns (it waits for each one).
  assert.equal(seenBeforeEnd, seen, `${seen - seenBeforeEnd} of ${seen} chunks came after the generation ended`);
  assert.equal(settled, true);
});

test('AbortSignal cancels mid-generation: AbortError (code NS_ERR_CANCELLED) with partial text and stats', async () => {
  const g = await load('gen-llama');
  const max = 100;
  // for await over stream()
  const controller = new AbortController();
  const seen = [];
  const stream = g.stream('hello world', { greedy: true, maxNewTokens: max, signal: controller.signal });
  await assert.rejects(
    (async () => {
      for await (const chunk of stream) {
        seen.push(chunk);
        if (seen.length === 3) controller.abort();
      }
    })(),
    (e) => {
      assert.ok(e instanceof AbortError);
      assert.ok(e instanceof NodespaceError);
      assert.equal(e.name, 'AbortError');
      assert.equal(e.code, 'NS_ERR_CANCELLED');
      assert.equal(e.cause, controller.signal.reason);
      assert.equal(e.stats.stopReason, 'cancelled');
      assert.ok(e.stats.generatedTokens >= 3 && e.stats.generatedTokens < max, `${e.stats.generatedTokens} tokens`);
      assert.ok(e.text.startsWith(seen.join('')));
      return true;
    },
  );
  assert.equal(seen.length, 3, 'chunks were yielded after abort()');
  await assert.rejects(stream.result, { name: 'AbortError' });

  // generate() with a signal fired from onChunk, and with a custom reason.
  const c2 = new AbortController();
  let chunks = 0;
  await assert.rejects(
    g.generate('hello world', {
      greedy: true,
      maxNewTokens: max,
      signal: c2.signal,
      onChunk: () => {
        if (++chunks === 2) c2.abort(new Error('user pressed stop'));
      },
    }),
    (e) => e.name === 'AbortError' && e.code === 'NS_ERR_CANCELLED' && e.cause.message === 'user pressed stop' && /user pressed stop/.test(e.message),
  );
  // A signal fired from a timer while the generation runs elsewhere.
  const c3 = new AbortController();
  const long = g.generate('hello world', { greedy: true, maxNewTokens: max, signal: c3.signal, onChunk: () => c3.signal.aborted || setImmediate(() => c3.abort()) });
  await assert.rejects(long, (e) => e.name === 'AbortError' && e.stats.generatedTokens < max);
  // The generator is fine afterwards.
  assert.equal((await g.generate('hello world', { greedy: true, maxNewTokens: 5 })).stats.generatedTokens, 5);
});

test('aborting a generation queued behind a running one (maxSessions 1) settles it within 50 ms; the running one is unaffected', async (t) => {
  const g = await Generator.load({ model: tiny('gen-llama'), device: 'cpu', maxSessions: 1, threads: 1 });
  try {
    const prompt = 'hello world';
    const options = { greedy: true, maxNewTokens: 120 };
    const solo = await g.generate(prompt, options);
    assert.equal(solo.stats.generatedTokens, 120);
    // The running generation keeps the only session busy for about a second: its onChunk
    // sleeps (Atomics.wait: the JS thread waits without using a core, the worker waits for
    // the callback). 10 ms per chunk until the abort, then 3 ms, so that what the measured
    // latency adds is the library's and the binding's, not this test's own blocking of the
    // thread that settles the promise (still > 300 ms of running after the abort).
    const cell = new Int32Array(new SharedArrayBuffer(4));
    let aborted = false;
    for (const kind of ['generate', 'stream']) {
      aborted = false;
      let runningChunks = 0;
      let runningEndedAt = null;
      const running = g.generate(prompt, {
        ...options,
        onChunk: () => {
          runningChunks += 1;
          Atomics.wait(cell, 0, 0, aborted ? 3 : 10);
        },
      });
      running.then(() => (runningEndedAt = performance.now()), () => (runningEndedAt = performance.now()));
      while (runningChunks === 0) await sleep(1); // it holds the session now
      const controller = new AbortController();
      let queuedChunks = 0;
      let settledAt = null;
      let queued;
      if (kind === 'generate') {
        queued = g.generate(prompt, { ...options, signal: controller.signal, onChunk: () => (queuedChunks += 1) });
      } else {
        const stream = g.stream(prompt, { ...options, signal: controller.signal });
        queued = (async () => {
          for await (const chunk of stream) queuedChunks += chunk.length;
          return stream.result;
        })();
      }
      queued.then(() => (settledAt = performance.now()), () => (settledAt = performance.now()));
      await sleep(100); // the queued call waits for the session inside the library
      assert.equal(runningEndedAt, null, `${kind}: the running generation ended before the abort; the test proves nothing`);
      const abortedAt = performance.now();
      aborted = true;
      controller.abort();
      const error = await queued.then(
        () => assert.fail(`${kind}: the queued generation was not cancelled`),
        (e) => e,
      );
      const latency = settledAt - abortedAt;
      const runningLeft = runningEndedAt === null;
      const result = await running;
      t.diagnostic(`${kind}: queued call settled ${latency.toFixed(1)} ms after abort(); the running one ended ${(runningEndedAt - abortedAt).toFixed(0)} ms after it`);
      assert.ok(latency < 50, `${kind}: the queued generation settled ${latency.toFixed(1)} ms after abort() (bound 50 ms)`);
      assert.ok(runningLeft, `${kind}: the queued generation settled only after the running one had ended`);
      assert.equal(error.name, 'AbortError', String(error));
      assert.equal(error.code, 'NS_ERR_CANCELLED');
      if (kind === 'generate') {
        assert.equal(error.text, '');
        assert.equal(error.stats.stopReason, 'cancelled');
        assert.equal(error.stats.generatedTokens, 0);
      }
      assert.equal(queuedChunks, 0, `${kind}: the queued generation produced text`);
      assert.equal(result.text, solo.text, `${kind}: the running generation's text`);
      assert.equal(result.stats.generatedTokens, solo.stats.generatedTokens);
      assert.equal(result.stats.stopReason, 'max_tokens');
    }
    // The session is free again: the next generation runs as usual.
    assert.equal((await g.generate(prompt, options)).text, solo.text);
  } finally {
    await g.close();
  }
});

test('an already-aborted signal rejects at once without generating', async () => {
  const g = await load('gen-llama');
  const reason = new Error('too late');
  const signal = AbortSignal.abort(reason);
  await assert.rejects(g.generate('hello', { signal }), (e) => e.name === 'AbortError' && e.cause === reason && e.stats === null);
  const stream = g.stream('hello', { signal });
  await assert.rejects(collect(stream), { name: 'AbortError' });
  await assert.rejects(g.generate('hello', { signal: { aborted: false } }), TypeError);
});

test('breaking out of for await cancels the generation', async () => {
  const g = await load('gen-llama');
  const max = 100;
  const stream = g.stream('hello world', { greedy: true, maxNewTokens: max });
  let n = 0;
  for await (const chunk of stream) {
    assert.ok(chunk);
    if (++n === 2) break;
  }
  await assert.rejects(stream.result, (e) => {
    assert.equal(e.name, 'AbortError');
    assert.equal(e.code, 'NS_ERR_CANCELLED');
    assert.match(e.message, /left/);
    assert.equal(e.stats.stopReason, 'cancelled');
    assert.ok(e.stats.generatedTokens < max, `${e.stats.generatedTokens} tokens: not cancelled`);
    return true;
  });
  // After the loop, the iterator is done.
  assert.deepEqual(await stream.next(), { value: undefined, done: true });
  // Throwing inside the loop cancels too.
  const s2 = g.stream('hello world', { greedy: true, maxNewTokens: max });
  await assert.rejects(
    (async () => {
      for await (const chunk of s2) throw new Error(`stop at ${JSON.stringify(chunk)}`);
    })(),
    /stop at/,
  );
  await assert.rejects(s2.result, (e) => e.name === 'AbortError' && e.stats.generatedTokens < max);
  // stream.cancel()
  const s3 = g.stream('hello world', { greedy: true, maxNewTokens: max });
  const got = [];
  await assert.rejects(
    (async () => {
      for await (const chunk of s3) {
        got.push(chunk);
        s3.cancel();
      }
    })(),
    (e) => e.name === 'AbortError' && /cancel\(\)/.test(e.message),
  );
  assert.equal(got.length, 1);
});

test('an exception in onChunk stops the generation and rejects generate() with it', async () => {
  const g = await load('gen-llama');
  const boom = new Error('boom');
  let calls = 0;
  await assert.rejects(
    g.generate('hello world', {
      greedy: true,
      maxNewTokens: 50,
      onChunk: () => {
        calls += 1;
        throw boom;
      },
    }),
    (e) => e === boom,
  );
  assert.equal(calls, 1);
});

test('the event loop keeps running during a generation (timers tick while the native call runs)', async (t) => {
  const g = await load('gen-llama');
  let inFlight = false;
  let ticksDuring = 0;
  let immediatesDuring = 0;
  const timer = setInterval(() => {
    if (inFlight) ticksDuring += 1;
  }, 1);
  const spin = () => {
    if (!inFlight) return;
    immediatesDuring += 1;
    setImmediate(spin);
  };
  const started = performance.now();
  let generations = 0;
  let tokens = 0;
  try {
    // Tiny models are fast: keep generating (each call is one native call on a worker
    // thread) until 200 ms have passed. A blocking call would leave no room for timers
    // while `inFlight` is true.
    while (performance.now() - started < 200) {
      inFlight = true;
      setImmediate(spin);
      const r = await g.generate('hello world', { greedy: true, maxNewTokens: 100 });
      inFlight = false;
      generations += 1;
      tokens += r.stats.generatedTokens;
    }
  } finally {
    inFlight = false;
    clearInterval(timer);
  }
  t.diagnostic(`${generations} generations, ${tokens} tokens in ${(performance.now() - started).toFixed(0)} ms; ${ticksDuring} timer ticks, ${immediatesDuring} immediates while in flight`);
  assert.ok(ticksDuring >= 5, `only ${ticksDuring} timer ticks during generation`);
  assert.ok(immediatesDuring >= generations, `only ${immediatesDuring} immediates`);
});

test('loading runs off the main thread too', async (t) => {
  const started = performance.now();
  const promise = Generator.load({ model: tiny('gen-llama') });
  let settled = false;
  promise.then(() => (settled = true));
  // After a turn of the event loop the load is still running (on a worker thread).
  await new Promise((r) => setImmediate(r));
  const wasPending = !settled;
  const g = await promise;
  const ms = performance.now() - started;
  await g.close();
  t.diagnostic(`loaded in ${ms.toFixed(1)} ms`);
  if (ms > 5) assert.ok(wasPending, 'Generator.load blocked the event loop until it was done');
});

test('concurrent generations on one generator give identical greedy text', async () => {
  const g = await load('gen-llama');
  const solo = await g.generate('hello world', { greedy: true, maxNewTokens: 20 });
  const all = await Promise.all(Array.from({ length: 4 }, () => g.generate('hello world', { greedy: true, maxNewTokens: 20 })));
  for (const r of all) assert.equal(r.text, solo.text);
  const streams = await Promise.all(Array.from({ length: 3 }, () => collect(g.stream('hello world', { greedy: true, maxNewTokens: 20 }))));
  for (const chunks of streams) assert.equal(chunks.join(''), solo.text);
});

test('seeded sampling is reproducible; options are validated', async () => {
  const g = await load('gen-llama');
  const options = { temperature: 1.5, topP: 0.95, topK: 50, seed: 42, maxNewTokens: 20 };
  const a = await g.generate('hello', options);
  const b = await g.generate('hello', { ...options, seed: 42n });
  assert.equal(a.text, b.text);
  await assert.rejects(g.generate('hello', { temperature: NaN }), (e) => e.code === 'NS_ERR_INVALID_ARGUMENT' && /temperature/.test(e.message));
  await assert.rejects(g.generate('hello', { sampling: 'beam' }), TypeError);
  await assert.rejects(g.generate('hello', { maxNewTokens: -1 }), TypeError);
  await assert.rejects(g.generate('hello', { stop: [1] }), TypeError);
  await assert.rejects(g.generate(42), TypeError);
  await assert.rejects(g.generate([{ role: 'user' }]), TypeError);
  assert.throws(() => g.stream(42), TypeError);
  // NUL-terminated strings in the C ABI: a U+0000 would cut the prompt, so it is refused.
  await assert.rejects(g.generate('a\u0000b'), /NUL/);
  await assert.rejects(g.generate([{ role: 'user', content: 'x\u0000' }]), (e) => e instanceof TypeError && /messages\[0\]\.content/.test(e.message));
  await assert.rejects(g.generate('hello', { stop: ['\u0000'] }), TypeError);
  // Empty prompts are the library's call.
  await assert.rejects(g.generate(''), { code: 'NS_ERR_INVALID_ARGUMENT' });
  await assert.rejects(g.generate([]), { code: 'NS_ERR_INVALID_ARGUMENT' });
  // Penalties are accepted in any mode.
  const penalized = await g.generate('hello', { greedy: true, maxNewTokens: 10, repetitionPenalty: 1.3, presencePenalty: 0.5, frequencyPenalty: 0.5 });
  assert.equal(penalized.stats.generatedTokens, 10);
});

test('prompt lookup (lookupMaxDraft, default 8) gives the greedy tokens of lookupMaxDraft 0 and counts its drafts', async () => {
  const g = await load('gen-llama');
  let drafted = 0;
  // Repeated word pairs: the tiny decoder's output repeats their n-grams, so drafts are made.
  for (const [a, b] of [['the', 'fox'], ['1', '2'], ['a', 'b'], ['hello', 'world'], ['x', 'is'], ['to', 'of']]) {
    const prompt = `${a} ${b} ${a} ${b} ${a} ${b}`;
    const fast = await g.generate(prompt, { greedy: true, maxNewTokens: 60 });
    const plain = await g.generate(prompt, { greedy: true, maxNewTokens: 60, lookupMaxDraft: 0 });
    assert.equal(fast.text, plain.text, prompt);
    assert.equal(fast.stats.generatedTokens, plain.stats.generatedTokens, prompt);
    assert.equal(plain.stats.draftedTokens, 0);
    assert.equal(plain.stats.acceptedTokens, 0);
    assert.ok(fast.stats.acceptedTokens <= fast.stats.draftedTokens);
    drafted += fast.stats.draftedTokens;
  }
  assert.ok(drafted > 0, 'no drafts on prompts of repeated words');
  await assert.rejects(g.generate('hello', { lookupMaxDraft: 65 }), (e) => e.code === 'NS_ERR_INVALID_ARGUMENT' && /max_draft 65/.test(e.message));
  await assert.rejects(g.generate('hello', { lookupMaxDraft: -1 }), TypeError);
});

test('a prompt longer than the context: NS_ERR_CONTEXT_OVERFLOW', async () => {
  const g = await load('gen-llama');
  await assert.rejects(g.generate('x y '.repeat(g.info.contextLength), { maxNewTokens: 4 }), (e) => {
    assert.equal(e.code, 'NS_ERR_CONTEXT_OVERFLOW');
    assert.equal(e.status, 12);
    return true;
  });
  const stream = g.stream('x y '.repeat(g.info.contextLength), { maxNewTokens: 4 });
  await assert.rejects(collect(stream), { code: 'NS_ERR_CONTEXT_OVERFLOW' });
});

test('a follow-up chat turn reuses the KV cache', async () => {
  const g = await Generator.load({ model: tiny('gen-llama') });
  const fresh = await Generator.load({ model: tiny('gen-llama'), reusePrefix: false });
  try {
    const chat = [{ role: 'user', content: 'hello there' }];
    const first = await g.generate(chat, { greedy: true, maxNewTokens: 12 });
    assert.equal(first.stats.reusedPromptTokens, 0);
    chat.push({ role: 'assistant', content: first.text }, { role: 'user', content: 'tell me more' });
    const reused = await g.generate(chat, { greedy: true, maxNewTokens: 12 });
    const recomputed = await fresh.generate(chat, { greedy: true, maxNewTokens: 12 });
    assert.ok(reused.stats.reusedPromptTokens > 0);
    assert.equal(recomputed.stats.reusedPromptTokens, 0);
    assert.equal(reused.text, recomputed.text);
  } finally {
    await Promise.all([g.close(), fresh.close()]);
  }
});

test('load errors carry the library status name', async () => {
  await assert.rejects(Generator.load({ model: path.join(tiny('gen-llama'), 'no-such-folder') }), (e) => {
    assert.ok(e instanceof NodespaceError);
    assert.equal(e.code, 'NS_ERR_MODEL_NOT_FOUND');
    assert.ok(e.message.includes('no-such-folder'), e.message);
    return true;
  });
  // An embedding model is not a decoder with a KV cache.
  await assert.rejects(Generator.load({ model: tiny('embed-bert') }), (e) => e instanceof NodespaceError && e.code === 'NS_ERR_MODEL_INVALID');
  await assert.rejects(Generator.load({ model: tiny('gen-llama'), variant: 'q4' }), { code: 'NS_ERR_MODEL_NOT_FOUND' });
  await assert.rejects(Generator.load({ model: '' }), TypeError);
  assert.ok(fs.existsSync(tiny('gen-llama')));
});

test('close(): cancels running generations, waits for them, is idempotent; use after close throws', async () => {
  const g = await Generator.load({ model: tiny('gen-llama') });
  const stream = g.stream('hello world', { greedy: true, maxNewTokens: 100 });
  const first = await stream.next();
  assert.equal(first.done, false);
  // Started only now, and close() follows in the same turn of the event loop: neither call
  // can finish first (each chunk needs a turn of this thread), whichever session each got.
  const running = g.generate('hello world', { greedy: true, maxNewTokens: 100 });
  const closing = g.close();
  assert.equal(g.closed, true);
  await assert.rejects(running, (e) => e.name === 'AbortError' && /closed/.test(e.message));
  await assert.rejects(collect(stream), (e) => e.name === 'AbortError');
  await closing;
  await g.close();
  assert.throws(() => g.stream('hello'), { code: 'ERR_NODESPACE_CLOSED' });
  await assert.rejects(g.generate('hello'), { code: 'ERR_NODESPACE_CLOSED' });
  assert.throws(() => g.info, { code: 'ERR_NODESPACE_CLOSED' });
  await sleep(1);
});

// Structured output: the tiny model's random weights never write these by chance.
test('constraints: jsonSchema (object or text), regex, grammar and choices give only what they accept', async () => {
  const g = await load('gen-llama');
  const schema = {
    type: 'object',
    properties: { owner: { type: 'string', maxLength: 5 }, done: { type: 'boolean' } },
    required: ['owner', 'done'],
    additionalProperties: false,
    'x-guidance': { whitespace_flexible: false },
  };
  for (const jsonSchema of [schema, JSON.stringify(schema)]) {
    for (const seed of [1, 2, 3]) {
      const r = await g.generate('the fox the fox', { temperature: 1, seed, maxNewTokens: 60, jsonSchema });
      assert.equal(r.stats.stopReason, 'eos', r.text);
      const v = JSON.parse(r.text);
      assert.deepEqual(Object.keys(v).sort(), ['done', 'owner'], r.text);
      assert.equal(typeof v.done, 'boolean');
      assert.ok(typeof v.owner === 'string' && v.owner.length <= 5, r.text);
    }
  }
  const date = await g.generate('hello', { greedy: true, regex: '20[0-9]{2}-[01][0-9]' });
  assert.match(date.text, /^20[0-9]{2}-[01][0-9]$/);
  const answer = await g.generate('hello', { greedy: true, grammar: 'start: ("yes" | "no") "!"' });
  assert.ok(['yes!', 'no!'].includes(answer.text), answer.text);
  const choices = ['urgent', 'later', 'someday'];
  const label = await g.generate('hello', { greedy: true, choices });
  assert.ok(choices.includes(label.text), label.text);
  assert.equal(label.stats.stopReason, 'eos');
});

test('constraints: streaming yields the constrained text; abort cancels promptly', async () => {
  const g = await load('gen-llama');
  const stream = g.stream('hello', { greedy: true, regex: '[a-z]{40}' });
  const chunks = await collect(stream);
  assert.match(chunks.join(''), /^[a-z]{40}$/);
  assert.equal((await stream.result).text, chunks.join(''));
  const controller = new AbortController();
  let n = 0;
  await assert.rejects(
    g.generate('hello', { greedy: true, regex: '[a-z ]{1,300}', maxNewTokens: 300, signal: controller.signal, onChunk: () => ++n === 2 && controller.abort() }),
    (e) => e.name === 'AbortError' && e.stats.stopReason === 'cancelled' && e.stats.generatedTokens < 10,
  );
});

test('constraints: malformed ones reject with NS_ERR_INVALID_ARGUMENT naming the error; bad options are TypeErrors', async () => {
  const g = await load('gen-llama');
  await assert.rejects(g.generate('hello', { regex: 'ab(c' }), (e) => e.code === 'NS_ERR_INVALID_ARGUMENT' && /unclosed group/.test(e.message));
  await assert.rejects(g.generate('hello', { jsonSchema: '{"type": ' }), (e) => e.code === 'NS_ERR_INVALID_ARGUMENT' && /not valid JSON/.test(e.message));
  await assert.rejects(g.generate('hello', { jsonSchema: { type: 'string', minLength: 4, maxLength: 1 } }), (e) => e.code === 'NS_ERR_INVALID_ARGUMENT' && /minLength/.test(e.message));
  await assert.rejects(g.generate('hello', { grammar: 'start: foo' }), (e) => e.code === 'NS_ERR_INVALID_ARGUMENT' && /unknown name/.test(e.message));
  await assert.rejects(g.generate('hello', { choices: [] }), (e) => e.code === 'NS_ERR_INVALID_ARGUMENT' && /choice list is empty/.test(e.message));
  await assert.rejects(g.generate('hello', { regex: 'a', choices: ['a'] }), TypeError);
  await assert.rejects(g.generate('hello', { choices: 'a,b' }), TypeError);
  await assert.rejects(g.generate('hello', { regex: 5 }), TypeError);
});

test('json: true returns the parsed value; text that is not JSON rejects with ERR_NODESPACE_NOT_JSON', async () => {
  const g = await load('gen-llama');
  const schema = { type: 'object', properties: { n: { type: 'integer', minimum: 0, maximum: 9 } }, required: ['n'], additionalProperties: false, 'x-guidance': { whitespace_flexible: false } };
  const r = await g.generate('the fox', { greedy: true, jsonSchema: schema, json: true });
  assert.equal(typeof r.json.n, 'number');
  assert.deepEqual(r.json, JSON.parse(r.text));
  await assert.rejects(
    g.generate('the fox', { greedy: true, regex: 'not json', json: true }),
    (e) => e.code === 'ERR_NODESPACE_NOT_JSON' && e.text === 'not json' && e.stats.stopReason === 'eos',
  );
  await assert.rejects(g.generate('the fox', { json: 'yes' }), TypeError);
});

// The tiny ChatML template renders tools in Qwen2.5's Hermes form.
const TOOLS = [
  { type: 'function', function: { name: 'add', parameters: { type: 'object', properties: { t: { type: 'string', maxLength: 2 } }, required: ['t'] } } },
  { type: 'function', function: { name: 'find', parameters: { type: 'object', properties: { n: { type: 'integer', minimum: 1, maximum: 9 } }, required: ['n'] } } },
];

test('tools: toolChoice "one" gives one valid call in result.toolCalls, streamed and with an abort', async () => {
  const g = await load('gen-llama');
  for (const seed of [1, 2, 3]) {
    const r = await g.generate([{ role: 'user', content: 'find 3' }], { temperature: 1, seed, maxNewTokens: 100, tools: TOOLS, toolChoice: 'one' });
    assert.equal(r.stats.stopReason, 'eos', r.text);
    assert.equal(r.toolCalls.length, 1, r.text);
    const [call] = r.toolCalls;
    assert.ok(['add', 'find'].includes(call.name), r.text);
    if (call.name === 'add') assert.ok(typeof call.arguments.t === 'string' && call.arguments.t.length <= 2, r.text);
    else assert.ok(Number.isInteger(call.arguments.n) && call.arguments.n >= 1 && call.arguments.n <= 9, r.text);
    assert.match(r.text, /^<tool_call>\n\{"name": "/);
  }
  const stream = g.stream([{ role: 'user', content: 'add' }], { greedy: true, maxNewTokens: 100, tools: JSON.stringify(TOOLS), toolChoice: 'one' });
  const chunks = await collect(stream);
  const result = await stream.result;
  assert.equal(result.text, chunks.join(''));
  assert.equal(result.toolCalls.length, 1);
  const controller = new AbortController();
  let n = 0;
  await assert.rejects(
    g.generate([{ role: 'user', content: 'x' }], { greedy: true, maxNewTokens: 100, tools: TOOLS, toolChoice: 'required', signal: controller.signal, onChunk: () => ++n === 2 && controller.abort() }),
    (e) => e.name === 'AbortError' && e.stats.stopReason === 'cancelled',
  );
  // Without tools nothing is parsed.
  const plain = await g.generate([{ role: 'user', content: 'hi' }], { greedy: true, maxNewTokens: 4 });
  assert.deepEqual(plain.toolCalls, []);
});

test('tools: a follow-up turn with the call and its result renders; bad tool options are errors', async () => {
  const g = await load('gen-llama');
  const chat = [
    { role: 'system', content: 's' },
    { role: 'user', content: 'add ab' },
    { role: 'assistant', content: null, toolCalls: [{ name: 'add', arguments: { t: 'ab' } }] },
    { role: 'tool', content: 'ok', toolCallId: 'c1' },
  ];
  const r = await g.generate(chat, { greedy: true, maxNewTokens: 4 });
  assert.ok(r.stats.promptTokens > 30, String(r.stats.promptTokens));
  await assert.rejects(g.generate('raw', { tools: TOOLS }), (e) => e.code === 'NS_ERR_INVALID_ARGUMENT' && /chat messages/.test(e.message));
  await assert.rejects(g.generate([{ role: 'user', content: 'x' }], { tools: [{ type: 'function' }] }), (e) => e.code === 'NS_ERR_INVALID_ARGUMENT' && /tool 0 has no name/.test(e.message));
  await assert.rejects(g.generate([{ role: 'user', content: 'x' }], { tools: TOOLS, toolChoice: 'always' }), TypeError);
  await assert.rejects(g.generate([{ role: 'user', content: 'x' }], { toolChoice: 'one' }), TypeError);
  await assert.rejects(g.generate([{ role: 'user', content: 'x' }], { tools: TOOLS, toolChoice: 'one', regex: 'a' }), (e) => e.code === 'NS_ERR_INVALID_ARGUMENT' && /cannot be combined/.test(e.message));
  const gemma = await load('gen-gemma');
  assert.equal(gemma.info.tools, 'none');
  await assert.rejects(gemma.generate([{ role: 'user', content: 'x' }], { tools: TOOLS }), (e) => e.code === 'NS_ERR_UNSUPPORTED' && /does not render tools/.test(e.message));
});
