#!/usr/bin/env node
// ONNX Runtime's side of bench/cpu_peers.py: latency of one model at one input shape on random inputs, as JSON.
//
//   node bench/ort_bench.mjs MODEL.onnx --input NAME=D0,D1,... [--threads T] [--warmup W] [--iterations N]
//
// Settings mirror what a tuned deployment uses on a small CPU: CPU EP, all graph optimizations, T intra-op
// threads, one inter-op thread, sequential execution. Percentiles use the same rank rule as `fovea bench`
// (sorted times, index round(q * (n - 1))). peak_rss_mb is the process's getrusage max RSS (what fovea
// reports) and so includes Node.js itself; rss_sampled_mb is the largest process.memoryUsage().rss seen
// between runs.
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

function fail(message) {
  process.stderr.write(`ort_bench: ${message}\n`);
  process.exit(1);
}

function parseArgs(argv) {
  const o = { model: null, inputs: {}, threads: 1, warmup: 2, iterations: 10 };
  for (let i = 0; i < argv.length; ++i) {
    const arg = argv[i];
    if (!arg.startsWith('--')) {
      if (o.model !== null) fail(`unexpected argument '${arg}'`);
      o.model = arg;
      continue;
    }
    const value = argv[++i];
    if (value === undefined) fail(`${arg} needs a value`);
    if (arg === '--input') {
      const eq = value.indexOf('=');
      const dims = value.slice(eq + 1).split(',').map(Number);
      if (eq <= 0 || dims.some((d) => !Number.isInteger(d) || d <= 0)) {
        fail(`--input '${value}' must be NAME=1,3,224,224`);
      }
      o.inputs[value.slice(0, eq)] = dims;
    } else if (['--threads', '--warmup', '--iterations'].includes(arg)) {
      const n = Number(value);
      if (!Number.isInteger(n) || n < (arg === '--warmup' ? 0 : 1)) fail(`${arg} '${value}' is not a valid count`);
      o[arg.slice(2)] = n;
    } else {
      fail(`unknown option ${arg}`);
    }
  }
  if (o.model === null) {
    fail('usage: ort_bench.mjs MODEL.onnx --input NAME=DIMS [--threads T] [--warmup W] [--iterations N]');
  }
  return o;
}

function loadOrt() {
  const cacheDir = process.env.FOVEA_CACHE_DIR ??
    path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'fovea');
  const prefix = process.env.FOVEA_NPM_PREFIX ?? path.join(cacheDir, 'npm');
  try {
    return createRequire(path.join(prefix, 'package.json'))('onnxruntime-node');
  } catch (e) {
    fail(`cannot load onnxruntime-node from ${prefix}/node_modules (run scripts/fetch-models.sh): ${e.message}`);
  }
}

function percentile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.round(q * (sorted.length - 1)))];
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const ort = loadOrt();
  const session = await ort.InferenceSession.create(o.model, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: o.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
  });
  const missing = session.inputNames.filter((n) => !(n in o.inputs));
  if (missing.length > 0) fail(`give every input's shape with --input; missing: ${missing.join(', ')}`);

  // Uniform [0, 1) inputs with a fixed LCG seed: speed does not depend on the values, but reruns should match.
  let state = 42;
  const feeds = {};
  for (const name of session.inputNames) {
    const dims = o.inputs[name];
    const data = new Float32Array(dims.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; ++i) {
      state = (state * 1664525 + 1013904223) >>> 0;
      data[i] = state / 4294967296;
    }
    feeds[name] = new ort.Tensor('float32', data, dims);
  }

  let rssSampled = process.memoryUsage().rss;
  for (let i = 0; i < o.warmup; ++i) await session.run(feeds);
  const ms = [];
  for (let i = 0; i < o.iterations; ++i) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
    rssSampled = Math.max(rssSampled, process.memoryUsage().rss);
  }
  await session.release?.();
  ms.sort((a, b) => a - b);
  const result = {
    runtime: `onnxruntime-node ${ort.env.versions?.common ?? 'unknown'}`,
    model: o.model,
    threads: o.threads,
    warmup: o.warmup,
    iterations: o.iterations,
    min_ms: ms[0],
    median_ms: percentile(ms, 0.5),
    p90_ms: percentile(ms, 0.9),
    peak_rss_mb: process.resourceUsage().maxRSS / 1024,
    rss_sampled_mb: rssSampled / (1024 * 1024),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((e) => fail(e.stack ?? String(e)));
