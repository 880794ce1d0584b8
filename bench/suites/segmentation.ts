/**
 * Segmentation (#37, point 4): predict on FCN- and DeepLab-shaped models at 512x512, 21 classes,
 * files in and maps out, process start included; MC T=20 against one deterministic pass, peak RSS;
 * and, in this process, where the time goes: the model's passes, the per-pixel reduction, the maps.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { McModel } from '../../src/engine/mc-model.js';
import { PassReducer } from '../../src/segmentation/reduce.js';
import { buildSegNet, type SegHead } from '../segnet.js';
import { say, work, quick, runCli, sleep, testImages } from '../harness.js';

const SIZE = 512;
const CLASSES = 21;
const PASSES = 20;
const IMAGES = 8;
// --quick: one round instead of three (the MC run on 8 images is most of this suite's minutes)
const ROUNDS = quick ? 1 : 3;
/** Images the in-process split runs the model on: with trunk reuse each image is its own group, so the cost per image does not depend on how many. */
const SPLIT_IMAGES = 2;
/** Peak RSS of predict on a segmentation model (#37). */
export const SEG_MEMORY_BUDGET_MIB = 1024;
/** MC T=20 with trunk reuse against one deterministic pass, end to end, where the dropout sits in the head (#37). */
export const SEG_COST_BUDGET = 2;

export const FCN = 'FCN-shaped (1/8, Conv3x3 -> ReLU -> Dropout(0.1) -> Conv1x1)';
export const DEEPLAB = 'DeepLab-shaped (1/16, ASPP -> ReLU -> Dropout(0.5) -> Conv3x3 -> Conv1x1)';
const MODELS: [string, SegHead][] = [
  [FCN, 'fcn'],
  [DEEPLAB, 'deeplab'],
];

export interface SegmentationRow {
  model: string;
  /** Median wall seconds, 8 PNGs, files in and maps out: --deterministic, and MC T=20 (trunk reuse). */
  deterministicSeconds: number;
  mcSeconds: number;
  /** mcSeconds / deterministicSeconds, medians of the same alternating rounds. */
  costVsDeterministic: number;
  /** The highest of the rounds, MiB: the MC T=20 run, the deterministic run. */
  peakRssMiB: number;
  deterministicPeakRssMiB: number;
  /** MC T=20 with --max-rows 1 (one session run per pass), one run: wall seconds and peak RSS MiB. */
  maxRows1Seconds: number;
  maxRows1PeakRssMiB: number;
  /** Conv multiply-accumulates per image, GMAC: before the dropout (once per image) and after it (once per pass). */
  trunkGmac: number;
  headGmac: number;
  /** Seconds per image in this process: the model's passes alone (with their statistics where predict has them, rows dropped), deterministic and T=20. */
  engineDeterministic: number;
  engineMc: number;
  /** The same for the model without its final Resize (the map at 1/8 or 1/16). */
  engineDeterministicNoResize: number;
  engineMcNoResize: number;
  /** Seconds: PassReducer.addStatistics of one [21, 512, 512] row, and maps() of one image. */
  reduceAdd: number;
  reduceMaps: number;
}

/** `count` random-noise 512x512 PNGs (seeded), the worst case for PNG decoding. */
async function noisePngs(folder: string, count: number): Promise<string> {
  mkdirSync(folder, { recursive: true });
  for (let i = 0; i < count; i++) {
    const rgb = Buffer.alloc(SIZE * SIZE * 3);
    let state = 1 + i * 7919;
    for (let p = 0; p < rgb.length; p++) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      rgb[p] = state >>> 24;
    }
    await sharp(rgb, { raw: { width: SIZE, height: SIZE, channels: 3 } })
      .png()
      .toFile(path.join(folder, `noise-${i}.png`));
  }
  return folder;
}

