'use strict';

const native = require('./native');
const { koffi } = native;
const { Arena, readErrorDetail } = require('./memory');
const { loadHandle } = require('./load');
const { NodespaceError, AbortError, BindingCodes } = require('./errors');
const {
  checkSync,
  callAsync,
  optionDefaults,
  optionalCount,
  statusError,
  HandleState,
  registry,
} = require('./common');

const NS_CONTINUE = 0;
const NS_STOP = 1;
const NS_ERR_CANCELLED = 11;
const SAMPLING = { default: 0, greedy: 1, custom: 2 };
// NS_CONSTRAINT_*.
const CONSTRAINT = { jsonSchema: 1, regex: 2, grammar: 3, choices: 4 };

/** The one constraint option given ({ kind, value }), or null. */
function constraintOption(options) {
  const given = Object.keys(CONSTRAINT).filter((k) => options[k] !== undefined && options[k] !== null);
  if (given.length > 1) throw new TypeError(`give at most one of jsonSchema, regex, grammar and choices (got ${given.join(', ')})`);
  if (given.length === 0) return null;
  const kind = given[0];
  let value = options[kind];
  if (kind === 'jsonSchema' && typeof value === 'object') value = JSON.stringify(value);
  if (kind === 'choices') {
    if (!Array.isArray(value) || value.some((c) => typeof c !== 'string')) throw new TypeError('choices must be an array of strings');
  } else if (typeof value !== 'string') {
    throw new TypeError(kind === 'jsonSchema' ? 'jsonSchema must be a schema object or its JSON text' : `${kind} must be a string`);
  }
  return { kind, value };
}
// ns_generator_info.tools.
const TOOL_SUPPORT = ['none', 'rendered', 'parsed'];
// NS_TOOL_CHOICE_*.
const TOOL_CHOICE = { auto: 0, required: 1, one: 2 };

/** Chat messages as the library's JSON form (transformers'/OpenAI's keys). */
function messagesJson(prompt) {
  return JSON.stringify(
    prompt.map((m, i) => {
      if (!m || typeof m !== 'object' || typeof m.role !== 'string') {
        throw new TypeError(`messages[${i}] must be { role: string, content: string }`);
      }
      const { toolCalls, toolCallId, ...rest } = m;
      const calls = toolCalls ?? m.tool_calls;
      if (typeof m.content !== 'string' && !((m.content === null || m.content === undefined) && calls)) {
        throw new TypeError(`messages[${i}] must be { role: string, content: string } (content may be null with toolCalls)`);
      }
      for (const key of ['role', 'content']) {
        if (typeof m[key] === 'string' && m[key].includes('\0')) throw new TypeError(`messages[${i}].${key} contains a NUL character`);
      }
      const out = { ...rest };
      if (calls !== undefined) out.tool_calls = calls;
      if (toolCallId !== undefined) out.tool_call_id = toolCallId;
      return out;
    }),
  );
}

/** options.tools as JSON text (an array of definitions or its JSON), or null. */
function toolsJson(options) {
  const tools = options.tools;
  const choice = options.toolChoice ?? 'auto';
  if (TOOL_CHOICE[choice] === undefined) throw new TypeError(`toolChoice must be one of ${Object.keys(TOOL_CHOICE).join(', ')} (got ${JSON.stringify(choice)})`);
  if (tools === undefined || tools === null) {
    if (choice !== 'auto') throw new TypeError(`toolChoice "${choice}" needs tools`);
    return null;
  }
  if (typeof tools === 'string') return tools;
  if (!Array.isArray(tools)) throw new TypeError('tools must be an array of function definitions or its JSON text');
  return JSON.stringify(tools);
}

const STOP_REASONS = [null, 'eos', 'max_tokens', 'stop_string', 'context_full', 'cancelled'];
const CONSTRUCT = Symbol('construct');

