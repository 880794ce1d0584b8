/**
 * Trunk reuse: the deterministic part before the first stochastic site runs once per image, and only
 * the head runs T times. The graph is cut in model/trunk-split.ts; this holds what the engine feeds
 * and keeps for it.
 */
import { DataType, type OnnxGraph } from '../model/graph.js';
import { ROWS_INPUT, type SplitPlan } from '../model/trunk-split.js';
import type { Feeds, Row } from './feeds.js';
import { imageKeyOf, type ImageKey } from './masks.js';
import type { ProbeResult } from './probe.js';
import type { RuntimeSession } from './runtime.js';

/** An image ready for passes: its masks' key and, with a float32 trunk/head split, its cut tensors. */
export interface PreparedImage {
  image: Float32Array;
  key: ImageKey;
  cut?: Map<string, Float32Array>;
}

/**
 * Each per-image input (the images, or the cut tensors of a head graph) once per image the rows
 * use, [images, ...rowShape], and per row the index of its image (the graph gathers).
 */
export function gatheredFeeds(
  rows: readonly Row[],
  perImage: ReadonlyMap<string, readonly Float32Array[]>,
  rowShapes: ReadonlyMap<string, readonly number[]>,
): Feeds {
  const slots = new Map<number, number>();
  for (const row of rows) if (!slots.has(row.image)) slots.set(row.image, slots.size);
  const feeds: Feeds = {
    [ROWS_INPUT]: { data: BigInt64Array.from(rows, (row) => BigInt(slots.get(row.image)!)), dims: [rows.length] },
  };
  for (const [name, tensors] of perImage) {
    const dims = [slots.size, ...rowShapes.get(name)!];
    if (slots.size === 1) {
      // one image (the CPU trunk's usual run): its own tensor, not a copy of it
      feeds[name] = { data: tensors[slots.keys().next().value!]!, dims };
      continue;
    }
    const size = tensors[0]!.length;
    const stacked = new Float32Array(slots.size * size);
    for (const [image, slot] of slots) stacked.set(tensors[image]!, slot * size);
    feeds[name] = { data: stacked, dims };
  }
  return feeds;
}

/**
 * The split as separate trunk and head sessions, for passes spread over several calls (adaptive
 * rounds): the trunk's cut tensors are kept per image between calls. Only a float32 cut qualifies:
 * a float16 cut kept between sessions would be rounded to float16, where onnxruntime's CPU kernels
 * carry it in float32 inside one graph (measured: 1e-4 apart), so such models run their adaptive
 * rounds on the whole split graph and their passes stay a fixed run's, bit for bit.
 */
export class TrunkParts {
  private sessions?: Promise<{ trunk: RuntimeSession; head: RuntimeSession }>;

  private constructor(
    private readonly trunkModel: OnnxGraph,
    private readonly headModel: OnnxGraph,
    private readonly open: (model: Uint8Array) => Promise<RuntimeSession>,
  ) {}

  /** The parts of a split, or undefined where they do not apply (no split, a float16 cut, or prefix sharing). */
  static of(
    split: SplitPlan | { reason: string },
    inputName: string,
    probe: ProbeResult,
    prefixSharing: boolean,
    open: (model: Uint8Array) => Promise<RuntimeSession>,
  ): TrunkParts | undefined {
    if (!('model' in split) || prefixSharing) return undefined;
    const floatCut = split.cutTensors.every((t) => t === inputName || probe.activationTypes.get(t) === DataType.FLOAT);
    return floatCut ? new TrunkParts(split.trunkModel, split.headModel, open) : undefined;
  }

  /** The trunk and head sessions, opened on first use. */
  opened(): Promise<{ trunk: RuntimeSession; head: RuntimeSession }> {
    this.sessions ??= Promise.all([this.open(this.trunkModel.encode()), this.open(this.headModel.encode())]).then(([trunk, head]) => ({ trunk, head }));
    return this.sessions;
  }

  /**
   * Runs the trunk on the images, `perRun` at a time, and keeps each image's cut tensors.
   * image: `imageDims` ([C, H, W]) values each; `run` wraps each session run (errors).
   */
  async prepare(
    images: readonly Float32Array[],
    input: { name: string; imageDims: readonly number[] },
    cutTensors: readonly string[],
    perRun: number,
    run: <T>(work: () => Promise<T>) => Promise<T>,
  ): Promise<PreparedImage[]> {
    const prepared: PreparedImage[] = images.map((image) => ({ image, key: imageKeyOf(image) }));
    const { trunk } = await this.opened();
    const computed = cutTensors.filter((name) => name !== input.name);
    const imageSize = input.imageDims.reduce((a, b) => a * b, 1);
    prepared.forEach((p) => {
      p.cut = new Map(cutTensors.includes(input.name) ? [[input.name, p.image]] : []);
    });
    for (let start = 0; start < images.length && computed.length > 0; start += perRun) {
      const group = images.slice(start, start + perRun);
      const stacked = new Float32Array(group.length * imageSize);
      group.forEach((image, i) => stacked.set(image, i * imageSize));
      const out = await run(() => trunk.run({ [input.name]: { data: stacked, dims: [group.length, ...input.imageDims] } }, computed));
      for (const name of computed) {
        const size = out[name]!.data.length / group.length;
        group.forEach((_, i) => prepared[start + i]!.cut!.set(name, out[name]!.data.slice(i * size, (i + 1) * size)));
      }
    }
    return prepared;
  }

  async release(): Promise<void> {
    if (!this.sessions) return;
    const { trunk, head } = await this.sessions;
    await Promise.all([trunk.release(), head.release()]);
  }
}