/** Wall seconds of one call, after a pause so that the other sessions' onnxruntime threads stop spinning. */
async function seconds(fn: () => unknown): Promise<number> {
  await sleep(50);
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

const median = (list: readonly number[]) => [...list].sort((a, b) => a - b)[list.length >> 1]!;

/** The model's passes alone, in this process (rows dropped, no reduction): seconds per image, deterministic or MC. */
async function passesAlone(file: string): Promise<{ run: (deterministic: boolean) => Promise<number>; dispose: () => Promise<void> }> {
  // the CLI's session settings: idle threads do not spin
  const model = await McModel.load(file, { device: 'cpu', idleThreadsSpin: false });
  const images = testImages(model, SPLIT_IMAGES);
  // what predict runs: the session's own statistics of each pass where it has them (a multi-class map)
  const passes = (deterministic: boolean) =>
    model.hasMapStatistics
      ? model.forEachMapPass(images, { passes: PASSES, seed: 1, deterministic }, () => {})
      : model.forEachPass(images, { passes: PASSES, seed: 1, deterministic }, () => {});
  const run = async (deterministic: boolean) => (await seconds(() => passes(deterministic))) / SPLIT_IMAGES;
  await run(true);
  return { run, dispose: () => model.dispose() };
}

/**
 * Each model on 8 noise PNGs, 512x512, round after round (3; 1 with --quick): predict
 * --deterministic and MC T=20, whole processes, then in this process, in the same round, the
 * model's passes alone (also on the model without its final Resize) and the JS reduction alone
 * (PassReducer.addStatistics of one [21, 512, 512] row, median of 3 calls; maps() once); medians
 * of the rounds, peak RSS the highest. Last, MC T=20 with --max-rows 1 once: memory against the
 * rows of one session run.
 */
export async function segmentation(): Promise<SegmentationRow[]> {
  const folder = await noisePngs(path.join(work, 'seg-noise-512'), IMAGES);
  const row = new Float32Array(CLASSES * SIZE * SIZE).map((_, i) => Math.sin(i * 0.37) * 4);
  const rows: SegmentationRow[] = [];
  for (const [label, head] of MODELS) {
    const net = buildSegNet(head, { size: SIZE, classes: CLASSES });
    const file = path.join(work, `seg-${head}.onnx`);
    writeFileSync(file, net.bytes);
    const small = path.join(work, `seg-${head}-no-resize.onnx`);
    writeFileSync(small, buildSegNet(head, { size: SIZE, classes: CLASSES, resize: false }).bytes);
    const out = path.join(work, `seg-${head}-maps`);
    const predict = async (args: string[]) => {
      rmSync(out, { recursive: true, force: true });
      await sleep(50);
      return runCli(['predict', folder, '-m', file, '-o', out, '--device', 'cpu', '--seed', '1', '-q', ...args]);
    };
    const full = await passesAlone(file);
    const headOnly = await passesAlone(small);
    // what predict sums per pass: onnxruntime's probabilities, entropy and argmax of one [21, 512, 512] row
    const reducer = new PassReducer(CLASSES, SIZE, SIZE, { layout: 'NCHW', probabilities: false, binary: false });
    const statistics = {
      probabilities: row.map((v) => Math.abs(v) / 4 / CLASSES),
      entropy: new Float32Array(SIZE * SIZE).fill(1),
      argmax: new Float32Array(SIZE * SIZE).fill(3),
    };
    const add = () => reducer.addStatistics(statistics.probabilities, statistics.entropy, statistics.argmax);
    add();
    const keys = ['det', 'mc', 'detRss', 'mcRss', 'engineDet', 'engineMc', 'smallDet', 'smallMc', 'add', 'maps'] as const;
    const samples = Object.fromEntries(keys.map((k) => [k, [] as number[]])) as Record<(typeof keys)[number], number[]>;
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const det = await predict(['--deterministic']);
        const mc = await predict(['-t', String(PASSES)]);
        samples.det.push(det.seconds);
        samples.mc.push(mc.seconds);
        samples.detRss.push(det.peakRssMiB);
        samples.mcRss.push(mc.peakRssMiB);
        samples.engineDet.push(await full.run(true));
        samples.engineMc.push(await full.run(false));
        samples.smallDet.push(await headOnly.run(true));
        samples.smallMc.push(await headOnly.run(false));
        samples.add.push(median([await seconds(add), await seconds(add), await seconds(add)]));
        samples.maps.push(await seconds(() => reducer.maps()));
      }
    } finally {
      await full.dispose();
      await headOnly.dispose();
    }
    const oneRow = await predict(['-t', String(PASSES), '--max-rows', '1']);
    const detSeconds = median(samples.det);
    const mcSeconds = median(samples.mc);
    rows.push({
      model: label,
      deterministicSeconds: detSeconds,
      mcSeconds,
      costVsDeterministic: mcSeconds / detSeconds,
      peakRssMiB: Math.max(...samples.mcRss),
      deterministicPeakRssMiB: Math.max(...samples.detRss),
      maxRows1Seconds: oneRow.seconds,
      maxRows1PeakRssMiB: oneRow.peakRssMiB,
      trunkGmac: net.macs.trunk / 1e9,
      headGmac: net.macs.head / 1e9,
      engineDeterministic: median(samples.engineDet),
      engineMc: median(samples.engineMc),
      engineDeterministicNoResize: median(samples.smallDet),
      engineMcNoResize: median(samples.smallMc),
      reduceAdd: median(samples.add),
      reduceMaps: median(samples.maps),
    });
  }
  return rows;
}

