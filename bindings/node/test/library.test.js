'use strict';
// Library resolution, versions, struct layouts, handle lifetime (close, use after close,
// in-flight calls, FinalizationRegistry).

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync, spawnSync } = require('node:child_process');
const nodespace = require('..');
const { Embedder, NodespaceError } = nodespace;
const native = require('../lib/native');
const { koffi } = native;
const { packageDir, tiny, skipLoudly } = require('./helpers');

const libraryFile = process.env.NODESPACE_LIBRARY;

/** Run a CommonJS snippet in a fresh node process; returns { status, stdout, stderr }. */
function runChild(code, env, cwd = packageDir) {
  const childEnv = { ...process.env, ...env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete childEnv[k];
  return spawnSync(process.execPath, ['-e', code], { cwd, env: childEnv, encoding: 'utf8' });
}

test('version, ABI, library info, ONNX Runtime version', async () => {
  const info = await nodespace.init();
  assert.match(info.version, /^\d+\.\d+\.\d+/);
  assert.equal(info.abiVersion, native.ABI_VERSION);
  assert.equal(nodespace.version(), info.version);
  if (libraryFile) {
    assert.equal(info.library, path.resolve(libraryFile));
    assert.equal(info.source, 'NODESPACE_LIBRARY');
  }
  assert.match(await nodespace.onnxRuntimeVersion(), /^\d+\.\d+/);
});

test('struct layouts agree with the library (the sizes its _init functions write)', () => {
  const { fn, T } = native.load();
  for (const [init, type] of [
    ['ns_embedder_options_init', T.embedderOptions],
    ['ns_generator_options_init', T.generatorOptions],
    ['ns_generate_request_init', T.generateRequest],
    ['ns_runtime_options_init', T.runtimeOptions],
  ]) {
    const ptr = koffi.alloc('uint8_t', 4096);
    try {
      assert.equal(fn[init](ptr, 4096), 0); // a "newer" caller: the library reports its own size
      assert.equal(koffi.decode(ptr, 'uint32_t'), koffi.sizeof(type), `${init}: library struct size differs from the binding's`);
    } finally {
      koffi.free(ptr);
    }
  }
  // Sizes from include/nodespace.h on LP64 (checked with a C compiler).
  if (koffi.sizeof('void *') === 8) {
    assert.deepEqual(
      [T.embedderOptions, T.embedderInfo, T.generatorOptions, T.generatorInfo, T.chatMessage, T.generateRequest, T.generationStats, T.runtimeOptions].map((t) => koffi.sizeof(t)),
      [80, 56, 40, 88, 16, 184, 88, 16],
    );
  }
});

test('status names come from ns_status_string; a library panic is NS_ERR_INTERNAL', () => {
  const { fn } = native.load();
  assert.equal(fn.ns_status_string(6), 'NS_ERR_MODEL_NOT_FOUND');
  assert.equal(fn.ns_status_string(9999), 'NS_ERR_UNKNOWN');
  // In a child: the library prints the caught panic's backtrace to stderr.
  const r = runChild(`console.log(require('./lib/native.js').load().fn.ns_debug_trigger_panic())`, {});
  assert.equal(r.stdout.trim(), '16', r.stderr);
});

test('a missing library: the error names every place tried', () => {
  const code = `require('./index.js').init().then(() => console.log('LOADED'), (e) => console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message })))`;
  const r = runChild(code, { NODESPACE_LIBRARY: '/nonexistent/dir/libnodespace.so', LD_LIBRARY_PATH: '', DYLD_LIBRARY_PATH: '' });
  assert.equal(r.status, 0, r.stderr);
  const e = JSON.parse(r.stdout.trim());
  assert.equal(e.name, 'NodespaceError');
  assert.equal(e.code, 'ERR_NODESPACE_LIBRARY_NOT_FOUND');
  assert.match(e.message, /NODESPACE_LIBRARY: \/nonexistent\/dir\/libnodespace\.so \(not found\)/);
  assert.match(e.message, /platform package: @nodespace\/[a-z0-9]+-[a-z0-9]+ \(not installed\)/);
  assert.match(e.message, /system loader: libnodespace/);

  const withOption = runChild(
    `require('./index.js').Embedder.load({ model: 'x', library: '/nope/libnodespace.so' }).catch((e) => console.log(e.code + '\\n' + e.message))`,
    { NODESPACE_LIBRARY: undefined, LD_LIBRARY_PATH: '' },
  );
  assert.match(withOption.stdout, /^ERR_NODESPACE_LIBRARY_NOT_FOUND/);
  assert.match(withOption.stdout, /option "library": \/nope\/libnodespace\.so \(not found\)/);
  assert.doesNotMatch(withOption.stdout, /NODESPACE_LIBRARY:/);
  // A file that exists but is not a loadable library is reported with the loader's reason.
  const bogus = path.join(os.tmpdir(), `nodespace-bogus-${process.pid}.so`);
  fs.writeFileSync(bogus, 'not a shared library');
  try {
    const r2 = runChild(`require('./index.js').init({ library: ${JSON.stringify(bogus)} }).catch((e) => console.log(e.message))`, { NODESPACE_LIBRARY: undefined, LD_LIBRARY_PATH: '' });
    assert.ok(r2.stdout.includes(`option "library": ${bogus} (`), r2.stdout);
    assert.doesNotMatch(r2.stdout, new RegExp(`${bogus.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(not found\\)`));
  } finally {
    fs.rmSync(bogus, { force: true });
  }
});

test('resolution order: option, NODESPACE_LIBRARY, the platform package, system loader', (t) => {
  if (!libraryFile || process.platform === 'win32') {
    t.skip('needs NODESPACE_LIBRARY (test.sh sets it)');
    return;
  }
  const lib = path.resolve(libraryFile);
  const show = `require('./index.js').init().then((i) => console.log(i.source + '|' + i.library), (e) => console.log('ERR ' + e.message))`;
  // The explicit option wins over NODESPACE_LIBRARY.
  const explicit = runChild(`require('./index.js').init({ library: ${JSON.stringify(lib)} }).then((i) => console.log(i.source))`, { NODESPACE_LIBRARY: '/nonexistent/libnodespace.so' });
  assert.equal(explicit.stdout.trim(), 'option "library"', explicit.stderr);
  // A copy of the package with its platform package installed beside it, as npm lays them out.
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'nodespace-pkg-'));
  try {
    for (const entry of ['index.js', 'package.json', 'lib']) fs.cpSync(path.join(packageDir, entry), path.join(copy, entry), { recursive: true });
    fs.mkdirSync(path.join(copy, 'node_modules'));
    fs.symlinkSync(path.join(packageDir, 'node_modules', 'koffi'), path.join(copy, 'node_modules', 'koffi'));
    const prebuilt = path.join(copy, 'node_modules', native.platformPackageName());
    fs.mkdirSync(prebuilt, { recursive: true });
    fs.writeFileSync(path.join(prebuilt, 'package.json'), JSON.stringify({ name: native.platformPackageName(), version: '0.0.0' }));
    // A copy, not a link: libnodespace looks for ONNX Runtime in its own (real) folder.
    fs.copyFileSync(lib, path.join(prebuilt, native.libraryFileName()));
    const viaPackage = runChild(show, { NODESPACE_LIBRARY: undefined }, copy);
    assert.equal(viaPackage.stdout.trim(), `platform package|${path.join(prebuilt, native.libraryFileName())}`, viaPackage.stderr);
    // The packaged layout end to end: ONNX Runtime beside the library, no env at all.
    if (process.env.NS_ONNXRUNTIME_PATH) {
      fs.symlinkSync(process.env.NS_ONNXRUNTIME_PATH, path.join(prebuilt, path.basename(process.env.NS_ONNXRUNTIME_PATH)));
      const packaged = runChild(
        `const ns = require('./index.js'); ns.Embedder.load({ model: ${JSON.stringify(tiny('embed-bert'))} }).then(async (e) => { console.log((await ns.init()).source + '|' + (await e.embed('hi')).length); await e.close(); }, (e) => console.log('ERR ' + e.message))`,
        { NODESPACE_LIBRARY: undefined, NS_ONNXRUNTIME_PATH: undefined, ORT_DYLIB_PATH: undefined },
        copy,
      );
      assert.equal(packaged.stdout.trim(), 'platform package|32', packaged.stderr);
    }
    // NODESPACE_LIBRARY wins over the platform package.
    const viaEnv = runChild(show, { NODESPACE_LIBRARY: lib }, copy);
    assert.equal(viaEnv.stdout.trim(), `NODESPACE_LIBRARY|${lib}`);
  } finally {
    fs.rmSync(copy, { recursive: true, force: true });
  }
  // The system loader (LD_LIBRARY_PATH / DYLD_LIBRARY_PATH).
  const dir = path.dirname(lib);
  const viaSystem = runChild(show, { NODESPACE_LIBRARY: undefined, LD_LIBRARY_PATH: dir, DYLD_LIBRARY_PATH: dir });
  assert.equal(viaSystem.stdout.trim(), `system loader|${native.libraryFileName()}`, viaSystem.stderr + viaSystem.stdout);
});

