'use strict';
// Shared by Embedder and Generator: status -> error, option structs, async calls, and the
// lifetime of a native handle (in-flight calls, close, FinalizationRegistry).

const native = require('./native');
const { koffi } = native;
const { Arena, readErrorDetail } = require('./memory');
const { NodespaceError, BindingCodes } = require('./errors');

const DEVICES = { auto: 0, cpu: 1, coreml: 2, directml: 3, cuda: 4 };

/** The NodespaceError for `status`, with `message` (the library's) when it has one. */
function statusError(fn, status, message) {
  const code = fn.ns_status_string(status);
  return new NodespaceError(code, message || code, { status });
}

/** Throw for a failed synchronous call: its message is this thread's last error. */
function checkSync(fn, status) {
  if (status !== 0) throw statusError(fn, status, fn.ns_last_error_message());
}

/** Throw for a failed .async call, with the message from its ns_error_detail. */
function checkDetail(fn, status, detailPtr) {
  if (status === 0) return;
  const detail = readErrorDetail(detailPtr);
  throw statusError(fn, status, detail.message);
}

/** Run `func.async(...args)` on a libuv worker thread; resolves with its return value. */
function callAsync(func, ...args) {
  return new Promise((resolve, reject) => {
    func.async(...args, (err, result) => (err ? reject(err) : resolve(result)));
  });
}

/**
 * Defaults of a versioned options struct, from the library's own _init function: it takes
 * the size of the struct declared here and fills the fields both sides know (an older
 * library sets struct_size to its smaller size).
 */
function optionDefaults(fn, initName, type) {
  // The _init functions take our struct size: an older or newer library fills what both know.
  const scratch = new Arena();
  try {
    const size = koffi.sizeof(type);
    const ptr = scratch.alloc(size);
    checkSync(fn, fn[initName](ptr, size));
    return koffi.decode(ptr, type);
  } finally {
    scratch.free();
  }
}

function deviceCode(device) {
  if (device === undefined || device === null) return DEVICES.auto;
  if (typeof device === 'number') return device;
  const code = DEVICES[String(device).toLowerCase()];
  if (code === undefined) {
    throw new TypeError(`device must be one of ${Object.keys(DEVICES).join(', ')} (got ${JSON.stringify(device)})`);
  }
  return code;
}

function optionalCount(value, what) {
  if (value === undefined || value === null) return 0;
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new TypeError(`${what} must be a non-negative integer (got ${value})`);
  }
  return value;
}

function requireModel(options, what) {
  if (!options || typeof options !== 'object') throw new TypeError(`${what}.load(options) needs an options object with "model"`);
  if (typeof options.model !== 'string' || options.model === '') {
    throw new TypeError(`${what}.load: option "model" (the model folder) must be a non-empty string`);
  }
}

/**
 * The life of one native handle.
 *
 * Every async call on it is counted (begin/end). close() marks it closed at once (later
 * calls throw ERR_NODESPACE_CLOSED) and frees the handle when the last in-flight call has
 * returned; its promise resolves then. The FinalizationRegistry frees handles whose object
 * was garbage-collected without close(): an in-flight call keeps its object reachable
 * (the call's completion closure refers to it), so the finalizer never sees a busy handle.
 */
class HandleState {
  constructor(ptr, freeFn, kind) {
    this.ptr = ptr;
    this.freeFn = freeFn;
    this.kind = kind;
    this.inFlight = 0;
    this.closed = false;
    this.freed = false;
    this.waiters = [];
  }

  begin() {
    if (this.closed) {
      throw new NodespaceError(BindingCodes.CLOSED, `this ${this.kind} is closed (close() was called); load a new one`);
    }
    this.inFlight += 1;
  }

  end() {
    this.inFlight -= 1;
    if (this.closed && this.inFlight === 0) this.release();
  }

  release() {
    if (this.freed) return;
    this.freed = true;
    const ptr = this.ptr;
    this.ptr = null;
    this.freeFn(ptr);
    for (const resolve of this.waiters.splice(0)) resolve();
  }

  close() {
    this.closed = true;
    if (this.inFlight === 0) this.release();
    if (this.freed) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}

/** Handles freed by the FinalizationRegistry (observed by the tests). */
const finalizerStats = { freed: 0 };

const registry = new FinalizationRegistry((state) => {
  if (!state.closed && state.inFlight === 0) {
    state.closed = true;
    state.release();
    finalizerStats.freed += 1;
  }
});

module.exports = {
  DEVICES,
  statusError,
  checkSync,
  checkDetail,
  callAsync,
  optionDefaults,
  deviceCode,
  optionalCount,
  requireModel,
  HandleState,
  registry,
  finalizerStats,
};
