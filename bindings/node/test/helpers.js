'use strict';
// Shared by the tests: paths, the reference CLI, JSON, vector math, loud skips.

const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const packageDir = path.resolve(__dirname, '..');
const repo = path.resolve(packageDir, '..', '..');
const realModels = process.env.NS_REAL_MODELS ? path.resolve(process.env.NS_REAL_MODELS) : path.join(repo, 'models', 'real');

function tiny(name) {
  return path.join(repo, 'models', 'tiny', name);
}

function readJson(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

/** Skip `t` loudly: the message (with "SKIPPED") goes to the console too, not only to the report. */
function skipLoudly(t, message) {
  const line = `SKIPPED: ${t.name}: ${message}`;
  console.log(line);
  t.skip(line);
}

/** The real model folder, or null after a loud skip (a failure with NS_REQUIRE_REAL_MODELS=1). */
function realModel(t, name) {
  const dir = path.join(realModels, name);
  if (fs.existsSync(dir)) return dir;
  if (process.env.NS_REQUIRE_REAL_MODELS === '1') throw new Error(`${dir} is missing and NS_REQUIRE_REAL_MODELS=1`);
  skipLoudly(t, `real model ${dir} is not installed (see models/README.md; scripts/setup.sh installs the real models)`);
  return null;
}

/** The reference Rust CLI (target/release/examples/cli, or $NS_CLI), or null. */
function cliPath() {
  const candidate = process.env.NS_CLI || path.join(repo, 'target', 'release', 'examples', process.platform === 'win32' ? 'cli.exe' : 'cli');
  return fs.existsSync(candidate) ? candidate : null;
}

/** Run the CLI; returns stdout. */
function cli(args) {
  const exe = cliPath();
  if (!exe) throw new Error('the reference CLI is not built (cargo build --release --example cli)');
  return execFileSync(exe, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** `cli generate ... --json` as an object. */
function cliGenerate(model, { prompt, system, user, maxNewTokens, stop = [], variant }) {
  const args = ['generate', '--model', model, '--greedy', '--json'];
  if (variant !== undefined) args.push('--variant', variant);
  if (prompt !== undefined) args.push('--prompt', prompt);
  if (system !== undefined) args.push('--system', system);
  if (user !== undefined) args.push('--user', user);
  if (maxNewTokens !== undefined) args.push('--max-new-tokens', String(maxNewTokens));
  for (const s of stop) args.push('--stop', s);
  return JSON.parse(cli(args).trim().split('\n').pop());
}

/** `cli embed --json` as arrays of numbers. */
function cliEmbed(model, texts, variant) {
  const args = ['embed', '--model', model, '--json'];
  if (variant) args.push('--variant', variant);
  args.push('--', ...texts);
  return cli(args)
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
}

function cosine(a, b) {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

function maxAbsDiff(a, b) {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Resolve after `ms` milliseconds. */
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

module.exports = { packageDir, repo, realModels, tiny, readJson, skipLoudly, realModel, cliPath, cli, cliGenerate, cliEmbed, cosine, maxAbsDiff, sleep };
