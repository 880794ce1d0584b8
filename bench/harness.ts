/** The bench's harness: timing, the real CLI run with its peak RSS, test inputs, and the printed tables. */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { McModel } from '../src/engine/mc-model.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The tables the run prints, also kept for docs/benchmarks.md (a full run writes it; numbers are never pasted by hand). */
export const printed: string[] = [];
export function say(text: string): void {
  console.log(text);
  printed.push(text);
}
export const BIN = path.join(ROOT, 'bin', 'mc-dropout.js');
export const work = mkdtempSync(path.join(tmpdir(), 'mc-dropout-bench-'));
export const quick = process.argv.includes('--quick');

/** Median seconds per call over `repeats` samples, after one warm-up call (preprocessing). */
export async function time(fn: () => Promise<unknown>, repeats = quick ? 3 : 5): Promise<number> {
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

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface Method {
  method: string;
  passes: number;
  run: () => Promise<unknown>;
}

/**
 * Median seconds per call of each method. The methods take turns, round after round, so that a
 * slow spell of this shared machine hits them all alike. Before its turn a method waits 50 ms, so
 * the other sessions' onnxruntime threads stop spinning (they would steal its cores), and makes one
 * untimed call; then it repeats the call until 100 ms or more have passed.
 */
export async function timeMethods(methods: Method[], rounds = quick ? 3 : 5): Promise<number[]> {
  const samples = methods.map(() => [] as number[]);
  const calls = methods.map(() => 1);
  for (let round = 0; round < rounds; round++) {
    for (const [m, method] of methods.entries()) {
      await sleep(50);
      const warm = process.hrtime.bigint();
      await method.run();
      if (round === 0) calls[m] = Math.max(1, Math.ceil(0.1 / Math.max(Number(process.hrtime.bigint() - warm) / 1e9, 1e-6)));
      const start = process.hrtime.bigint();
      for (let c = 0; c < calls[m]!; c++) await method.run();
      samples[m]!.push(Number(process.hrtime.bigint() - start) / 1e9 / calls[m]!);
    }
  }
  return samples.map((times) => times.sort((a, b) => a - b)[Math.floor(times.length / 2)]!);
}

/** `batch` test images of the model's size (values do not matter for speed). */
export function testImages(model: McModel, batch: number): Float32Array[] {
  return Array.from({ length: batch }, (_, i) => new Float32Array(model.imageSize).map((_, j) => Math.sin(i * 7 + j) * 1.5));
}

/** The feeds of one plain session run over B x T rows: each image repeated for its passes. */
export function tiledFeeds(model: McModel, images: Float32Array[], passes: number): Record<string, { data: Float32Array; dims: number[] }> {
  const tiled = new Float32Array(images.length * passes * model.imageSize);
  images.forEach((image, i) => {
    for (let t = 0; t < passes; t++) tiled.set(image, (i * passes + t) * model.imageSize);
  });
  return { [model.info.inputName]: { data: tiled, dims: [images.length * passes, ...model.info.inputDims.slice(1)] } };
}

/**
 * The environment of every run: this one without GLIBC_TUNABLES, so the default rows measure glibc's
 * defaults, and with the probe cache in the bench's own folder (a user's ~/.cache is left alone).
 */
export const DEFAULT_ENV: NodeJS.ProcessEnv = {
  ...Object.fromEntries(Object.entries(process.env).filter(([name]) => name !== 'GLIBC_TUNABLES')),
  MC_DROPOUT_CACHE: path.join(work, 'cache'),
};
/** Large buffers on transparent huge pages (docs/performance.md; `mc-dropout doctor`). */
export const HUGE_PAGES_ENV: NodeJS.ProcessEnv = { ...DEFAULT_ENV, GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1' };

/** Runs the real CLI; returns wall seconds and the peak RSS (VmHWM) read from /proc while it runs. */
export function runCli(args: string[], script = BIN, env: NodeJS.ProcessEnv = DEFAULT_ENV): Promise<{ seconds: number; peakRssMiB: number }> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env });
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

export function imageFolder(count: number): string {
  const folder = path.join(work, `images-${count}`);
  mkdirSync(folder);
  const samples = readdirSync(path.join(ROOT, 'fixtures', 'samples'));
  for (let i = 0; i < count; i++) {
    const sample = samples[i % samples.length]!;
    copyFileSync(path.join(ROOT, 'fixtures', 'samples', sample), path.join(folder, `${String(i).padStart(6, '0')}-${sample}`));
  }
  return folder;
}