function decodeStats(T, ptr) {
  const s = koffi.decode(ptr, T.generationStats);
  return {
    stopReason: STOP_REASONS[s.stop_reason] ?? null,
    promptTokens: Number(s.prompt_tokens),
    reusedPromptTokens: Number(s.reused_prompt_tokens),
    generatedTokens: Number(s.generated_tokens),
    timeToFirstTokenMs: s.time_to_first_token_ms,
    prefillTokensPerS: s.prefill_tokens_per_s,
    decodeTokensPerS: s.decode_tokens_per_s,
    totalMs: s.total_ms,
    draftedTokens: Number(s.drafted_tokens),
    acceptedTokens: Number(s.accepted_tokens),
  };
}

function samplingMode(options) {
  if (options.sampling !== undefined) {
    const mode = SAMPLING[options.sampling];
    if (mode === undefined) throw new TypeError(`sampling must be one of ${Object.keys(SAMPLING).join(', ')} (got ${JSON.stringify(options.sampling)})`);
    return mode;
  }
  if (options.greedy) return SAMPLING.greedy;
  const custom = ['temperature', 'topK', 'topP', 'minP', 'seed'].some((k) => options[k] !== undefined);
  return custom ? SAMPLING.custom : SAMPLING.default;
}

function numberOption(value, fallback, what) {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number') throw new TypeError(`${what} must be a number (got ${typeof value})`);
  return value;
}

function checkSignal(signal) {
  if (signal === undefined || signal === null) return null;
  if (typeof signal !== 'object' || typeof signal.aborted !== 'boolean' || typeof signal.addEventListener !== 'function') {
    throw new TypeError('options.signal must be an AbortSignal');
  }
  return signal;
}

/** AbortError messages by what cancelled the generation (a signal: abortMessage). */
const CANCEL_MESSAGES = {
  break: 'the generation was cancelled: the stream was left before it ended',
  close: 'the generation was cancelled: the generator was closed',
  cancel: 'the generation was cancelled: cancel() was called',
};

function abortMessage(reason) {
  if (reason === undefined || reason === null) return 'the generation was cancelled';
  return reason.message ? `the generation was aborted: ${reason.message}` : `the generation was aborted: ${String(reason)}`;
}

/**
 * A loaded generation model. Create with `await Generator.load({ model })`; free with
 * `await generator.close()`. Several generations may run at once (up to `maxSessions` in
 * parallel; further ones wait inside the library).
 */
class Generator {
  constructor(key, ptr, fn, T) {
    if (key !== CONSTRUCT) throw new TypeError('use `await Generator.load(options)` to create a Generator');
    this._fn = fn;
    this._T = T;
    this._state = new HandleState(ptr, (p) => fn.ns_generator_free(p), 'Generator');
    this._runs = new Set();
    this._info = null;
    registry.register(this, this._state, this._state);
  }

  /**
   * Load a model folder off the main thread.
   * @param {import('../index').GeneratorOptions} options
   * @returns {Promise<Generator>}
   */
  static async load(options) {
    const kind = { name: 'Generator', structType: 'generatorOptions', init: 'ns_generator_options_init', create: 'ns_generator_new' };
    const { ptr, fn, T } = await loadHandle(options, kind, (o) => {
      if (options.reusePrefix !== undefined) o.reuse_prefix = options.reusePrefix ? 1 : 0;
    });
    return new Generator(CONSTRUCT, ptr, fn, T);
  }

  /** What the generator detected (see index.d.ts: GeneratorInfo). */
  get info() {
    this._check();
    if (!this._info) {
      const raw = { struct_size: koffi.sizeof(this._T.generatorInfo) };
      checkSync(this._fn, this._fn.ns_generator_get_info(this._state.ptr, raw));
      this._info = Object.freeze({
        contextLength: Number(raw.context_length),
        layers: Number(raw.layers),
        kvHeads: Number(raw.kv_heads),
        headDim: Number(raw.head_dim),
        hasChatTemplate: raw.has_chat_template !== 0,
        modelFile: raw.model_file,
        provider: raw.provider,
        fallbackReason: raw.fallback_reason ?? null,
        tools: TOOL_SUPPORT[raw.tools] ?? 'none',
        lookupOffReason: raw.lookup_off_reason ?? null,
      });
    }
    return this._info;
  }

