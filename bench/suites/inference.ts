/** Inference alone, per strategy: deterministic, sequential, replicated, trunk reuse (images/s at B and T). */
import { readFileSync } from 'node:fs';
import { McModel } from '../../src/engine/mc-model.js';
import { convertModel } from '../../src/model/convert.js';
import { readOnnxBytes } from '../../src/model/read.js';
import { RuntimeSession } from '../../src/engine/runtime.js';
import { timeMethods, testImages, tiledFeeds, type Method } from '../harness.js';

export const DETERMINISTIC = 'deterministic (1 pass, plain onnxruntime)';
export const SEQUENTIAL = 'sequential (T session runs, whole graph)';
export const REPLICATED = 'replicated (B x T rows in one run, whole graph)';
export const TRUNK_REUSE = 'trunk reuse, the default (one run: trunk on B images, head on B x T rows)';

export interface InferenceRow {
  model: string;
  method: string;
  passes: number;
  imagesPerSecond: number;
  /** Seconds per image relative to one deterministic pass. */
  costVsDeterministic: number;
}

export async function inference(label: string, file: string, batch: number): Promise<InferenceRow[]> {
  const reused = await McModel.load(file, { device: 'cpu' });
  const full = await McModel.load(file, { device: 'cpu', trunkReuse: 'off' });
  const images = testImages(reused, batch);
  // the baseline: the original graph in onnxruntime, where the optimizer removes Dropout (eval mode)
  const plain = await RuntimeSession.create(readFileSync(file), { provider: 'cpu', deviceId: 0, threads: 0 });
  const stacked = new Float32Array(batch * reused.imageSize);
  images.forEach((image, i) => stacked.set(image, i * reused.imageSize));
  const feeds = { [reused.info.inputName]: { data: stacked, dims: [batch, ...reused.info.inputDims.slice(1)] } };
  // route (b) of the design: random masks drawn inside the graph (what `convert` writes), B x T rows
  const inGraph = await RuntimeSession.create(convertModel(readOnnxBytes(readFileSync(file)).model, { seed: 1 }).model.encode(), {
    provider: 'cpu',
    deviceId: 0,
    threads: 0,
  });
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
    model: label,
    method: m.method,
    passes: m.passes,
    imagesPerSecond: batch / seconds[i]!,
    costVsDeterministic: seconds[i]! / seconds[0]!,
  }));
  console.error(`  ${label}: ${reused.plan.reason}`);
  await reused.dispose();
  await full.dispose();
  await plain.release();
  await inGraph.release();
  return rows;
}
