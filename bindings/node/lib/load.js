'use strict';

const native = require('./native');
const { koffi } = native;
const { Arena } = require('./memory');
const runtime = require('./runtime');
const { checkDetail, callAsync, optionDefaults, deviceCode, optionalCount, requireModel } = require('./common');

/**
 * The loading path Embedder.load and Generator.load share: the library, ONNX Runtime when
 * asked, the option struct with its defaults and the model fields every loader has, and
 * the slow `ns_*_new` call on a libuv worker thread.
 * `kind`: { name, structType, init, create } (e.g. 'Embedder', 'embedderOptions',
 * 'ns_embedder_options_init', 'ns_embedder_new'); `fill(o, arena)` sets the kind's own
 * fields. Resolves to { ptr, fn, T } (ptr: the new handle).
 */
async function loadHandle(options, kind, fill) {
  requireModel(options, kind.name);
  const { fn, T } = native.load(options.library);
  if (options.onnxRuntime) await runtime.init({ onnxRuntime: options.onnxRuntime });
  const structType = T[kind.structType];
  const o = optionDefaults(fn, kind.init, structType);
  const arena = new Arena();
  try {
    o.model_path = arena.cstring(options.model, 'option "model"');
    o.variant = arena.cstring(options.variant, 'option "variant"');
    o.device = deviceCode(options.device);
    o.intra_threads = optionalCount(options.threads, 'threads');
    o.max_sessions = optionalCount(options.maxSessions, 'maxSessions');
    fill(o, arena);
    const optionsPtr = arena.struct(structType, o);
    const outPtr = arena.alloc(8);
    const errorPtr = arena.alloc(T.errorDetailSize);
    const status = await callAsync(fn[kind.create], optionsPtr, outPtr, errorPtr);
    checkDetail(fn, status, errorPtr);
    return { ptr: koffi.decode(outPtr, 'void *'), fn, T };
  } finally {
    arena.free();
  }
}

module.exports = { loadHandle };
