/** The tensors fed to a session run: images per row, and each site's draws per row. */
import type { ImageKey } from './masks.js';
import { drawDims, fillDraws, typicalValue, type DrawnSite } from './draws.js';
import type { HostTensor, IndexTensor } from './runtime.js';

/** The inputs of one session run, by graph input name. */
export type Feeds = Record<string, HostTensor | IndexTensor>;

/** One row of a session run: an image and one of its passes. */
export interface Row {
  image: number;
  /** Position of the pass in this call's results. */
  pass: number;
  /** The pass's index, which keys its masks: firstPass + pass. */
  index: number;
}

/** The whole graph per row: each row its own copy of its image (padded to a static batch). dims: [batch, ...imageDims]. */
export function replicatedFeeds(
  rows: readonly Row[],
  images: readonly Float32Array[],
  input: { name: string; imageDims: readonly number[] },
  batch: number,
): Feeds {
  const size = images[0]!.length;
  const data = new Float32Array(batch * size);
  rows.forEach((row, r) => data.set(images[row.image]!, r * size));
  return { [input.name]: { data, dims: [batch, ...input.imageDims] } };
}

/**
 * Adds each site's draws for the rows to `feeds`, [batch x fold, ...rowShape] per site: padding rows
 * of a static batch, and deterministic passes, get the site's typical value.
 */
export function addDraws(
  feeds: Feeds,
  sites: readonly DrawnSite[],
  rows: readonly Row[],
  keys: readonly ImageKey[],
  batch: number,
  options: { seed: number; deterministic?: boolean },
): void {
  sites.forEach((site, k) => {
    const data = new Float32Array(batch * site.rowSize);
    for (let r = 0; r < batch; r++) {
      const slot = data.subarray(r * site.rowSize, (r + 1) * site.rowSize);
      const row = rows[r];
      if (!row || options.deterministic) slot.fill(typicalValue(site.draw));
      else fillDraws(slot, site.draw, options.seed, keys[row.image]!, row.index, k);
    }
    feeds[site.input] = { data, dims: drawDims(site, batch) };
  });
}
