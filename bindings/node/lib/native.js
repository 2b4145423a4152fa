'use strict';
// Loading libnodespace with koffi, and the C declarations from include/nodespace.h.
//
// Pointers are koffi 3 BigInts. Everything a worker thread reads or writes during an
// `.async` call lives in memory allocated with koffi.alloc (see memory.js), never in JS
// objects that koffi would marshal into its small per-call async heap: a long prompt or a
// big batch of texts must not depend on that heap's size, and out-parameters are read
// back by us after the call, on the main thread.

const fs = require('node:fs');
const path = require('node:path');
const koffi = require('koffi');
const { NodespaceError, BindingCodes } = require('./errors');

/** NS_ABI_VERSION of the header these declarations were written from. */
const ABI_VERSION = 1;

const LIBRARY_FILE = { linux: 'libnodespace.so', darwin: 'libnodespace.dylib', win32: 'nodespace.dll' };

/** The library's file name on this platform (libnodespace.so, libnodespace.dylib, nodespace.dll). */
function libraryFileName(platform = process.platform) {
  return LIBRARY_FILE[platform] ?? 'libnodespace.so';
}

/** The npm package carrying this platform's library: `@nodespace/<platform>-<arch>`. */
function platformPackageName(platform = process.platform, arch = process.arch) {
  return `@nodespace/${platform}-${arch}`;
}

/**
 * The folder of this platform's package (an optional dependency: npm installs only the one
 * whose `os` and `cpu` match), or null when it is not installed. Inside an Electron app
 * packed with asar, the folder unpacked beside the archive: a native library cannot be
 * loaded from inside app.asar.
 */
function platformPackageDirectory() {
  let manifest;
  try {
    manifest = require.resolve(`${platformPackageName()}/package.json`);
  } catch {
    return null;
  }
  return asarUnpacked(path.dirname(manifest));
}

/** `.../app.asar/...` -> `.../app.asar.unpacked/...` (where electron-builder's asarUnpack puts files). */
function asarUnpacked(dir) {
  return dir.replace(/\.asar([\\/])/, '.asar.unpacked$1');
}

// ---------------------------------------------------------------------------------------
// Types. Layouts follow include/nodespace.h field by field (natural C alignment, which is
// what koffi.struct uses); test/abi.test.js checks each size against the library's own.

