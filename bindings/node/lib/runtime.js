'use strict';
// Process-wide things: loading the library, ONNX Runtime, versions.

const native = require('./native');
const { koffi } = native;
const { Arena } = require('./memory');
const { callAsync, checkSync } = require('./common');

/**
 * Load libnodespace (see native.load for the search order) and, when `onnxRuntime` is
 * given, load ONNX Runtime from that path now (ns_runtime_init) instead of at the first
 * model load. Resolves with { library, version, abiVersion }.
 *
 * ns_runtime_init has no ns_error_detail parameter, so its thread-local message would be
 * on the worker thread: it runs off the main thread first, and only when it fails is it
 * run again synchronously to read the message (a failing load is quick, and the library
 * documents that a failed call changes nothing: it may be called again, and the next model
 * load searches as usual).
 */
async function init(options = {}) {
  const { fn, T } = native.load(options.library);
  if (options.onnxRuntime) {
    const arena = new Arena();
    try {
      const size = koffi.sizeof(T.runtimeOptions);
      const ptr = arena.alloc(size);
      checkSync(fn, fn.ns_runtime_options_init(ptr, size));
      const filled = koffi.decode(ptr, T.runtimeOptions);
      koffi.encode(ptr, T.runtimeOptions, {
        struct_size: filled.struct_size,
        onnxruntime_path: arena.cstring(options.onnxRuntime, 'option "onnxRuntime"'),
      });
      const status = await callAsync(fn.ns_runtime_init, ptr);
      // On failure, the synchronous retry throws with the message (if it succeeds, the
      // runtime is loaded and all is well).
      if (status !== 0) checkSync(fn, fn.ns_runtime_init(ptr));
    } finally {
      arena.free();
    }
  }
  return info();
}

/** { library, source, version, abiVersion } of the loaded library (loading it if needed). */
function info() {
  const loaded = native.load();
  return {
    library: loaded.path,
    source: loaded.source,
    version: loaded.fn.ns_version(),
    abiVersion: loaded.fn.ns_abi_version(),
  };
}

/** The library's version string, e.g. "0.1.0". */
function version() {
  return native.load().fn.ns_version();
}

/** The ONNX Runtime version (e.g. "1.31.1"), loading the runtime if needed (off the main thread). */
async function onnxRuntimeVersion() {
  const { fn } = native.load();
  const arena = new Arena();
  try {
    const capacity = 128;
    const buffer = arena.alloc(capacity);
    const status = await callAsync(fn.ns_runtime_version, buffer, capacity);
    if (status !== 0) {
      // No ns_error_detail here either: read the message from a synchronous retry.
      checkSync(fn, fn.ns_runtime_version(buffer, capacity));
    }
    return koffi.decode(buffer, 'char', -1);
  } finally {
    arena.free();
  }
}

module.exports = { init, info, version, onnxRuntimeVersion };