test('inside an Electron asar archive the platform package is read from app.asar.unpacked', () => {
  assert.equal(native.asarUnpacked('/Apps/Notes.app/Contents/Resources/app.asar/node_modules/@nodespace/darwin-arm64'),
    '/Apps/Notes.app/Contents/Resources/app.asar.unpacked/node_modules/@nodespace/darwin-arm64');
  assert.equal(native.asarUnpacked('C:\\Notes\\resources\\app.asar\\node_modules\\@nodespace\\win32-x64'),
    'C:\\Notes\\resources\\app.asar.unpacked\\node_modules\\@nodespace\\win32-x64');
  assert.equal(native.asarUnpacked('/home/me/app/node_modules/@nodespace/linux-x64'), '/home/me/app/node_modules/@nodespace/linux-x64');
});

test('a second, different library path in one process is refused', async () => {
  await nodespace.init();
  await assert.rejects(nodespace.init({ library: '/some/other/libnodespace.so' }), { code: 'ERR_NODESPACE_LIBRARY_MISMATCH' });
});

test('onnxRuntime option: a bad path is reported with the places searched', () => {
  // In a fresh process: ONNX Runtime may be loaded only once per process.
  const r = runChild(`require('./index.js').init({ onnxRuntime: '/nonexistent/libonnxruntime.so' }).then(() => console.log('OK'), (e) => console.log(e.code + ' ' + e.message))`, {});
  assert.match(r.stdout, /^NS_ERR_RUNTIME_NOT_FOUND .*\/nonexistent\/libonnxruntime\.so/s, r.stdout + r.stderr);
  if (process.env.NS_ONNXRUNTIME_PATH) {
    const ok = runChild(
      `const ns = require('./index.js'); ns.init({ onnxRuntime: process.env.NS_ONNXRUNTIME_PATH }).then(() => ns.onnxRuntimeVersion()).then((v) => console.log('OK ' + v), (e) => console.log(e.code + ' ' + e.message))`,
      {},
    );
    assert.match(ok.stdout, /^OK \d+\.\d+/, ok.stdout + ok.stderr);
  }
});