const T = {};
function declareTypes() {
  if (T.ready) return;
  T.chunkCallback = koffi.proto('int32_t ns_chunk_callback(void *utf8, size_t len, void *user_data)');
  T.toolCallCallback = koffi.proto('void ns_tool_call_callback(size_t index, const char *name, const char *arguments_json, void *user_data)');
  T.embedderOptions = koffi.struct('ns_embedder_options', {
    struct_size: 'uint32_t',
    model_path: 'void *',
    variant: 'void *',
    device: 'int32_t',
    intra_threads: 'uint32_t',
    max_sessions: 'uint32_t',
    pooling: 'int32_t',
    normalize: 'int32_t',
    max_length: 'uint32_t',
    output_dimension: 'uint32_t',
    prompt_name: 'void *',
    batch_token_budget: 'uint32_t',
    max_batch_size: 'uint32_t',
    fail_on_truncation: 'int32_t',
  });
  T.embedderInfo = koffi.struct('ns_embedder_info', {
    struct_size: 'uint32_t',
    dimension: 'size_t',
    max_length: 'size_t',
    pooling: 'int32_t',
    normalize: 'int32_t',
    model_file: 'const char *',
    provider: 'const char *',
    fallback_reason: 'const char *',
  });
  T.generatorOptions = koffi.struct('ns_generator_options', {
    struct_size: 'uint32_t',
    model_path: 'void *',
    variant: 'void *',
    device: 'int32_t',
    intra_threads: 'uint32_t',
    max_sessions: 'uint32_t',
    reuse_prefix: 'int32_t',
  });
  T.generatorInfo = koffi.struct('ns_generator_info', {
    struct_size: 'uint32_t',
    context_length: 'size_t',
    layers: 'size_t',
    kv_heads: 'size_t',
    head_dim: 'size_t',
    has_chat_template: 'int32_t',
    model_file: 'const char *',
    provider: 'const char *',
    fallback_reason: 'const char *',
    tools: 'int32_t',
    lookup_off_reason: 'const char *',
  });
  T.chatMessage = koffi.struct('ns_chat_message', {
    role: 'void *',
    content: 'void *',
  });
  T.generateRequest = koffi.struct('ns_generate_request', {
    struct_size: 'uint32_t',
    prompt: 'void *',
    messages: 'void *',
    message_count: 'size_t',
    max_new_tokens: 'uint32_t',
    sampling: 'int32_t',
    temperature: 'float',
    top_k: 'uint32_t',
    top_p: 'float',
    min_p: 'float',
    repetition_penalty: 'float',
    presence_penalty: 'float',
    frequency_penalty: 'float',
    seed: 'uint64_t',
    stop: 'void *',
    stop_count: 'size_t',
    cancel: 'void *',
    token_ids_out: 'uint32_t *',
    token_ids_capacity: 'size_t',
    lookup_max_draft: 'uint32_t',
    constraint_kind: 'int32_t',
    constraint: 'void *',
    choices: 'void *',
    choice_count: 'size_t',
    tools: 'void *',
    tool_choice: 'int32_t',
    messages_json: 'void *',
    on_tool_call: koffi.pointer(T.toolCallCallback),
  });
  T.generationStats = koffi.struct('ns_generation_stats', {
    struct_size: 'uint32_t',
    stop_reason: 'int32_t',
    prompt_tokens: 'size_t',
    reused_prompt_tokens: 'size_t',
    generated_tokens: 'size_t',
    time_to_first_token_ms: 'double',
    prefill_tokens_per_s: 'double',
    decode_tokens_per_s: 'double',
    total_ms: 'double',
    drafted_tokens: 'size_t',
    accepted_tokens: 'size_t',
    tool_calls: 'size_t',
  });
  T.runtimeOptions = koffi.struct('ns_runtime_options', {
    struct_size: 'uint32_t',
    onnxruntime_path: 'void *',
  });
  // ns_error_detail: int32_t status; char message[NS_ERROR_DETAIL_CAPACITY].
  T.errorDetailSize = 4 + 1024;
  T.ready = true;
}

function declareFunctions(lib) {
  const f = (proto) => lib.func(proto);
  return {
    // Fast functions: called synchronously on the main thread.
    ns_version: f('const char *ns_version(void)'),
    ns_abi_version: f('uint32_t ns_abi_version(void)'),
    ns_status_string: f('const char *ns_status_string(int32_t status)'),
    ns_last_error_message: f('const char *ns_last_error_message(void)'),
    ns_debug_trigger_panic: f('int32_t ns_debug_trigger_panic(void)'),
    ns_embedder_options_init: f('int32_t ns_embedder_options_init(void *options, size_t size)'),
    ns_generator_options_init: f('int32_t ns_generator_options_init(void *options, size_t size)'),
    ns_generate_request_init: f('int32_t ns_generate_request_init(void *request, size_t size)'),
    ns_runtime_options_init: f('int32_t ns_runtime_options_init(void *options, size_t size)'),
    ns_embedder_dimension: f('size_t ns_embedder_dimension(void *embedder)'),
    ns_embedder_get_info: f('int32_t ns_embedder_get_info(void *embedder, _Inout_ ns_embedder_info *info)'),
    ns_generator_get_info: f('int32_t ns_generator_get_info(void *generator, _Inout_ ns_generator_info *info)'),
    ns_embedder_free: f('void ns_embedder_free(void *embedder)'),
    ns_generator_free: f('void ns_generator_free(void *generator)'),
    ns_cancel_token_new: f('int32_t ns_cancel_token_new(_Out_ void **out)'),
    ns_cancel_token_cancel: f('int32_t ns_cancel_token_cancel(void *token)'),
    ns_cancel_token_reset: f('int32_t ns_cancel_token_reset(void *token)'),
    ns_cancel_token_free: f('void ns_cancel_token_free(void *token)'),
    // Slow functions: called with .async (a libuv worker thread); each takes an
    // ns_error_detail because the thread-local message would be on the worker.
    ns_embedder_new: f('int32_t ns_embedder_new(void *options, void *out, void *error)'),
    ns_generator_new: f('int32_t ns_generator_new(void *options, void *out, void *error)'),
    ns_embed_batch: f('int32_t ns_embed_batch(void *embedder, void *texts, void *lengths, size_t count, void *out, size_t out_len, void *error)'),
    ns_embed_batch_with_prompt: f('int32_t ns_embed_batch_with_prompt(void *embedder, void *prompt_name, void *texts, void *lengths, size_t count, void *out, size_t out_len, void *error)'),
    ns_generate_stream: f('int32_t ns_generate_stream(void *generator, void *request, ns_chunk_callback *on_chunk, void *user_data, void *stats, void *error)'),
    // No ns_error_detail: see runtime.js for how their messages are read.
    ns_runtime_init: f('int32_t ns_runtime_init(void *options)'),
    ns_runtime_version: f('int32_t ns_runtime_version(void *buffer, size_t capacity)'),
  };
}

