/** Adaptive T over a stream of images: rounds of passes until each image's estimates settle (stats/adaptive.ts decides). */
import { invalidParameter } from '../errors.js';
import { checkAdaptive, type AdaptiveRule } from '../stats/adaptive.js';
import type { PreparedImage } from './trunk-reuse.js';

/** What a pool needs of a model: images made ready once, then any range of passes of each. */
export interface PassSource {
  readonly classes: number;
  /** Makes images ready for passes (with trunk reuse, their trunk runs now). */
  prepare(images: readonly Float32Array[]): Promise<PreparedImage[]>;
  /** Passes first .. first + passes - 1 of each requested image; per request its probabilities [passes, C]. */
  runPasses(prepared: readonly PreparedImage[], requests: readonly { image: number; first: number; passes: number }[], seed: number): Promise<Float64Array[]>;
}

/**
 * Adaptive T over a stream of images: add images at any time, run rounds, take the images that
 * finished. Each round gives every active image `minPasses` more passes (fewer at maxPasses), with
 * the masks of their indices, so an image's passes are those of a fixed run, and its stop (see
 * stats/adaptive.ts) depends on its own passes alone: adding images between rounds (refilling a
 * batch as its images finish) changes nothing in any image's result.
 */
export class AdaptivePool {
  private readonly entries = new Map<number, { prepared: PreparedImage; probs: Float64Array }>();
  private nextId = 0;

  constructor(
    private readonly model: PassSource,
    private readonly seed: number,
    private readonly rule: AdaptiveRule,
  ) {
    if (!(Number.isInteger(rule.minPasses) && rule.minPasses >= 1 && Number.isInteger(rule.maxPasses) && rule.maxPasses >= rule.minPasses)) {
      throw invalidParameter('adaptive', 'integers 1 <= minPasses <= maxPasses', { minPasses: rule.minPasses, maxPasses: rule.maxPasses });
    }
  }

  /** Images still running. */
  get active(): number {
    return this.entries.size;
  }

  /** Adds images (with trunk reuse, their trunk runs now); returns their ids, in order. */
  async add(images: readonly Float32Array[]): Promise<number[]> {
    const prepared = await this.model.prepare(images);
    return prepared.map((p) => {
      const id = this.nextId++;
      this.entries.set(id, { prepared: p, probs: new Float64Array(0) });
      return id;
    });
  }

  /** One round for every active image; returns those that settled (or reached maxPasses), with their probabilities [T_i, C]. */
  async round(): Promise<{ id: number; probs: Float64Array }[]> {
    const classes = this.model.classes;
    const ids = [...this.entries.keys()];
    const entries = ids.map((id) => this.entries.get(id)!);
    const requests = entries.map((e, image) => {
      const done = e.probs.length / classes;
      return { image, first: done, passes: Math.min(this.rule.minPasses, this.rule.maxPasses - done) };
    });
    const round = await this.model.runPasses(
      entries.map((e) => e.prepared),
      requests,
      this.seed,
    );
    const finished: { id: number; probs: Float64Array }[] = [];
    entries.forEach((e, i) => {
      const grown = new Float64Array(e.probs.length + round[i]!.length);
      grown.set(e.probs);
      grown.set(round[i]!, e.probs.length);
      e.probs = grown;
      if (checkAdaptive(grown, classes, this.rule).done) {
        this.entries.delete(ids[i]!);
        finished.push({ id: ids[i]!, probs: grown });
      }
    });
    return finished;
  }
}
