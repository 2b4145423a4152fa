'use strict';
// Native memory for one call: allocated with koffi.alloc (stable addresses a worker thread
// can use for the whole call), freed together when the call is over.

const { koffi } = require('./native');

const POINTER_SIZE = koffi.sizeof('void *');
const SIZE_T = koffi.sizeof('size_t');
const encoder = new TextEncoder();

/** A writable Uint8Array over `len` bytes of native memory at `ptr`. */
function bytesAt(ptr, len) {
  return new Uint8Array(koffi.view(ptr, len));
}

class Arena {
  constructor() {
    this.pointers = [];
  }

  /**
   * `len` zeroed bytes (koffi.alloc is calloc: zeroed, aligned for any type), at least 1 so
   * that an empty text still has an address.
   */
  alloc(len) {
    const ptr = koffi.alloc('uint8_t', Math.max(1, len));
    this.pointers.push(ptr);
    return ptr;
  }

  /** Copy `bytes` (Uint8Array) to native memory, NUL-terminated when `nul`. */
  bytes(bytes, nul = true) {
    const ptr = this.alloc(bytes.length + (nul ? 1 : 0));
    if (bytes.length) bytesAt(ptr, bytes.length).set(bytes);
    return ptr;
  }

  /**
   * A NUL-terminated UTF-8 copy of `text`, or null (NULL) for null/undefined. The C ABI
   * takes these strings without a length, so a text containing U+0000 would be cut there
   * silently: it is refused instead (`what` names it in the TypeError).
   */
  cstring(text, what = 'a string argument') {
    if (text === null || text === undefined) return null;
    const str = String(text);
    if (str.includes('\0')) throw new TypeError(`${what} contains a NUL character (U+0000), which the C ABI cannot pass`);
    return this.bytes(encoder.encode(str), true);
  }

  /** An array of pointers (BigInt or null), e.g. `const char *const *`. */
  pointerArray(pointers) {
    const ptr = this.alloc(pointers.length * POINTER_SIZE);
    const view = new BigUint64Array(koffi.view(ptr, pointers.length * POINTER_SIZE));
    pointers.forEach((p, i) => {
      view[i] = p === null || p === undefined ? 0n : BigInt(p);
    });
    return ptr;
  }

  /** An array of size_t. */
  sizeArray(values) {
    const ptr = this.alloc(values.length * SIZE_T);
    if (SIZE_T === 8) {
      const view = new BigUint64Array(koffi.view(ptr, values.length * 8));
      values.forEach((v, i) => (view[i] = BigInt(v)));
    } else {
      const view = new Uint32Array(koffi.view(ptr, values.length * 4));
      values.forEach((v, i) => (view[i] = v));
    }
    return ptr;
  }

  /** A struct of `type` holding `value` (fields not given are zero). */
  struct(type, value) {
    const ptr = this.alloc(koffi.sizeof(type));
    koffi.encode(ptr, type, value);
    return ptr;
  }

  /** Free everything; safe to call twice. */
  free() {
    for (const p of this.pointers) koffi.free(p);
    this.pointers = [];
  }
}

/** Status and message of an ns_error_detail at `ptr`. */
function readErrorDetail(ptr) {
  const status = koffi.decode(ptr, 'int32_t');
  const message = koffi.decode(ptr, 4, 'char', -1);
  return { status, message: typeof message === 'string' ? message : '' };
}

module.exports = { Arena, bytesAt, readErrorDetail, POINTER_SIZE, SIZE_T, encoder };
