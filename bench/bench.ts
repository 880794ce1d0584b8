/**
 * npm run bench: speed of Monte Carlo dropout against one deterministic pass, on this machine, in
 * one run (ratios, not absolute numbers, are what compares across noisy shared machines).
 * Writes bench/results/latest.json and prints tables. Inference-only and end-to-end are separate.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { McModel } from '../src/engine/mc-model.js';
import { convertModel } from '../src/model/convert.js';
import { decodeModel, encodeModel } from '../src/model/onnx.js';
import { RuntimeSession } from '../src/engine/runtime.js';
import { loadImageTensor } from '../src/preprocess/decode.js';
import { resolvePreprocess } from '../src/preprocess/spec.js';
import { buildMobileNetV2 } from './mobilenet.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = path.join(ROOT, 'bin', 'mc-dropout.js');
const work = mkdtempSync(path.join(tmpdir(), 'mc-dropout-bench-'));
const quick = process.argv.includes('--quick');

/** Median seconds of `repeats` timed calls after one warm-up call. */
async function time(fn: () => Promise<unknown>, repeats = quick ? 2 : 3): Promise<number> {
  await fn();
  const times: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const start = process.hrtime.bigint();
    await fn();
    times.push(Number(process.hrtime.bigint() - start) / 1e9);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

interface InferenceRow {
  model: string;
  method: string;
  passes: number;
  imagesPerSecond: number;
  /** Seconds per image relative to one deterministic pass. */
  costVsDeterministic: number;
}

async function inference(label: string, file: string, batch: number): Promise<InferenceRow[]> {
  const reused = await McModel.load(file, { device: 'cpu' });
  const full = await McModel.load(file, { device: 'cpu', trunkReuse: 'off' });
  const images = Array.from({ length: batch }, (_, i) => new Float32Array(reused.imageSize).map((_, j) => Math.sin(i * 7 + j) * 1.5));
  // the baseline: the original graph in onnxruntime, where the optimizer removes Dropout (eval mode)
  const plain = await RuntimeSession.create(readFileSync(file), { provider: 'cpu', deviceId: 0, threads: 0 });
  const stacked = new Float32Array(batch * reused.imageSize);
  images.forEach((image, i) => stacked.set(image, i * reused.imageSize));
  const feeds = { [reused.info.inputName]: { data: stacked, dims: [batch, ...reused.info.inputDims.slice(1)] } };
  const deterministic = await time(() => plain.run(feeds, [reused.info.outputName]));
  const rows: InferenceRow[] = [];
  const add = (method: string, passes: number, seconds: number) => rows.push({
    model: label, method, passes, imagesPerSecond: batch / seconds, costVsDeterministic: seconds / deterministic,
  });
  add('deterministic (1 pass, plain onnxruntime)', 1, deterministic);
  // route (b) of the design: random masks drawn inside the graph (what `convert` writes), B x T rows
  const inGraph = await RuntimeSession.create(encodeModel(convertModel(decodeModel(readFileSync(file)), { seed: 1 }).model), { provider: 'cpu', deviceId: 0, threads: 0 });
  for (const passes of [10, 30]) {
    add('sequential (T session runs)', passes, await time(() => full.predict(images, { passes, seed: 1, strategy: 'sequential' })));
    add('replicated (B x T rows per run)', passes, await time(() => full.predict(images, { passes, seed: 1 })));
    const tiled = new Float32Array(batch * passes * reused.imageSize);
    for (let i = 0; i < batch; i++) for (let t = 0; t < passes; t++) tiled.set(images[i]!, (i * passes + t) * reused.imageSize);
    const tiledFeeds = { [reused.info.inputName]: { data: tiled, dims: [batch * passes, ...reused.info.inputDims.slice(1)] } };
    add('in-graph RandomUniformLike masks, B x T rows (no seed per image)', passes, await time(() => inGraph.run(tiledFeeds, [reused.info.outputName])));
    if (reused.plan.trunkReuse) add('trunk reuse (trunk once, head T times)', passes, await time(() => reused.predict(images, { passes, seed: 1 })));
  }
  console.error(`  ${label}: ${reused.plan.reason}`);
  await reused.dispose();
  await full.dispose();
  await plain.release();
  await inGraph.release();
  return rows;
}

async function preprocessing(): Promise<{ target: string; imagesPerSecond: number }[]> {
  const jpeg = path.join(work, 'photo-640x480.jpg');
  const noise = Buffer.alloc(640 * 480 * 3);
  for (let i = 0; i < noise.length; i++) noise[i] = (i * 2654435761) >>> 24;
  await sharp(noise, { raw: { width: 640, height: 480, channels: 3 } }).blur(2).jpeg({ quality: 90 }).toFile(jpeg);
  const out = [];
  for (const size of [224, 32]) {
    const spec = resolvePreprocess({ height: size, width: size, layout: 'NCHW', metadata: {} });
    const count = 64;
    const seconds = await time(async () => {
      let next = 0;
      const worker = async () => {
        while (next++ < count) await loadImageTensor(jpeg, spec);
      };
      await Promise.all([worker(), worker(), worker(), worker()]);
    });
    out.push({ target: `640x480 JPEG -> ${size}x${size} tensor`, imagesPerSecond: count / seconds });
  }
  return out;
}

/** Runs the real CLI; returns wall seconds and the peak RSS (VmHWM) read from /proc while it runs. */
function runCli(args: string[]): Promise<{ seconds: number; peakRssMiB: number }> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    let peak = 0;
    const poll = setInterval(() => {
      try {
        const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (match) peak = Math.max(peak, Number(match[1]) / 1024);
      } catch {
        // the process has just exited
      }
    }, 20);
    child.on('close', (code) => {
      clearInterval(poll);
      if (code !== 0) reject(new Error(`mc-dropout ${args.join(' ')} exited ${code}: ${stderr}`));
      else resolve({ seconds: Number(process.hrtime.bigint() - start) / 1e9, peakRssMiB: peak });
    });
  });
}

