'use strict';
// nodespace for Node.js: on-device sentence embeddings and streamed text generation,
// over libnodespace's C ABI (include/nodespace.h) through koffi. See README.md.

const { Embedder } = require('./lib/embedder');
const { Generator, GenerationStream } = require('./lib/generator');
const { NodespaceError, AbortError } = require('./lib/errors');
const runtime = require('./lib/runtime');
const native = require('./lib/native');

/**
 * Load the native library now (optional: Embedder.load / Generator.load do it) and, with
 * `onnxRuntime`, ONNX Runtime from that path. Resolves with { library, source, version, abiVersion }.
 */
const init = runtime.init;
/** The nodespace library version ("0.1.0"). */
const version = runtime.version;
/** The loaded ONNX Runtime's version ("1.31.1"), loading it if needed. */
const onnxRuntimeVersion = runtime.onnxRuntimeVersion;
/** Where the native library would be looked for, in order (for diagnostics). */
const librarySearchPath = (library) => native.candidates(library).map((c) => ({ source: c.source, path: c.target }));

module.exports = {
  Embedder,
  Generator,
  GenerationStream,
  NodespaceError,
  AbortError,
  init,
  version,
  onnxRuntimeVersion,
  librarySearchPath,
};