// ---------------------------------------------------------------------------------------
// Resolution.

let loaded = null; // { path, source, lib, fn, T }

/** The places to try, in order: [{ source, target, isPath }]. */
function candidates(explicit) {
  const list = [];
  if (explicit) list.push({ source: 'option "library"', target: path.resolve(String(explicit)), isPath: true });
  const env = process.env.NODESPACE_LIBRARY;
  if (env) list.push({ source: 'NODESPACE_LIBRARY', target: path.resolve(env), isPath: true });
  const packaged = platformPackageDirectory();
  list.push({
    source: 'platform package',
    target: packaged ? path.join(packaged, libraryFileName()) : `${platformPackageName()} (not installed)`,
    isPath: Boolean(packaged),
    missing: !packaged,
  });
  list.push({ source: 'system loader', target: libraryFileName(), isPath: false });
  return list;
}

/**
 * Load libnodespace (once per process) and return the bound functions.
 *
 * Order: `explicit` (the `library` option), then $NODESPACE_LIBRARY, then the platform
 * package @nodespace/<platform>-<arch> (an optional dependency), then the system loader (a bare file
 * name: LD_LIBRARY_PATH, DYLD_LIBRARY_PATH, PATH, the standard folders). A path that
 * exists but cannot be loaded is reported and the search goes on; when nothing loads the
 * error lists every place tried and why each failed.
 */
function load(explicit) {
  if (loaded) {
    if (explicit && path.resolve(String(explicit)) !== loaded.path) {
      throw new NodespaceError(
        BindingCodes.LIBRARY_MISMATCH,
        `nodespace is already loaded from ${loaded.path} (${loaded.source}); a process can load only one copy, so option "library" ${explicit} cannot be used`,
      );
    }
    return loaded;
  }
  declareTypes();
  const tried = [];
  for (const c of candidates(explicit)) {
    if (c.missing) {
      tried.push(`${c.source}: ${c.target}`);
      continue;
    }
    if (c.isPath && !fs.existsSync(c.target)) {
      tried.push(`${c.source}: ${c.target} (not found)`);
      continue;
    }
    let lib;
    try {
      lib = koffi.load(c.target);
    } catch (e) {
      tried.push(`${c.source}: ${c.target} (${String(e.message || e).split('\n')[0]})`);
      continue;
    }
    let fn;
    try {
      fn = declareFunctions(lib);
    } catch (e) {
      tried.push(`${c.source}: ${c.target} (not a nodespace library: ${e.message})`);
      continue;
    }
    const abi = fn.ns_abi_version();
    if (abi !== ABI_VERSION) {
      tried.push(`${c.source}: ${c.target} (C ABI version ${abi}; this package needs ${ABI_VERSION})`);
      continue;
    }
    loaded = { path: c.isPath ? c.target : c.target, source: c.source, lib, fn, T };
    return loaded;
  }
  throw new NodespaceError(
    BindingCodes.LIBRARY_NOT_FOUND,
    `could not load the nodespace native library (${libraryFileName()}); tried:\n  - ${tried.join('\n  - ')}\n` +
      'Pass { library: "/path/to/' + libraryFileName() + '" }, set NODESPACE_LIBRARY, or build it with `cargo build --release`.',
  );
}

/** The loaded library, or null before the first load. */
function current() {
  return loaded;
}

module.exports = { load, current, candidates, libraryFileName, platformPackageName, platformPackageDirectory, asarUnpacked, ABI_VERSION, koffi, T };