function imageFolder(count: number): string {
  const folder = path.join(work, `images-${count}`);
  mkdirSync(folder);
  const samples = readdirSync(path.join(ROOT, 'fixtures', 'samples'));
  for (let i = 0; i < count; i++) {
    const sample = samples[i % samples.length]!;
    copyFileSync(path.join(ROOT, 'fixtures', 'samples', sample), path.join(folder, `${String(i).padStart(6, '0')}-${sample}`));
  }
  return folder;
}

async function endToEnd(): Promise<Record<string, unknown>[]> {
  const small = imageFolder(quick ? 200 : 500);
  const large = imageFolder(quick ? 800 : 4000);
  const out: Record<string, unknown>[] = [];
  const common = ['--device', 'cpu', '--seed', '1', '-q', '-o', path.join(work, 'out.csv')];
  const det = await runCli(['predict', small, '--deterministic', ...common]);
  const mc = await runCli(['predict', small, '-t', '10', ...common]);
  const n = quick ? 200 : 500;
  out.push({ run: `bundled model, ${n} PNGs, deterministic`, imagesPerSecond: n / det.seconds, peakRssMiB: det.peakRssMiB });
  out.push({ run: `bundled model, ${n} PNGs, MC T=10`, imagesPerSecond: n / mc.seconds, peakRssMiB: mc.peakRssMiB, costVsDeterministic: mc.seconds / det.seconds });
  const big = await runCli(['predict', large, '-t', '10', ...common]);
  const m = quick ? 800 : 4000;
  out.push({ run: `bundled model, ${m} PNGs, MC T=10`, imagesPerSecond: m / big.seconds, peakRssMiB: big.peakRssMiB });
  return out;
}

async function main(): Promise<void> {
  console.error(`mc-dropout bench on ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'})${quick ? ', quick' : ''}`);
  const mobilenet = path.join(work, 'mobilenetv2-head-dropout.onnx');
  writeFileSync(mobilenet, buildMobileNetV2());
  const trunkDropout = path.join(work, 'mobilenetv2-trunk-dropout.onnx');
  writeFileSync(trunkDropout, buildMobileNetV2({ trunkDropoutAfterStages: [3, 5] }));
  const inferenceRows = [
    ...(await inference('bundled fashion-mnist 32x32 (B=64)', path.join(ROOT, 'models', 'fashion-mnist-mc.onnx'), 64)),
    ...(await inference('MobileNetV2 224x224, head dropout (B=8)', mobilenet, 8)),
    ...(await inference('MobileNetV2 224x224, trunk + head dropout (B=8)', trunkDropout, 8)),
  ];
  const preprocess = await preprocessing();
  const e2e = await endToEnd();
  const results = { date: new Date().toISOString(), cores: cpus().length, cpu: cpus()[0]?.model, node: process.version, inference: inferenceRows, preprocess, endToEnd: e2e };
  mkdirSync(path.join(ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(path.join(ROOT, 'bench', 'results', 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);

  console.log('\nInference only (CPU, median of timed runs after a warm-up)');
  console.log('| model | method | T | images/s | cost vs 1 deterministic pass |\n|---|---|---|---|---|');
  for (const r of inferenceRows) console.log(`| ${r.model} | ${r.method} | ${r.passes} | ${r.imagesPerSecond.toFixed(1)} | ${r.costVsDeterministic.toFixed(2)}x |`);
  console.log('\nPreprocessing only (sharp, 4 images in flight)');
  console.log('| input | images/s |\n|---|---|');
  for (const p of preprocess) console.log(`| ${p.target} | ${p.imagesPerSecond.toFixed(1)} |`);
  console.log('\nEnd to end (files -> CSV, the real CLI, process start included)');
  console.log('| run | images/s | peak RSS MiB | cost vs deterministic |\n|---|---|---|---|');
  for (const e of e2e) console.log(`| ${e.run} | ${(e.imagesPerSecond as number).toFixed(1)} | ${(e.peakRssMiB as number).toFixed(0)} | ${e.costVsDeterministic ? `${(e.costVsDeterministic as number).toFixed(2)}x` : ''} |`);
  console.log(`\nwritten to bench/results/latest.json`);
}

await main();
