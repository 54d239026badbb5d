#!/usr/bin/env node
// Runs an ONNX model with ONNX Runtime (the zoo's peer) on .npy inputs and writes one .npy per output.
//
//   node tools/zoo/ort_run.mjs MODEL.onnx OUTDIR NAME=IN.npy [NAME=IN.npy ...]
//
// onnxruntime-node comes from $FOVEA_CACHE_DIR/npm (default ~/.cache/fovea/npm) (scripts/fetch-models.sh puts it there; FOVEA_NPM_PREFIX overrides).
// Settings are fixed so results are reproducible: CPU EP, all graph optimizations, 2 intra-op threads,
// sequential execution. Output files are named after the outputs, with characters outside [A-Za-z0-9._-]
// replaced by '_' (tests/zoo/zoo_test.cc applies the same rule).
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';


// The dtypes the zoo exchanges: numpy descr (little-endian) <-> ONNX Runtime tensor type <-> typed array.
const kDTypes = [
  { descr: '<f4', ort: 'float32', array: Float32Array },
  { descr: '<i8', ort: 'int64', array: BigInt64Array },
  { descr: '<i4', ort: 'int32', array: Int32Array },
  { descr: '|u1', ort: 'uint8', array: Uint8Array },
  { descr: '|i1', ort: 'int8', array: Int8Array },
  { descr: '|b1', ort: 'bool', array: Uint8Array },
];
// Spellings numpy also accepts for one-byte types.
const kDescrAliases = { '<u1': '|u1', '>u1': '|u1', '<i1': '|i1', '>i1': '|i1', '<b1': '|b1', '>b1': '|b1' };

const kMagic = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // "\x93NUMPY"

function fail(message) {
  process.stderr.write(`ort_run: ${message}\n`);
  process.exit(1);
}

// Parses a .npy file (format 1.0, 2.0 or 3.0; little-endian; C order) into { dtype, shape, data }.
export function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.length < 10 || !buf.subarray(0, 6).equals(kMagic)) throw new Error(`${file}: not a .npy file`);
  const major = buf[6];
  let headerLen;
  let offset;
  if (major === 1) {
    headerLen = buf.readUInt16LE(8);
    offset = 10;
  } else if (major === 2 || major === 3) {
    if (buf.length < 12) throw new Error(`${file}: truncated header`);
    headerLen = buf.readUInt32LE(8);
    offset = 12;
  } else {
    throw new Error(`${file}: unsupported .npy version ${major}`);
  }
  if (offset + headerLen > buf.length) throw new Error(`${file}: truncated header`);
  const header = buf.toString(major === 3 ? 'utf8' : 'latin1', offset, offset + headerLen);
  const descrMatch = /'descr'\s*:\s*'([^']*)'/.exec(header);
  const fortranMatch = /'fortran_order'\s*:\s*(True|False)/.exec(header);
  const shapeMatch = /'shape'\s*:\s*\(([^)]*)\)/.exec(header);
  if (!descrMatch || !fortranMatch || !shapeMatch) {
    throw new Error(`${file}: malformed header ${JSON.stringify(header)}`);
  }
  if (fortranMatch[1] === 'True') throw new Error(`${file}: Fortran order is not supported`);
  const descr = kDescrAliases[descrMatch[1]] ?? descrMatch[1];
  const dtype = kDTypes.find((d) => d.descr === descr);
  if (!dtype) {
    throw new Error(`${file}: unsupported dtype '${descrMatch[1]}' ` +
                    '(big-endian, or not one of float32, int64, int32, uint8, int8, bool)');
  }
  const shape = shapeMatch[1].split(',').map((s) => s.trim()).filter((s) => s.length > 0).map(Number);
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) throw new Error(`${file}: bad shape (${shapeMatch[1]})`);
  const numel = shape.reduce((a, b) => a * b, 1);
  const dataStart = offset + headerLen;
  const nbytes = numel * dtype.array.BYTES_PER_ELEMENT;
  if (buf.length - dataStart < nbytes) {
    throw new Error(`${file}: truncated data (${buf.length - dataStart} of ${nbytes} bytes)`);
  }
  // Copy into a fresh, aligned buffer: typed arrays need element alignment, and Node buffers are pooled.
  const data = new dtype.array(numel);
  Buffer.from(data.buffer).set(buf.subarray(dataStart, dataStart + nbytes));
  return { dtype, shape, data };
}

// Writes a version 1.0 .npy file; the header is padded so the data starts on a 64-byte boundary.
export function writeNpy(file, dtype, shape, data) {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${dtype.descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const unpadded = kMagic.length + 2 + 2 + header.length + 1;
  header += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const prefix = Buffer.alloc(10);
  kMagic.copy(prefix, 0);
  prefix[6] = 1;
  prefix[7] = 0;
  prefix.writeUInt16LE(header.length, 8);
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  fs.writeFileSync(file, Buffer.concat([prefix, Buffer.from(header, 'latin1'), body]));
}

export function sanitizeName(name) {
  return name.replace(/[^A-Za-z0-9._-]/g, '_');
}

function loadOrt() {
  const cacheDir = process.env.FOVEA_CACHE_DIR ??
    path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'fovea');
  const prefix = process.env.FOVEA_NPM_PREFIX ?? path.join(cacheDir, 'npm');
  const require = createRequire(path.join(prefix, 'package.json'));
  try {
    return require('onnxruntime-node');
  } catch (e) {
    fail(`cannot load onnxruntime-node from ${prefix}/node_modules (run scripts/fetch-models.sh): ${e.message}`);
  }
}

async function main(argv) {
  if (argv.length < 2 || argv.includes('-h') || argv.includes('--help')) {
    process.stderr.write('usage: node tools/zoo/ort_run.mjs MODEL.onnx OUTDIR NAME=IN.npy [NAME=IN.npy ...]\n');
    process.exit(argv.length < 2 ? 2 : 0);
  }
  const [modelPath, outDir, ...pairs] = argv;
  const ort = loadOrt();
  const session = await ort.InferenceSession.create(modelPath, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: 2,
    interOpNumThreads: 1,
    executionMode: 'sequential',
  });

  const feeds = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) fail(`expected NAME=FILE.npy, got '${pair}'`);
    const name = pair.slice(0, eq);
    if (!session.inputNames.includes(name)) {
      fail(`${modelPath} has no input '${name}' (inputs: ${session.inputNames.join(', ')})`);
    }
    const { dtype, shape, data } = readNpy(pair.slice(eq + 1));
    feeds[name] = new ort.Tensor(dtype.ort, data, shape);
  }
  const missing = session.inputNames.filter((n) => !(n in feeds));
  if (missing.length > 0) fail(`missing inputs: ${missing.join(', ')}`);

  const results = await session.run(feeds);
  fs.mkdirSync(outDir, { recursive: true });
  for (const name of session.outputNames) {
    const t = results[name];
    const dtype = kDTypes.find((d) => d.ort === t.type);
    if (!dtype) fail(`output '${name}' has dtype ${t.type}, which the zoo does not exchange`);
    // ONNX Runtime hands bool outputs back as Uint8Array already; other types map one to one.
    writeNpy(path.join(outDir, `${sanitizeName(name)}.npy`), dtype, t.dims.map(Number), t.data);
  }
  await session.release?.();
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((e) => fail(e.stack ?? String(e)));
}