  get closed() {
    return this._state.closed;
  }

  /**
   * Stream generated text: `for await (const chunk of generator.stream(prompt, options))`.
   * Chunks are strings of whole characters, yielded as the model produces them.
   * Leaving the loop early (break, return, throw) cancels the generation. The returned
   * object also has `result` (a promise of { text, stats }) and `cancel()`.
   * @returns {GenerationStream}
   */
  stream(prompt, options = {}) {
    return new GenerationStream(this, prompt, options);
  }

  /**
   * Generate and resolve with `{ text, stats }` once the generation has ended.
   * `options.onChunk(text)` (optional) sees each chunk as it comes.
   * A cancellation (options.signal, close()) rejects with an AbortError (see errors.js).
   */
  generate(prompt, options = {}) {
    const onChunk = options.onChunk;
    if (onChunk !== undefined && typeof onChunk !== 'function') return Promise.reject(new TypeError('options.onChunk must be a function'));
    try {
      return this._start(prompt, options, onChunk ?? (() => {})).promise;
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Free the model. Idempotent. Generations still running are cancelled (they reject with
   * an AbortError); the returned promise resolves when they have returned and the native
   * generator is freed. Calls made afterwards throw NodespaceError ERR_NODESPACE_CLOSED.
   */
  close() {
    registry.unregister(this._state);
    if (!this._state.closed) {
      this._state.closed = true;
      for (const run of this._runs) run.cancel({ kind: 'close' });
    }
    return this._state.close();
  }

  async [Symbol.asyncDispose ?? Symbol.for('nodejs.asyncDispose')]() {
    await this.close();
  }

  _check() {
    if (this._state.closed) this._state.begin(); // throws ERR_NODESPACE_CLOSED
  }

  /** Fill an ns_generate_request in `arena`. */
  _request(arena, prompt, options, token, toolCallback) {
    const { fn, T } = { fn: this._fn, T: this._T };
    const r = optionDefaults(fn, 'ns_generate_request_init', T.generateRequest);
    if (typeof prompt === 'string') {
      r.prompt = arena.cstring(prompt, 'the prompt');
    } else if (Array.isArray(prompt)) {
      // The JSON form carries what ns_chat_message cannot: tool calls, tool results' ids.
      r.messages_json = arena.cstring(messagesJson(prompt), 'the messages');
    } else {
      throw new TypeError('the prompt must be a string (raw prompt) or an array of { role, content } messages');
    }
    r.max_new_tokens = optionalCount(options.maxNewTokens, 'maxNewTokens');
    r.sampling = samplingMode(options);
    r.temperature = numberOption(options.temperature, r.sampling === SAMPLING.custom ? 1 : r.temperature, 'temperature');
    r.top_k = optionalCount(options.topK, 'topK');
    r.top_p = numberOption(options.topP, r.top_p, 'topP');
    r.min_p = numberOption(options.minP, r.min_p, 'minP');
    r.repetition_penalty = numberOption(options.repetitionPenalty, r.repetition_penalty, 'repetitionPenalty');
    r.presence_penalty = numberOption(options.presencePenalty, r.presence_penalty, 'presencePenalty');
    r.frequency_penalty = numberOption(options.frequencyPenalty, r.frequency_penalty, 'frequencyPenalty');
    if (options.seed !== undefined && options.seed !== null) {
      if (typeof options.seed !== 'bigint' && !Number.isSafeInteger(options.seed)) throw new TypeError('seed must be an integer or a BigInt');
      r.seed = BigInt(options.seed);
    }
    const stop = options.stop === undefined || options.stop === null ? [] : typeof options.stop === 'string' ? [options.stop] : Array.from(options.stop);
    if (stop.some((s) => typeof s !== 'string')) throw new TypeError('stop must be a string or an array of strings');
    r.stop = stop.length ? arena.pointerArray(stop.map((s, i) => arena.cstring(s, `stop[${i}]`))) : null;
    r.stop_count = stop.length;
    if (options.lookupMaxDraft !== undefined && options.lookupMaxDraft !== null) {
      r.lookup_max_draft = optionalCount(options.lookupMaxDraft, 'lookupMaxDraft');
    }
    const constraint = constraintOption(options);
    if (constraint !== null) {
      r.constraint_kind = CONSTRAINT[constraint.kind];
      if (constraint.kind === 'choices') {
        const choices = constraint.value;
        r.choices = choices.length ? arena.pointerArray(choices.map((c, i) => arena.cstring(c, `choices[${i}]`))) : null;
        r.choice_count = choices.length;
      } else {
        r.constraint = arena.cstring(constraint.value, constraint.kind);
      }
    }
    const tools = toolsJson(options);
    if (tools !== null) r.tools = arena.cstring(tools, 'tools');
    r.tool_choice = TOOL_CHOICE[options.toolChoice ?? 'auto'];
    r.on_tool_call = toolCallback;
    r.cancel = token;
    return arena.struct(T.generateRequest, r);
  }

  /**
   * Start a generation on a libuv worker thread. Returns { promise, cancel(why) }.
   * `onChunk(text)` runs on the main thread for each chunk, while the worker waits for it
   * (koffi relays registered callbacks to the JS thread), so it must be quick.
   */
  _start(prompt, options, onChunk) {
    if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
    const signal = checkSignal(options.signal);
    const fn = this._fn;
    const T = this._T;
    const state = this._state;
    state.begin();
    const arena = new Arena();
    const run = { stopped: false, why: null, parts: [], toolCalls: [], callbackError: null, cancel: null };
    let token = null;
    let callback = null;
    let toolCallback = null;
    let onAbort = null;
    const cleanup = () => {
      if (onAbort) signal.removeEventListener('abort', onAbort);
      if (callback !== null) koffi.unregister(callback);
      if (toolCallback !== null) koffi.unregister(toolCallback);
      if (token !== null) fn.ns_cancel_token_free(token);
      token = null;
      callback = null;
      toolCallback = null;
      arena.free();
      this._runs.delete(run);
      state.end();
    };
    run.cancel = (why) => {
      if (run.stopped) return;
      run.stopped = true;
      run.why = why;
      // Fast and thread-safe: called right here, on the main thread.
      if (token !== null) fn.ns_cancel_token_cancel(token);
    };
    let statsPtr;
    let errorPtr;
    let requestPtr;
    try {
      const out = [null];
      checkSync(fn, fn.ns_cancel_token_new(out));
      token = out[0];
      if (options.json !== undefined && typeof options.json !== 'boolean') throw new TypeError('options.json must be a boolean');
      // The calls arrive once the generation has ended, before ns_generate_stream returns.
      toolCallback = koffi.register((index, name, args) => {
        let parsed;
        try {
          parsed = JSON.parse(args);
        } catch {
          parsed = args;
        }
        run.toolCalls.push({ name, arguments: parsed });
      }, koffi.pointer(T.toolCallCallback));
      requestPtr = this._request(arena, prompt, options, token, toolCallback);
      statsPtr = arena.struct(T.generationStats, { struct_size: koffi.sizeof(T.generationStats) });
      errorPtr = arena.alloc(T.errorDetailSize);
      if (signal && signal.aborted) {
        const error = new AbortError(abortMessage(signal.reason), { cause: signal.reason });
        cleanup();
        return { promise: Promise.reject(error), cancel: () => {} };
      }
      callback = koffi.register((ptr, len) => {
        if (run.stopped) return NS_STOP;
        try {
          const text = len > 0 ? koffi.decode(ptr, 'char', Number(len)) : '';
          run.parts.push(text);
          onChunk(text);
          return NS_CONTINUE;
        } catch (e) {
          run.callbackError = e;
          run.cancel({ kind: 'callback' });
          return NS_STOP;
        }
      }, koffi.pointer(T.chunkCallback));
    } catch (e) {
      cleanup();
      throw e;
    }
    if (signal) {
      onAbort = () => run.cancel({ kind: 'signal', reason: signal.reason });
      signal.addEventListener('abort', onAbort, { once: true });
    }
    this._runs.add(run);
    // `self` keeps this Generator reachable (so its finalizer cannot run) until the call returns.
    const self = this;
    const promise = callAsync(fn.ns_generate_stream, state.ptr, requestPtr, callback, null, statsPtr, errorPtr).then(
      (status) => {
        const stats = decodeStats(T, statsPtr);
        const detail = readErrorDetail(errorPtr);
        const text = run.parts.join('');
        cleanup();
        void self;
        if (status === 0) {
          const result = { text, stats, toolCalls: run.toolCalls };
          if (options.json) {
            try {
              result.json = JSON.parse(text);
            } catch (e) {
              const error = new NodespaceError(BindingCodes.NOT_JSON, `options.json: the text is not JSON (stop reason ${stats.stopReason}): ${e.message}`, { cause: e });
              Object.assign(error, { text, stats });
              throw error;
            }
          }
          return result;
        }
        if (run.callbackError) throw run.callbackError;
        if (status === NS_ERR_CANCELLED) {
          const why = run.why ?? { kind: 'token' };
          const message = why.kind === 'signal' ? abortMessage(why.reason) : CANCEL_MESSAGES[why.kind] ?? (detail.message || 'the generation was cancelled');
          throw new AbortError(message, { cause: why.kind === 'signal' ? why.reason : undefined, text, stats });
        }
        throw statusError(fn, status, detail.message);
      },
      (err) => {
        cleanup();
        throw err;
      },
    );
    return { promise, cancel: run.cancel, run };
  }
}

/**
 * The object returned by Generator.stream(): an async iterable of text chunks, also with
 * `result` (Promise<{ text, stats }>, rejecting like generate()) and `cancel()`.
 * The generation starts at once; chunks produced before the loop asks for them are kept.
 */
class GenerationStream {
  constructor(generator, prompt, options) {
    this._queue = [];
    this._waiters = [];
    this._done = false;
    this._error = null;
    this._errorDelivered = false;
    this._left = false;
    const { promise, cancel, run } = generator._start(prompt, options, (chunk) => this._push(chunk));
    this._cancel = cancel;
    this._run = run;
    /** Promise<{ text, stats }>: settles when the native call has returned. */
    this.result = promise;
    promise.then(
      () => this._finish(null),
      (e) => this._finish(e),
    );
  }

  [Symbol.asyncIterator]() {
    return this;
  }

  /** Cancel the generation (the loop then throws an AbortError). */
  cancel() {
    this._cancel({ kind: 'cancel' });
  }

  next() {
    const stopped = this._run ? this._run.stopped : false;
    if (this._queue.length && !stopped && !this._left) {
      return Promise.resolve({ value: this._queue.shift(), done: false });
    }
    if (this._done || this._left) return this._settled();
    return new Promise((resolve, reject) => this._waiters.push({ resolve, reject }));
  }

  /** Called by `for await` when the loop is left early: cancels the generation. */
  return() {
    this._left = true;
    this._queue.length = 0;
    this._cancel({ kind: 'break' });
    for (const w of this._waiters.splice(0)) w.resolve({ value: undefined, done: true });
    return Promise.resolve({ value: undefined, done: true });
  }

  _push(chunk) {
    if (this._left) return;
    const waiter = this._waiters.shift();
    if (waiter) waiter.resolve({ value: chunk, done: false });
    else this._queue.push(chunk);
  }

  _finish(error) {
    this._done = true;
    this._error = error;
    if (error) this._queue.length = 0;
    for (const w of this._waiters.splice(0)) this._settled().then(w.resolve, w.reject);
  }

  _settled() {
    if (this._queue.length && !this._left && !(this._run && this._run.stopped)) {
      return Promise.resolve({ value: this._queue.shift(), done: false });
    }
    if (this._error && !this._errorDelivered && !this._left) {
      this._errorDelivered = true;
      return Promise.reject(this._error);
    }
    return Promise.resolve({ value: undefined, done: true });
  }
}

module.exports = { Generator, GenerationStream, NodespaceError };