export function printSegmentation(rows: readonly SegmentationRow[]): void {
  const rounds = ROUNDS === 1 ? 'one round' : `median of ${ROUNDS}, alternating; peak RSS the highest`;
  say(
    `\nSegmentation end to end (${IMAGES} noise PNGs ${SIZE}x${SIZE} -> maps folder, ${CLASSES} classes, random weights, trunk reuse; whole processes, ${rounds})`,
  );
  say('| model | run | s | cost vs deterministic | peak RSS MiB |\n|---|---|---|---|---|');
  for (const r of rows) {
    say(`| ${r.model} | --deterministic | ${r.deterministicSeconds.toFixed(1)} | 1.00x | ${r.deterministicPeakRssMiB.toFixed(0)} |`);
    say(`| ${r.model} | MC T=${PASSES} | ${r.mcSeconds.toFixed(1)} | ${r.costVsDeterministic.toFixed(2)}x | ${r.peakRssMiB.toFixed(0)} |`);
    say(
      `| ${r.model} | MC T=${PASSES}, --max-rows 1 (one run) | ${r.maxRows1Seconds.toFixed(1)} | ${(r.maxRows1Seconds / r.deterministicSeconds).toFixed(2)}x | ${r.maxRows1PeakRssMiB.toFixed(0)} |`,
    );
  }
  say(
    `\nSegmentation, where the time goes (seconds per image, approximate: in the bench's process, in the same rounds, the model's passes alone, also on the model ending at the head's resolution, and the JS reduction alone, T=${PASSES} adds of one [${CLASSES}, ${SIZE}, ${SIZE}] row; the rest is end to end / ${IMAGES} minus those: decoding, scores, map files, process start, and the load's noise, as the parts and the whole ran at different moments)`,
  );
  say(
    '| model | run | end to end | model passes | same without the final Resize | reduction (PassReducer.addStatistics) | maps() | rest | conv GMAC per image (trunk + passes x head) |\n|---|---|---|---|---|---|---|---|---|',
  );
  for (const r of rows) {
    for (const [run, total, engine, noResize, passes] of [
      ['--deterministic', r.deterministicSeconds, r.engineDeterministic, r.engineDeterministicNoResize, 1],
      [`MC T=${PASSES}`, r.mcSeconds, r.engineMc, r.engineMcNoResize, PASSES],
    ] as const) {
      const perImage = total / IMAGES;
      const reduce = r.reduceAdd * passes;
      const rest = perImage - engine - reduce - r.reduceMaps;
      const gmac = r.trunkGmac + passes * r.headGmac;
      say(
        `| ${r.model} | ${run} | ${perImage.toFixed(2)} | ${engine.toFixed(2)} | ${noResize.toFixed(2)} | ${reduce.toFixed(2)} | ${r.reduceMaps.toFixed(2)} | ${rest.toFixed(2)} | ${gmac.toFixed(2)} |`,
      );
    }
  }
}