test('a failed init({ onnxRuntime }) changes nothing: the next init() or model load works', (t) => {
  // In fresh processes: ONNX Runtime is loaded once per process, and this test needs it not
  // loaded yet. The library's own search finds the development runtime (NS_ONNXRUNTIME_PATH).
  if (!process.env.NS_ONNXRUNTIME_PATH) {
    skipLoudly(t, 'needs NS_ONNXRUNTIME_PATH (test.sh sets it)');
    return;
  }
  // A file that is not a library, a path that does not exist, the same as a load option;
  // then a model load without any option searches as usual and works.
  const afterLoad = runChild(
    `const ns = require('./index.js');
    const model = ${JSON.stringify(tiny('embed-bert'))};
    (async () => {
      const out = [];
      const failed = (e) => out.push({ code: e.code, message: e.message });
      const loaded = (what) => () => out.push({ code: 'LOADED ' + what });
      await ns.init({ onnxRuntime: '/etc/passwd' }).then(loaded('/etc/passwd'), failed);
      await ns.init({ onnxRuntime: '/nonexistent/libonnxruntime.so' }).then(loaded('nonexistent'), failed);
      await ns.Embedder.load({ model, onnxRuntime: '/nonexistent/again/libonnxruntime.so' }).then(loaded('option'), failed);
      const e = await ns.Embedder.load({ model });
      out.push({ dimension: (await e.embed('hello')).length, ort: await ns.onnxRuntimeVersion() });
      await e.close();
      console.log(JSON.stringify(out));
    })().catch((e) => console.log('UNEXPECTED ' + e.code + ' ' + e.message));`,
    {},
  );
  assert.equal(afterLoad.status, 0, afterLoad.stderr);
  assert.doesNotMatch(afterLoad.stdout, /UNEXPECTED/, afterLoad.stdout);
  const [passwd, missing, option, loaded] = JSON.parse(afterLoad.stdout.trim());
  assert.equal(passwd.code, 'NS_ERR_RUNTIME_NOT_FOUND');
  assert.match(passwd.message, /\/etc\/passwd/);
  // The loader's own reason, not just "dlopen failed".
  if (process.platform === 'linux') assert.match(passwd.message, /invalid ELF header/, passwd.message);
  assert.equal(missing.code, 'NS_ERR_RUNTIME_NOT_FOUND');
  assert.match(missing.message, /\/nonexistent\/libonnxruntime\.so/);
  assert.equal(option.code, 'NS_ERR_RUNTIME_NOT_FOUND');
  assert.match(option.message, /\/nonexistent\/again\/libonnxruntime\.so/);
  assert.equal(loaded.dimension, 32);
  assert.match(loaded.ort, /^\d+\.\d+/);
  // A failed init, then init with the good path.
  const afterInit = runChild(
    `const ns = require('./index.js');
    ns.init({ onnxRuntime: '/nonexistent/libonnxruntime.so' })
      .then(() => console.log('loaded nonexistent?'), (e) => console.log('FAILED ' + e.code))
      .then(() => ns.init({ onnxRuntime: process.env.NS_ONNXRUNTIME_PATH }))
      .then(() => ns.onnxRuntimeVersion())
      .then((v) => console.log('OK ' + v), (e) => console.log('UNEXPECTED ' + e.code + ' ' + e.message));`,
    {},
  );
  assert.match(afterInit.stdout, /^FAILED NS_ERR_RUNTIME_NOT_FOUND\nOK \d+\.\d+/, afterInit.stdout + afterInit.stderr);
});

