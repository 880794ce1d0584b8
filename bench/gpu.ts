/**
 * The GPU check's measurements (scripts/gpu-check.sh drives them; any machine with a GPU can).
 *   node dist/bench/gpu.js models DIR            MobileNetV2-size models (head dropout, DropPath)
 *   node dist/bench/gpu.js photos DIR N          N synthetic 640x480 JPEGs
 *   node dist/bench/gpu.js speed MODEL [DEVICE]  images/s: deterministic, T=10, T=100 at B=16/64/256
 *   node dist/bench/gpu.js placement MODEL       one tiny predict with onnxruntime's verbose log (stderr)
 *   node dist/bench/gpu.js compare A.npy B.npy   largest difference of two --save-passes files
 *   node dist/bench/gpu.js decode DIR MODEL      preprocessing alone: images/s at 16 in flight
 * Prints one JSON object per line on stdout.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { McModel } from '../src/engine/mc-model.js';
import { loadImageTensor } from '../src/preprocess/decode.js';
import { resolvePreprocess } from '../src/preprocess/spec.js';
import { buildMobileNetV2 } from './mobilenet.js';
import { writePhotos } from './photos.js';

const [command, ...args] = process.argv.slice(2);
const print = (row: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(row)}\n`);
const seconds = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9;

/** Deterministic pseudo-random images in [-2, 2], one Float32Array each. */
function images(model: McModel, count: number): Float32Array[] {
  let state = 7;
  return Array.from({ length: count }, () => {
    const image = new Float32Array(model.imageSize);
    for (let i = 0; i < image.length; i++) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      image[i] = (state / 2 ** 32) * 4 - 2;
    }
    return image;
  });
}

/** images/s of one configuration: one untimed call, then calls until 1.5 s or 5 calls have passed. */
async function rate(model: McModel, batch: Float32Array[], passes: number, deterministic: boolean): Promise<number> {
  const options = { passes, seed: 1, deterministic };
  await model.predict(batch, options);
  let calls = 0;
  const start = process.hrtime.bigint();
  while (calls < 5 && (calls === 0 || seconds(start) < 1.5)) {
    await model.predict(batch, options);
    calls++;
  }
  return (calls * batch.length) / seconds(start);
}

async function speed(file: string, device: string): Promise<void> {
  const reused = await McModel.load(file, { device });
  const replicated = await McModel.load(file, { device, trunkReuse: 'off' });
  const pool = images(reused, 256);
  for (const batch of [16, 64, 256]) {
    const slice = pool.slice(0, batch);
    print({
      model: path.basename(file),
      provider: reused.info.provider,
      batch,
      method: 'deterministic',
      passes: 1,
      imagesPerSecond: await rate(reused, slice, 1, true),
    });
    for (const passes of [10, 100]) {
      print({
        model: path.basename(file),
        provider: reused.info.provider,
        batch,
        method: reused.plan.trunkReuse ? 'trunk reuse' : 'default',
        passes,
        imagesPerSecond: await rate(reused, slice, passes, false),
      });
    }
    if (batch === 64)
      print({
        model: path.basename(file),
        provider: replicated.info.provider,
        batch,
        method: 'replicated (trunk reuse off)',
        passes: 10,
        imagesPerSecond: await rate(replicated, slice, 10, false),
      });
  }
  await reused.dispose();
  await replicated.dispose();
}

async function placement(file: string): Promise<void> {
  const model = await McModel.load(file, { device: 'cuda', onnxruntimeLogLevel: 'verbose' });
  const probs = await model.predict(images(model, 2), { passes: 3, seed: 1 });
  print({
    model: path.basename(file),
    provider: model.info.provider,
    trunkReuse: model.plan.trunkReuse,
    prefixSharing: model.plan.prefixSharing,
    rows: probs.length,
  });
  await model.dispose();
}

/** A --save-passes file's float32 values (NaN rows included). */
function readNpy(file: string): Float32Array {
  const bytes = readFileSync(file);
  const headerLength = bytes.readUInt16LE(8);
  const start = 10 + headerLength;
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset + start, bytes.byteOffset + bytes.length));
}

function compare(a: string, b: string): void {
  const x = readNpy(a);
  const y = readNpy(b);
  let worst = 0;
  let nan = 0;
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (Number.isNaN(x[i]!) || Number.isNaN(y[i]!)) {
      nan += Number.isNaN(x[i]!) !== Number.isNaN(y[i]!) ? 1 : 0;
      continue;
    }
    worst = Math.max(worst, Math.abs(x[i]! - y[i]!));
  }
  print({ a: path.basename(a), b: path.basename(b), values: x.length, sameLength: x.length === y.length, nanMismatches: nan, maxAbsDifference: worst });
}

async function decode(folder: string, file: string): Promise<void> {
  const model = await McModel.load(file, { device: 'cpu' });
  const spec = resolvePreprocess(model.info);
  const files = readdirSync(folder)
    .filter((f) => f.endsWith('.jpg'))
    .map((f) => path.join(folder, f));
  const inFlight = 16;
  const start = process.hrtime.bigint();
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < files.length) await loadImageTensor(files[next++]!, spec);
    }),
  );
  print({ step: 'decode', images: files.length, inFlight, cores: availableParallelism(), imagesPerSecond: files.length / seconds(start) });
  await model.dispose();
}

switch (command) {
  case 'models':
    mkdirSync(args[0]!, { recursive: true });
    writeFileSync(path.join(args[0]!, 'mnv2-head.onnx'), buildMobileNetV2());
    writeFileSync(path.join(args[0]!, 'mnv2-droppath.onnx'), buildMobileNetV2({ dropPathRate: 0.2 }));
    break;
  case 'photos':
    await writePhotos(args[0]!, Number(args[1]), 640, 480);
    break;
  case 'speed':
    await speed(args[0]!, args[1] ?? 'cuda');
    break;
  case 'placement':
    await placement(args[0]!);
    break;
  case 'compare':
    compare(args[0]!, args[1]!);
    break;
  case 'decode':
    await decode(args[0]!, args[1]!);
    break;
  default:
    process.stderr.write('usage: gpu.js models|photos|speed|placement|compare|decode ...\n');
    process.exitCode = 2;
}
