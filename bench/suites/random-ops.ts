/** Models whose stochastic layers are random ops (DropPath, RandomUniformLike heads): plain onnxruntime against seeded sites. */
import { McModel } from '../../src/engine/mc-model.js';
import { RuntimeSession } from '../../src/engine/runtime.js';
import { say, quick, timeMethods, testImages, tiledFeeds, type Method } from '../harness.js';

export const RANDOM_OPS_PLAIN = "plain onnxruntime, the graph's own random ops (B x T rows, not seeded)";
export const RANDOM_OPS_SEEDED = 'mc-dropout, seeded random-op sites (B x T rows, whole graph)';
export const RANDOM_OPS_DEFAULT = 'mc-dropout default (trunk reuse where it applies)';

export interface RandomOpRow {
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
export async function randomOps(label: string, file: string, batch: number): Promise<RandomOpRow[]> {
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
    model: label,
    method: m.method,
    imagesPerSecond: batch / seconds[i]!,
    costVsPlain: seconds[i]! / seconds[0]!,
    trunkReuse: m.method === RANDOM_OPS_DEFAULT && reused.plan.trunkReuse,
  }));
  console.error(`  ${label}: ${reused.plan.reason}`);
  await seeded.dispose();
  await reused.dispose();
  await plain.release();
  return rows;
}

export function printRandomOps(rows: RandomOpRow[]): void {
  say('\nRandom ops as PyTorch 2.13 exports them (T=10; cost per image vs plain onnxruntime drawing them itself)');
  say('| model | method | images/s | cost vs plain |\n|---|---|---|---|');
  for (const r of rows) say(`| ${r.model} | ${r.method} | ${r.imagesPerSecond.toFixed(1)} | ${r.costVsPlain.toFixed(2)}x |`);
}
