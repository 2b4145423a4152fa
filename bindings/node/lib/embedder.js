'use strict';

const native = require('./native');
const { koffi } = native;
const { Arena, encoder } = require('./memory');
const { loadHandle } = require('./load');
const {
  checkSync,
  checkDetail,
  callAsync,
  optionalCount,
  HandleState,
  registry,
} = require('./common');

const POOLING = { default: 0, mean: 1, cls: 2, last_token: 3, max: 4 };
const POOLING_NAMES = ['default', 'mean', 'cls', 'last_token', 'max', 'in_graph'];

const CONSTRUCT = Symbol('construct');

function poolingCode(pooling) {
  if (pooling === undefined || pooling === null) return POOLING.default;
  const code = POOLING[String(pooling).toLowerCase()];
  if (code === undefined) throw new TypeError(`pooling must be one of ${Object.keys(POOLING).join(', ')} (got ${JSON.stringify(pooling)})`);
  return code;
}

/** UTF-8 bytes of one input: a string, or raw bytes (Uint8Array/Buffer) passed as they are. */
function textBytes(text, i) {
  if (typeof text === 'string') return encoder.encode(text);
  if (text instanceof Uint8Array) return text;
  throw new TypeError(`texts[${i}] must be a string (or a Uint8Array of UTF-8), got ${text === null ? 'null' : typeof text}`);
}

/**
 * A loaded embedding model. Create with `await Embedder.load({ model })`; free with
 * `await embedder.close()`. One embedder may run several embed() calls at once (up to
 * `maxSessions` in parallel, on libuv worker threads); results are identical either way.
 */
class Embedder {
  constructor(key, ptr, fn, T) {
    if (key !== CONSTRUCT) throw new TypeError('use `await Embedder.load(options)` to create an Embedder');
    this._fn = fn;
    this._T = T;
    this._state = new HandleState(ptr, (p) => fn.ns_embedder_free(p), 'Embedder');
    this._dimension = Number(fn.ns_embedder_dimension(ptr));
    this._info = null;
    registry.register(this, this._state, this._state);
  }

  /**
   * Load a model folder off the main thread.
   * @param {import('../index').EmbedderOptions} options
   * @returns {Promise<Embedder>}
   */
  static async load(options) {
    const kind = { name: 'Embedder', structType: 'embedderOptions', init: 'ns_embedder_options_init', create: 'ns_embedder_new' };
    const { ptr, fn, T } = await loadHandle(options, kind, (o, arena) => {
      o.pooling = poolingCode(options.pooling);
      if (options.normalize !== undefined) o.normalize = options.normalize ? 1 : 0;
      o.max_length = optionalCount(options.maxLength, 'maxLength');
      o.output_dimension = optionalCount(options.outputDimension, 'outputDimension');
      o.prompt_name = arena.cstring(options.promptName, 'option "promptName"');
      o.batch_token_budget = optionalCount(options.batchTokenBudget, 'batchTokenBudget');
      o.max_batch_size = optionalCount(options.maxBatchSize, 'maxBatchSize');
      if (options.failOnTruncation !== undefined) o.fail_on_truncation = options.failOnTruncation ? 1 : 0;
    });
    return new Embedder(CONSTRUCT, ptr, fn, T);
  }

  /** Floats per vector. */
  get dimension() {
    this._check();
    return this._dimension;
  }

  /** What the embedder detected and runs with (see index.d.ts: EmbedderInfo). */
  get info() {
    this._check();
    if (!this._info) {
      const raw = { struct_size: koffi.sizeof(this._T.embedderInfo) };
      checkSync(this._fn, this._fn.ns_embedder_get_info(this._state.ptr, raw));
      this._info = Object.freeze({
        dimension: Number(raw.dimension),
        maxLength: Number(raw.max_length),
        pooling: POOLING_NAMES[raw.pooling] ?? String(raw.pooling),
        normalize: raw.normalize !== 0,
        modelFile: raw.model_file,
        provider: raw.provider,
        fallbackReason: raw.fallback_reason ?? null,
      });
    }
    return this._info;
  }

  /** true once close() was called. */
  get closed() {
    return this._state.closed;
  }

  /**
   * Embed texts off the main thread.
   * - `embed(["a", "b"])` resolves with one Float32Array per text, in input order.
   * - `embed("a")` resolves with a single Float32Array (same as embedOne).
   * An empty array rejects with NodespaceError NS_ERR_INVALID_ARGUMENT (the library's
   * answer). Strings are sent as UTF-8; a Uint8Array is sent as raw bytes (invalid UTF-8
   * then gives NS_ERR_INVALID_UTF8).
   * `options.promptName`: the model's prompt to use for this call ("query" for a search,
   * "document" for the notes it searches) instead of the embedder's own.
   */
  async embed(texts, options = {}) {
    const single = typeof texts === 'string' || texts instanceof Uint8Array;
    if (!single && (texts === null || typeof texts !== 'object' || typeof texts[Symbol.iterator] !== 'function')) {
      throw new TypeError('embed(texts) takes a string or an array of strings');
    }
    if (options === null || typeof options !== 'object') throw new TypeError('embed(texts, options): options must be an object');
    const { promptName } = options;
    const list = single ? [texts] : Array.from(texts);
    const encoded = list.map(textBytes);
    this._state.begin();
    const arena = new Arena();
    try {
      const fn = this._fn;
      const total = encoded.reduce((n, b) => n + b.length, 0);
      const base = arena.alloc(total);
      const view = new Uint8Array(koffi.view(base, Math.max(1, total)));
      const pointers = [];
      let offset = 0;
      for (const bytes of encoded) {
        view.set(bytes, offset);
        pointers.push(base + BigInt(offset));
        offset += bytes.length;
      }
      const textsPtr = arena.pointerArray(pointers.length ? pointers : [base]);
      const lengthsPtr = arena.sizeArray(encoded.length ? encoded.map((b) => b.length) : [0]);
      const dim = this._dimension;
      const floats = list.length * dim;
      const out = arena.alloc(floats * 4);
      const errorPtr = arena.alloc(this._T.errorDetailSize);
      const status = promptName === undefined || promptName === null
        ? await callAsync(fn.ns_embed_batch, this._state.ptr, textsPtr, lengthsPtr, list.length, out, floats, errorPtr)
        : await callAsync(fn.ns_embed_batch_with_prompt, this._state.ptr, arena.cstring(promptName, 'option "promptName"'), textsPtr, lengthsPtr, list.length, out, floats, errorPtr);
      checkDetail(fn, status, errorPtr);
      const all = new Float32Array(koffi.view(out, Math.max(4, floats * 4)));
      const vectors = list.map((_, i) => all.slice(i * dim, (i + 1) * dim));
      return single ? vectors[0] : vectors;
    } finally {
      arena.free();
      this._state.end();
    }
  }

  /** Embed one text: resolves with its Float32Array. */
  async embedOne(text, options = {}) {
    if (typeof text !== 'string' && !(text instanceof Uint8Array)) throw new TypeError('embedOne(text) takes a string');
    return this.embed(text, options);
  }

  /**
   * Free the model. Idempotent. Calls made afterwards throw NodespaceError
   * ERR_NODESPACE_CLOSED; embed() calls already running finish first, and the returned
   * promise resolves once the native embedder is freed.
   */
  close() {
    registry.unregister(this._state);
    return this._state.close();
  }

  async [Symbol.asyncDispose ?? Symbol.for('nodejs.asyncDispose')]() {
    await this.close();
  }

  _check() {
    if (this._state.closed) this._state.begin(); // throws ERR_NODESPACE_CLOSED
  }
}

module.exports = { Embedder };
