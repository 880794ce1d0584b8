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
import { parse } from 'csv-parse/sync';
import sharp from 'sharp';
import { McModel } from '../src/engine/mc-model.js';
import { outcomeOf } from '../src/evaluate/evaluation.js';
import { metricsOf } from '../src/evaluate/metrics.js';
import { convertModel } from '../src/model/convert.js';
import { decodeModel, encodeModel } from '../src/model/onnx.js';
import { RuntimeSession } from '../src/engine/runtime.js';
import { loadImageTensor } from '../src/preprocess/decode.js';
import { resolvePreprocess } from '../src/preprocess/spec.js';
import { buildMobileNetV2 } from './mobilenet.js';
import { writePhotos } from './photos.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The tables the run prints, also kept for docs/benchmarks.md (a full run writes it; numbers are never pasted by hand). */
const printed: string[] = [];
function say(text: string): void {
  console.log(text);
  printed.push(text);
}
const BIN = path.join(ROOT, 'bin', 'mc-dropout.js');
const work = mkdtempSync(path.join(tmpdir(), 'mc-dropout-bench-'));
const quick = process.argv.includes('--quick');

/** Median seconds per call over `repeats` samples, after one warm-up call (preprocessing). */
async function time(fn: () => Promise<unknown>, repeats = quick ? 3 : 5): Promise<number> {
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

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Method {
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
async function timeMethods(methods: Method[], rounds = quick ? 3 : 5): Promise<number[]> {
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
function testImages(model: McModel, batch: number): Float32Array[] {
  return Array.from({ length: batch }, (_, i) => new Float32Array(model.imageSize).map((_, j) => Math.sin(i * 7 + j) * 1.5));
}

/** The feeds of one plain session run over B x T rows: each image repeated for its passes. */
function tiledFeeds(model: McModel, images: Float32Array[], passes: number): Record<string, { data: Float32Array; dims: number[] }> {
  const tiled = new Float32Array(images.length * passes * model.imageSize);
  images.forEach((image, i) => {
    for (let t = 0; t < passes; t++) tiled.set(image, (i * passes + t) * model.imageSize);
  });
  return { [model.info.inputName]: { data: tiled, dims: [images.length * passes, ...model.info.inputDims.slice(1)] } };
}

const DETERMINISTIC = 'deterministic (1 pass, plain onnxruntime)';
const SEQUENTIAL = 'sequential (T session runs, whole graph)';
const REPLICATED = 'replicated (B x T rows in one run, whole graph)';
const TRUNK_REUSE = 'trunk reuse, the default (one run: trunk on B images, head on B x T rows)';

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
  const images = testImages(reused, batch);
  // the baseline: the original graph in onnxruntime, where the optimizer removes Dropout (eval mode)
  const plain = await RuntimeSession.create(readFileSync(file), { provider: 'cpu', deviceId: 0, threads: 0 });
  const stacked = new Float32Array(batch * reused.imageSize);
  images.forEach((image, i) => stacked.set(image, i * reused.imageSize));
  const feeds = { [reused.info.inputName]: { data: stacked, dims: [batch, ...reused.info.inputDims.slice(1)] } };
  // route (b) of the design: random masks drawn inside the graph (what `convert` writes), B x T rows
  const inGraph = await RuntimeSession.create(encodeModel(convertModel(decodeModel(readFileSync(file)), { seed: 1 }).model), { provider: 'cpu', deviceId: 0, threads: 0 });
  const methods: Method[] = [{ method: DETERMINISTIC, passes: 1, run: () => plain.run(feeds, [reused.info.outputName]) }];
  for (const passes of [10, 30]) {
    const tiled = tiledFeeds(reused, images, passes);
    methods.push(
      { method: SEQUENTIAL, passes, run: () => full.predict(images, { passes, seed: 1, strategy: 'sequential' }) },
      { method: REPLICATED, passes, run: () => full.predict(images, { passes, seed: 1 }) },
      { method: 'in-graph RandomUniformLike masks, B x T rows (no seed per image)', passes, run: () => inGraph.run(tiled, [reused.info.outputName]) },
    );
    if (reused.plan.trunkReuse) methods.push({ method: TRUNK_REUSE, passes, run: () => reused.predict(images, { passes, seed: 1 }) });
  }
  const seconds = await timeMethods(methods);
  const rows = methods.map((m, i): InferenceRow => ({
    model: label, method: m.method, passes: m.passes, imagesPerSecond: batch / seconds[i]!, costVsDeterministic: seconds[i]! / seconds[0]!,
  }));
  console.error(`  ${label}: ${reused.plan.reason}`);
  await reused.dispose();
  await full.dispose();
  await plain.release();
  await inGraph.release();
  return rows;
}

const RANDOM_OPS_PLAIN = "plain onnxruntime, the graph's own random ops (B x T rows, not seeded)";
const RANDOM_OPS_SEEDED = 'mc-dropout, seeded random-op sites (B x T rows, whole graph)';
const RANDOM_OPS_DEFAULT = 'mc-dropout default (trunk reuse where it applies)';

interface RandomOpRow {
  model: string;
  method: string;
  imagesPerSecond: number;
  /** Seconds per image relative to plain onnxruntime running the same graph's random ops. */
  costVsPlain: number;
  trunkReuse: boolean;
}

/**
 * Models as PyTorch 2.13 exports them (fixtures/modern): the random ops (timm's DropPath, a
 * decomposed Dropout) drawn by mc-dropout against onnxruntime drawing them itself in the same
 * graph, T=10 passes of the same batch as B x T rows.
 */
async function randomOps(label: string, file: string, batch: number): Promise<RandomOpRow[]> {
  const passes = 10;
  // idle threads sleep in all three (as in the CLI), so no session's spinning slows the next one's turn
  const seeded = await McModel.load(file, { device: 'cpu', trunkReuse: 'off', idleThreadsSpin: false });
  const reused = await McModel.load(file, { device: 'cpu', idleThreadsSpin: false });
  const plain = await RuntimeSession.create(file, { provider: 'cpu', deviceId: 0, threads: 0, spinning: false });
  const images = testImages(seeded, batch);
  const methods: Method[] = [
    // the plain run repeats each image T times too, as any caller of it must
    { method: RANDOM_OPS_PLAIN, passes, run: () => plain.run(tiledFeeds(seeded, images, passes), [seeded.info.outputName]) },
    { method: RANDOM_OPS_SEEDED, passes, run: () => seeded.predict(images, { passes, seed: 1 }) },
    { method: RANDOM_OPS_DEFAULT, passes, run: () => reused.predict(images, { passes, seed: 1 }) },
  ];
  // the three differ by a few percent: more rounds than elsewhere, for a stable median
  const seconds = await timeMethods(methods, quick ? 3 : 11);
  const rows = methods.map((m, i): RandomOpRow => ({
    model: label, method: m.method, imagesPerSecond: batch / seconds[i]!, costVsPlain: seconds[i]! / seconds[0]!,
    trunkReuse: m.method === RANDOM_OPS_DEFAULT && reused.plan.trunkReuse,
  }));
  console.error(`  ${label}: ${reused.plan.reason}`);
  await seeded.dispose();
  await reused.dispose();
  await plain.release();
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

/** The environment of every run: this one without GLIBC_TUNABLES, so the default rows measure glibc's defaults. */
const DEFAULT_ENV: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => name !== 'GLIBC_TUNABLES'));
/** Large buffers on transparent huge pages (docs/performance.md; `mc-dropout doctor`). */
const HUGE_PAGES_ENV: NodeJS.ProcessEnv = { ...DEFAULT_ENV, GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1' };

/** Runs the real CLI; returns wall seconds and the peak RSS (VmHWM) read from /proc while it runs. */
function runCli(args: string[], script = BIN, env: NodeJS.ProcessEnv = DEFAULT_ENV): Promise<{ seconds: number; peakRssMiB: number }> {
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

interface EndToEndRow {
  run: string;
  imagesPerSecond: number;
  peakRssMiB: number;
  costVsDeterministic?: number;
}

/**
 * The CLI on folders of PNGs: deterministic and MC T=10 take turns (median of 3 each); then peak
 * RSS at two folder sizes, 8x apart. Over the first ~10,000 images RSS rises by about 15 MiB while
 * the native allocator's per-thread arenas fill (the JS heap stays at 47 MiB), then stays flat.
 */
async function endToEnd(): Promise<EndToEndRow[]> {
  const n = quick ? 200 : 500;
  const [mid, large] = quick ? [1000, 4000] : [4000, 32000];
  const small = imageFolder(n);
  const common = ['--device', 'cpu', '--seed', '1', '-q', '-o', path.join(work, 'out.csv')];
  const det: { seconds: number; peakRssMiB: number }[] = [];
  const mc: { seconds: number; peakRssMiB: number }[] = [];
  for (let round = 0; round < 3; round++) {
    det.push(await runCli(['predict', small, '--deterministic', ...common]));
    mc.push(await runCli(['predict', small, '-t', '10', ...common]));
  }
  const median = (runs: { seconds: number; peakRssMiB: number }[]) => [...runs].sort((a, b) => a.seconds - b.seconds)[1]!;
  const rows: EndToEndRow[] = [
    { run: `bundled model, ${n} PNGs, deterministic`, imagesPerSecond: n / median(det).seconds, peakRssMiB: median(det).peakRssMiB },
    { run: `bundled model, ${n} PNGs, MC T=10`, imagesPerSecond: n / median(mc).seconds, peakRssMiB: median(mc).peakRssMiB, costVsDeterministic: median(mc).seconds / median(det).seconds },
  ];
  for (const count of [mid, large]) {
    const run = await runCli(['predict', imageFolder(count), '-t', '10', ...common]);
    rows.push({ run: `bundled model, ${count} PNGs, MC T=10`, imagesPerSecond: count / run.seconds, peakRssMiB: run.peakRssMiB });
  }
  return rows;
}

const TIMM_DROPPATH = 'timm EfficientNet-B0 layout, DropPath, 64x64 (B=16)';
const TV_HEAD_RANDOM = 'torchvision MobileNetV3-Small, head Dropout as RandomUniformLike, 64x64 (B=16)';
interface PhotoRow {
  model: string;
  photos: string;
  run: string;
  imagesPerSecond: number;
  peakRssMiB: number;
  /** images/s relative to the floor's on the same model and photos. */
  vsFloor: number;
}

const FLOOR = 'floor: plain onnxruntime + sharp, T=1';
const OURS_DET = 'mc-dropout --deterministic';
const OURS_MC = 'mc-dropout -t 10';
const OURS_FAST = 'mc-dropout -t 10 --resize-engine fast';
const FLOOR_EXACT = 'PIL-exact floor: the floor script with a full-size decode and the PIL-exact resize (--exact), T=1';
const FLOOR_HUGE = 'floor, GLIBC_TUNABLES=glibc.malloc.hugetlb=1';
const OURS_HUGE = 'mc-dropout -t 10, GLIBC_TUNABLES=glibc.malloc.hugetlb=1 (vs the floor with it too)';
const OURS_CROP = 'mc-dropout -t 10 --resize center-crop (torchvision\'s Resize(256) + CenterCrop(224), PIL-exact)';
const PHOTOS_640 = '48 JPEGs 640x480';
const PHOTOS_12MP = '24 JPEGs 4032x3024 (12 MP)';
const MNV2_HEAD = 'MobileNetV2-size, head dropout';
const MNV2_DROPPATH = 'MobileNetV2-size, DropPath on every residual (stochastic depth)';
/** Peak RSS every end-to-end row must stay under. */
const MEMORY_BUDGET_MIB = 1024;

/**
 * Files in, CSV out, process start included, on photos: the floor script (bench/floor.ts), our
 * deterministic run and MC T=10, alternating, median of 3 (1 with --quick); peak RSS per row.
 */
async function endToEndPhotos(models: Record<string, string>): Promise<PhotoRow[]> {
  const photos: Record<string, string> = {
    [PHOTOS_640]: await writePhotos(path.join(work, 'photos-640'), 48, 640, 480),
    [PHOTOS_12MP]: await writePhotos(path.join(work, 'photos-12mp'), 24, 4032, 3024),
  };
  const cases: { model: string; photos: string; runs: string[] }[] = [
    { model: MNV2_HEAD, photos: PHOTOS_640, runs: [FLOOR, OURS_DET, OURS_MC] },
    { model: MNV2_DROPPATH, photos: PHOTOS_640, runs: [FLOOR, OURS_DET, OURS_MC] },
    { model: MNV2_HEAD, photos: PHOTOS_12MP, runs: [FLOOR, FLOOR_EXACT, OURS_MC, OURS_FAST, OURS_CROP, FLOOR_HUGE, OURS_HUGE] },
  ];
  const floor = path.join(ROOT, 'dist', 'bench', 'floor.js');
  const out = path.join(work, 'photos-out.csv');
  const rows: PhotoRow[] = [];
  for (const c of cases) {
    const folder = photos[c.photos]!;
    const count = readdirSync(folder).length;
    const samples = new Map<string, { seconds: number; peakRssMiB: number }[]>(c.runs.map((r) => [r, []]));
    for (let round = 0; round < (quick ? 1 : 3); round++) {
      for (const run of c.runs) {
        const common = ['predict', folder, '-m', models[c.model]!, '--device', 'cpu', '--seed', '1', '-q', '-o', out];
        const env = run === FLOOR_HUGE || run === OURS_HUGE ? HUGE_PAGES_ENV : DEFAULT_ENV;
        const result = run === FLOOR || run === FLOOR_HUGE || run === FLOOR_EXACT ? await runCli([models[c.model]!, folder, out, ...(run === FLOOR_EXACT ? ['--exact'] : [])], floor, env)
          : await runCli([...common, ...(run === OURS_DET ? ['--deterministic'] : ['-t', '10']), ...(run === OURS_FAST ? ['--resize-engine', 'fast'] : []),
            ...(run === OURS_CROP ? ['--resize', 'center-crop'] : [])], BIN, env);
        samples.get(run)!.push(result);
      }
    }
    const median = (list: { seconds: number; peakRssMiB: number }[]) => [...list].sort((a, b) => a.seconds - b.seconds)[list.length >> 1]!;
    for (const run of c.runs) {
      const m = median(samples.get(run)!);
      const floorSeconds = median(samples.get(run === FLOOR_HUGE || run === OURS_HUGE ? FLOOR_HUGE : FLOOR)!).seconds;
      rows.push({ model: c.model, photos: c.photos, run, imagesPerSecond: count / m.seconds, peakRssMiB: m.peakRssMiB, vsFloor: floorSeconds / m.seconds });
    }
  }
  return rows;
}

interface AdaptiveRow {
  run: string;
  seconds: number;
  meanPasses: number;
  /** Share of images whose top-1 label equals the T=100 run's. */
  agreement: number;
  /** Mean over images and classes of |mean probability - T=100's|. */
  meanAbsProbabilityDifference: number;
  meanAbsEntropyDifference: number;
  meanAbsMutualInformationDifference: number;
  /** On the 50 labelled samples (fixtures/samples.csv). */
  accuracy: number;
  nll: number;
  ece: number;
}

/**
 * Adaptive T against T=100 with the same seed, the bundled model on the fixture images (the
 * samples and the odd cases): passes used, top-1 agreement, entropy difference, wall time
 * (the real CLI, median of 3 alternating runs).
 */
async function adaptive(): Promise<AdaptiveRow[]> {
  const inputs = [path.join(ROOT, 'fixtures', 'samples'), path.join(ROOT, 'fixtures', 'odd')];
  const runs: [string, string[]][] = [['T=100', ['-t', '100']], ['--times auto', ['--times', 'auto']], ['--times auto --tolerance 0.08', ['--times', 'auto', '--tolerance', '0.08']]];
  const seconds = new Map<string, number[]>(runs.map(([name]) => [name, []]));
  const outputs = new Map<string, string>();
  for (let round = 0; round < (quick ? 1 : 3); round++) {
    for (const [name, flags] of runs) {
      const out = path.join(work, `adaptive-${seconds.get(name)!.length}-${name.replace(/\W+/g, '_')}.jsonl`);
      seconds.get(name)!.push((await runCli(['predict', ...inputs, ...flags, '--seed', '1', '--device', 'cpu', '-q', '-k', '1', '-f', 'jsonl', '--per-class', '-o', out])).seconds);
      outputs.set(name, out);
    }
  }
  type Row = { path: string; class_index: number; entropy: number; mutual_information: number; passes?: number; mean: number[] };
  const read = (file: string) => readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Row).filter((r) => r.mean);
  const reference = read(outputs.get('T=100')!);
  const truth = new Map((parse(readFileSync(path.join(ROOT, 'fixtures', 'samples.csv'), 'utf8'), { columns: true }) as { file: string; class_index: string }[])
    .map((r) => [path.join(ROOT, 'fixtures', r.file), Number(r.class_index)]));
  return runs.map(([name]) => {
    const rows = read(outputs.get(name)!);
    const n = rows.length;
    const times = [...seconds.get(name)!].sort((a, b) => a - b);
    const labelled = rows.flatMap((r) => {
      const label = truth.get(r.path);
      return label === undefined ? [] : [outcomeOf(r.mean, r.mean.length, label)];
    });
    const metrics = metricsOf(labelled);
    const mad = (f: (r: Row) => number) => rows.reduce((a, r, i) => a + Math.abs(f(r) - f(reference[i]!)), 0) / n;
    return {
      run: name, seconds: times[times.length >> 1]!,
      meanPasses: name === 'T=100' ? 100 : rows.reduce((a, r) => a + Number(r.passes), 0) / n,
      agreement: rows.filter((r, i) => r.class_index === reference[i]!.class_index).length / n,
      meanAbsProbabilityDifference: rows.reduce((a, r, i) => a + r.mean.reduce((x, m, c) => x + Math.abs(m - reference[i]!.mean[c]!), 0) / r.mean.length, 0) / n,
      meanAbsEntropyDifference: mad((r) => r.entropy),
      meanAbsMutualInformationDifference: mad((r) => r.mutual_information),
      accuracy: metrics.accuracy, nll: metrics.nll, ece: metrics.calibration.ece,
    };
  });
}

interface AdaptiveRoundsRow {
  model: string;
  /** Seconds per batch: the default (trunk once, head per round) and the trunk again each round. */
  trunkOnce: number;
  trunkPerRound: number;
}

/**
 * Adaptive rounds with trunk reuse: the default runs the trunk once per image and the head per
 * round; before, each round ran the whole split graph again (what rounds of predict({ firstPass })
 * cost). Every image runs all 4 rounds (tolerance 0), B = 16, the same passes either way (checked).
 */
async function adaptiveRounds(file: string): Promise<AdaptiveRoundsRow> {
  const model = await McModel.load(file, { device: 'cpu' });
  try {
    const images = testImages(model, 16);
    const rule = { minPasses: 8, maxPasses: 32, tolerance: 0, z: 3 };
    const perRound = async () => {
      const rounds = [];
      for (let done = 0; done < rule.maxPasses; done += rule.minPasses) rounds.push(await model.predict(images, { passes: rule.minPasses, seed: 1, firstPass: done }));
      return rounds;
    };
    const once = await model.predict(images, { passes: 0, seed: 1, adaptive: rule });
    const rounds = await perRound();
    const classes = model.info.classes;
    once.forEach((probs, i) => rounds.forEach((round, r) => {
      const mine = probs.subarray(r * rule.minPasses * classes, (r + 1) * rule.minPasses * classes);
      if (mine.some((v, j) => Math.abs(v - round[i]![j]!) > 1e-6)) throw new Error(`adaptive rounds differ from the per-round passes (image ${i}, round ${r})`);
    }));
    const [trunkOnce, trunkPerRound] = await timeMethods([
      { method: 'trunk once', passes: 32, run: () => model.predict(images, { passes: 0, seed: 1, adaptive: rule }) },
      { method: 'trunk per round', passes: 32, run: perRound },
    ], quick ? 2 : 3);
    return { model: 'MobileNetV2 224x224, head dropout', trunkOnce: trunkOnce!, trunkPerRound: trunkPerRound! };
  } finally {
    await model.dispose();
  }
}

function printAdaptiveRounds(row: AdaptiveRoundsRow): void {
  say(`\nAdaptive rounds with trunk reuse (${row.model}, 16 images, 4 rounds of 8 passes): trunk once ${row.trunkOnce.toFixed(3)} s, trunk per round ${row.trunkPerRound.toFixed(3)} s (${(row.trunkPerRound / row.trunkOnce).toFixed(2)}x)`);
}

function printAdaptive(rows: AdaptiveRow[]): void {
  say('\nAdaptive T against T=100 (bundled model, fixture images, --seed 1; the real CLI, median of 3)');
  say('| run | mean passes | passes vs T=100 | top-1 agreement | mean abs difference: probabilities / entropy / MI | accuracy / NLL / ECE (50 labelled) | seconds |\n|---|---|---|---|---|---|---|');
  for (const r of rows) {
    say(`| ${r.run} | ${r.meanPasses.toFixed(1)} | ${(100 / r.meanPasses).toFixed(1)}x fewer | ${(100 * r.agreement).toFixed(1)}% | ${r.meanAbsProbabilityDifference.toFixed(5)} / ${r.meanAbsEntropyDifference.toFixed(4)} / ${r.meanAbsMutualInformationDifference.toFixed(4)} | ${(100 * r.accuracy).toFixed(1)}% / ${r.nll.toFixed(4)} / ${r.ece.toFixed(4)} | ${r.seconds.toFixed(2)} |`);
  }
}

const BUNDLED_64 = 'bundled fashion-mnist 32x32 (B=64)';
const BUNDLED_1 = 'bundled fashion-mnist 32x32 (B=1)';
const MOBILENET_HEAD = 'MobileNetV2 224x224, head dropout (B=8)';
const MOBILENET_TRUNK = 'MobileNetV2 224x224, trunk + head dropout (B=8)';

interface Target {
  target: string;
  measured: string;
  met: boolean;
}

/** The targets of issues #7 and #12, read off this run's figures. */
function targets(inference: InferenceRow[], e2e: EndToEndRow[], random: RandomOpRow[], photos: PhotoRow[]): Target[] {
  const cost = (model: string, method: string, passes: number) =>
    inference.find((r) => r.model === model && r.method === method && r.passes === passes)!.costVsDeterministic;
  const out: Target[] = [];
  const mobilenet = cost(MOBILENET_HEAD, TRUNK_REUSE, 10);
  out.push({ target: 'MobileNetV2 head dropout: MC T=10 <= 1.3x one deterministic pass', measured: `${mobilenet.toFixed(2)}x`, met: mobilenet <= 1.3 });
  for (const model of [BUNDLED_64, BUNDLED_1]) {
    const sequential = cost(model, SEQUENTIAL, 10);
    for (const method of [REPLICATED, TRUNK_REUSE]) {
      const speedup = sequential / cost(model, method, 10);
      out.push({ target: `${model}: ${method} >= 2x faster than T sequential runs, T=10`, measured: `${speedup.toFixed(2)}x faster`, met: speedup >= 2 });
    }
  }
  const endToEndCost = e2e[1]!.costVsDeterministic!;
  out.push({ target: 'bundled model end to end, MC T=10 <= 1.5x the deterministic run', measured: `${endToEndCost.toFixed(2)}x`, met: endToEndCost <= 1.5 });
  // 10%: room for the allocator's noise; memory kept per image would grow with the 8x more images
  const growth = e2e[3]!.peakRssMiB / e2e[2]!.peakRssMiB;
  out.push({ target: 'peak RSS does not grow with the number of images (8x more images)', measured: `${e2e[2]!.peakRssMiB.toFixed(0)} -> ${e2e[3]!.peakRssMiB.toFixed(0)} MiB`, met: growth < 1.1 });
  const droppath = random.find((r) => r.model === TIMM_DROPPATH && r.method === RANDOM_OPS_SEEDED)!;
  out.push({ target: 'timm DropPath: seeded random-op sites <= 1.1x plain onnxruntime running its own random ops (T=10, same batch)', measured: `${droppath.costVsPlain.toFixed(2)}x`, met: droppath.costVsPlain <= 1.1 });
  const head = random.find((r) => r.model === TV_HEAD_RANDOM && r.method === RANDOM_OPS_DEFAULT)!;
  out.push({ target: 'trunk reuse applies to a model whose only random op sits in the head', measured: `${head.trunkReuse ? 'applies' : 'does not apply'}, ${head.costVsPlain.toFixed(2)}x plain`, met: head.trunkReuse });
  // issue #14, end to end
  const photo = (model: string, set: string, run: string) => photos.find((r) => r.model === model && r.photos === set && r.run === run)!;
  const mc640 = photo(MNV2_HEAD, PHOTOS_640, OURS_MC);
  out.push({ target: 'MobileNetV2 head dropout, 640x480 JPEGs: MC T=10 >= 0.85x the floor\'s images/s', measured: `${mc640.vsFloor.toFixed(2)}x (${mc640.imagesPerSecond.toFixed(1)} images/s)`, met: mc640.vsFloor >= 0.85 });
  const exact = photo(MNV2_HEAD, PHOTOS_12MP, OURS_MC);
  const exactFloor = photo(MNV2_HEAD, PHOTOS_12MP, FLOOR_EXACT);
  out.push({
    target: '12 MP JPEGs, PIL-exact default: MC T=10 >= 0.5x the floor',
    measured: `${exact.vsFloor.toFixed(2)}x; the PIL-exact floor itself (T=1, no MC) ${exactFloor.vsFloor.toFixed(2)}x, mc-dropout ${(exact.vsFloor / exactFloor.vsFloor).toFixed(2)}x of it`,
    met: exact.vsFloor >= 0.5,
  });
  const crop = photo(MNV2_HEAD, PHOTOS_12MP, OURS_CROP);
  out.push({ target: '12 MP JPEGs, PIL-exact with a centre crop (the usual torchvision / timm eval transform): MC T=10 >= 0.5x the floor', measured: `${crop.vsFloor.toFixed(2)}x`, met: crop.vsFloor >= 0.5 });
  const huge = photo(MNV2_HEAD, PHOTOS_12MP, OURS_HUGE);
  out.push({ target: '12 MP JPEGs, PIL-exact, both with GLIBC_TUNABLES=glibc.malloc.hugetlb=1: MC T=10 >= 0.5x the floor', measured: `${huge.vsFloor.toFixed(2)}x`, met: huge.vsFloor >= 0.5 });
  const fast = photo(MNV2_HEAD, PHOTOS_12MP, OURS_FAST);
  out.push({ target: '12 MP JPEGs, --resize-engine fast: MC T=10 >= 0.9x the floor', measured: `${fast.vsFloor.toFixed(2)}x`, met: fast.vsFloor >= 0.9 });
  const dp = photo(MNV2_DROPPATH, PHOTOS_640, OURS_MC);
  out.push({ target: 'stochastic depth everywhere, MC T=10 >= 2x the issue\'s 5.3 images/s (EfficientNet-B0 there; MobileNetV2-size with DropPath here)', measured: `${dp.imagesPerSecond.toFixed(1)} images/s`, met: dp.imagesPerSecond >= 10.6 });
  const worst = photos.reduce((a, r) => (r.peakRssMiB > a.peakRssMiB ? r : a));
  out.push({ target: `peak RSS under ${MEMORY_BUDGET_MIB} MiB on every end-to-end photo row`, measured: `at most ${worst.peakRssMiB.toFixed(0)} MiB (${worst.run}, ${worst.photos})`, met: worst.peakRssMiB < MEMORY_BUDGET_MIB });
  return out;
}

function printPhotos(rows: PhotoRow[]): void {
  say('\nEnd to end on photos (files -> CSV, process start included; median of 3, alternating)');
  say('| model | photos | run | images/s | vs floor | peak RSS MiB |\n|---|---|---|---|---|---|');
  for (const r of rows) say(`| ${r.model} | ${r.photos} | ${r.run} | ${r.imagesPerSecond.toFixed(1)} | ${r.vsFloor.toFixed(2)}x | ${r.peakRssMiB.toFixed(0)} |`);
}

function printRandomOps(rows: RandomOpRow[]): void {
  say('\nRandom ops as PyTorch 2.13 exports them (T=10; cost per image vs plain onnxruntime drawing them itself)');
  say('| model | method | images/s | cost vs plain |\n|---|---|---|---|');
  for (const r of rows) say(`| ${r.model} | ${r.method} | ${r.imagesPerSecond.toFixed(1)} | ${r.costVsPlain.toFixed(2)}x |`);
}

async function main(): Promise<void> {
  console.error(`mc-dropout bench on ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'})${quick ? ', quick' : ''}`);
  if (process.argv.includes('--adaptive')) {
    printAdaptive(await adaptive());
    const file = path.join(work, 'mobilenetv2-head-dropout.onnx');
    writeFileSync(file, buildMobileNetV2());
    printAdaptiveRounds(await adaptiveRounds(file));
    return;
  }
  if (process.argv.includes('--photos')) {
    // only the end-to-end photo rows (npm run bench -- --photos): about three minutes
    const head = path.join(work, 'mobilenetv2-head-dropout.onnx');
    writeFileSync(head, buildMobileNetV2());
    const dropPathOnly = path.join(work, 'mobilenetv2-droppath.onnx');
    writeFileSync(dropPathOnly, buildMobileNetV2({ dropPathRate: 0.2 }));
    printPhotos(await endToEndPhotos({ [MNV2_HEAD]: head, [MNV2_DROPPATH]: dropPathOnly }));
    return;
  }
  if (process.argv.includes('--random-ops')) {
    // only the random-op rows (npm run bench -- --random-ops): a minute instead of fifteen
    printRandomOps([
      ...(await randomOps(TIMM_DROPPATH, path.join(ROOT, 'fixtures', 'modern', 'effnet_droppath.onnx'), 16)),
      ...(await randomOps(TV_HEAD_RANDOM, path.join(ROOT, 'fixtures', 'modern', 'mnv3_dropout.onnx'), 16)),
    ]);
    return;
  }
  const mobilenet = path.join(work, 'mobilenetv2-head-dropout.onnx');
  writeFileSync(mobilenet, buildMobileNetV2());
  const trunkDropout = path.join(work, 'mobilenetv2-trunk-dropout.onnx');
  writeFileSync(trunkDropout, buildMobileNetV2({ trunkDropoutAfterStages: [3, 5] }));
  const bundled = path.join(ROOT, 'models', 'fashion-mnist-mc.onnx');
  const dropPath = path.join(work, 'mobilenetv2-droppath.onnx');
  writeFileSync(dropPath, buildMobileNetV2({ dropPathRate: 0.2 }));
  const inferenceRows = [
    ...(await inference(BUNDLED_64, bundled, 64)),
    // one image at a time: where a session run's fixed cost is largest against its work
    ...(await inference(BUNDLED_1, bundled, 1)),
    ...(await inference(MOBILENET_HEAD, mobilenet, 8)),
    ...(await inference(MOBILENET_TRUNK, trunkDropout, 8)),
  ];
  const randomRows = [
    ...(await randomOps(TIMM_DROPPATH, path.join(ROOT, 'fixtures', 'modern', 'effnet_droppath.onnx'), 16)),
    ...(await randomOps(TV_HEAD_RANDOM, path.join(ROOT, 'fixtures', 'modern', 'mnv3_dropout.onnx'), 16)),
  ];
  const preprocess = await preprocessing();
  const e2e = await endToEnd();
  const photoRows = await endToEndPhotos({ [MNV2_HEAD]: mobilenet, [MNV2_DROPPATH]: dropPath });
  const adaptiveRows = await adaptive();
  const roundsRow = await adaptiveRounds(mobilenet);
  const goals = targets(inferenceRows, e2e, randomRows, photoRows);
  goals.push({ target: 'adaptive T with trunk reuse: the trunk runs once per image, not once per round (faster than recomputing it)', measured: `${(roundsRow.trunkPerRound / roundsRow.trunkOnce).toFixed(2)}x faster`, met: roundsRow.trunkPerRound > roundsRow.trunkOnce });
  const results = { date: new Date().toISOString(), cores: cpus().length, cpu: cpus()[0]?.model, node: process.version, inference: inferenceRows, randomOps: randomRows, preprocess, endToEnd: e2e, photos: photoRows, adaptive: adaptiveRows, adaptiveRounds: roundsRow, targets: goals };
  mkdirSync(path.join(ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(path.join(ROOT, 'bench', 'results', 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);

  say('\nInference only (CPU; methods take turns, median of 5 rounds)');
  say('| model | method | T | images/s | cost vs 1 deterministic pass |\n|---|---|---|---|---|');
  for (const r of inferenceRows) say(`| ${r.model} | ${r.method} | ${r.passes} | ${r.imagesPerSecond.toFixed(1)} | ${r.costVsDeterministic.toFixed(2)}x |`);
  printRandomOps(randomRows);
  say('\nPreprocessing only (sharp, 4 images in flight)');
  say('| input | images/s |\n|---|---|');
  for (const p of preprocess) say(`| ${p.target} | ${p.imagesPerSecond.toFixed(1)} |`);
  say('\nEnd to end (files -> CSV, the real CLI, process start included; median of 3)');
  say('| run | images/s | peak RSS MiB | cost vs deterministic |\n|---|---|---|---|');
  for (const e of e2e) say(`| ${e.run} | ${e.imagesPerSecond.toFixed(1)} | ${e.peakRssMiB.toFixed(0)} | ${e.costVsDeterministic ? `${e.costVsDeterministic.toFixed(2)}x` : ''} |`);
  printPhotos(photoRows);
  printAdaptive(adaptiveRows);
  printAdaptiveRounds(roundsRow);
  say('\nTargets (issues #7, #12 and #14)');
  say('| target | measured | met |\n|---|---|---|');
  for (const g of goals) say(`| ${g.target} | ${g.measured} | ${g.met ? 'yes' : 'no'} |`);
  const page = path.join(ROOT, 'docs', 'benchmarks.md');
  if (!quick && !process.argv.includes('--photos')) {
    writeFileSync(page, [
      '# Benchmarks',
      '',
      `Written by \`npm run bench\` (bench/bench.ts) on ${results.date.slice(0, 10)}: ${results.cores} cores (${results.cpu ?? 'unknown CPU'}), Node ${results.node}. Do not edit: rerun the bench. What the rows mean, and the notes on them: [performance.md](performance.md). Back to the [README](../README.md).`,
      ...printed,
      '',
    ].join('\n'));
  }
  console.log(`\nwritten to bench/results/latest.json${!quick && !process.argv.includes('--photos') ? ' and docs/benchmarks.md' : ''}`);
}

await main();