test('close() is idempotent; use after close throws ERR_NODESPACE_CLOSED', async () => {
  const embedder = await Embedder.load({ model: tiny('embed-bert') });
  assert.equal(embedder.closed, false);
  await embedder.close();
  await embedder.close();
  assert.equal(embedder.closed, true);
  await assert.rejects(embedder.embed(['x']), (e) => {
    assert.ok(e instanceof NodespaceError);
    assert.equal(e.code, 'ERR_NODESPACE_CLOSED');
    assert.match(e.message, /closed/);
    return true;
  });
  assert.throws(() => embedder.dimension, { code: 'ERR_NODESPACE_CLOSED' });
  assert.throws(() => embedder.info, { code: 'ERR_NODESPACE_CLOSED' });
});

test('close() during an embed waits for it; the embed succeeds, later calls throw', async () => {
  const embedder = await Embedder.load({ model: tiny('embed-bert'), threads: 1 });
  const texts = Array.from({ length: 2000 }, (_, i) => `text ${i} with a few words`);
  const running = embedder.embed(texts);
  const closing = embedder.close();
  await assert.rejects(embedder.embed(['late']), { code: 'ERR_NODESPACE_CLOSED' });
  let closed = false;
  closing.then(() => (closed = true));
  const vectors = await running;
  assert.equal(vectors.length, texts.length);
  await closing;
  assert.equal(closed, true);
});

test('Symbol.asyncDispose closes', async () => {
  const embedder = await Embedder.load({ model: tiny('embed-bert') });
  const dispose = embedder[Symbol.asyncDispose ?? Symbol.for('nodejs.asyncDispose')];
  await dispose.call(embedder);
  assert.equal(embedder.closed, true);
});

test('a handle that was never closed is freed by the FinalizationRegistry', () => {
  const code = `
    const { Embedder } = require('./index.js');
    const { finalizerStats } = require('./lib/common.js');
    (async () => {
      let e = await Embedder.load({ model: ${JSON.stringify(tiny('embed-bert'))} });
      await e.embed(['hello']);
      e = null;
      for (let i = 0; i < 50 && finalizerStats.freed === 0; i++) {
        global.gc();
        await new Promise((r) => setTimeout(r, 10));
      }
      console.log('freed=' + finalizerStats.freed);
    })();`;
  const r = spawnSync(process.execPath, ['--expose-gc', '-e', code], { cwd: packageDir, encoding: 'utf8' });
  assert.equal(r.stdout.trim(), 'freed=1', r.stderr);
});

test('the package loads as an ES module with named exports', () => {
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', `import { Embedder, Generator, NodespaceError, AbortError, init } from ${JSON.stringify(path.join(packageDir, 'index.js'))}; console.log([Embedder, Generator, NodespaceError, AbortError, init].every((x) => typeof x === 'function'))`], { encoding: 'utf8' });
  assert.equal(out.trim(), 'true');
});
