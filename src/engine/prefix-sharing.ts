/**
 * DropPath prefix sharing (stochastic depth): passes whose drop decisions agree up to a site compute
 * what lies before the next site once. model/prefix-levels.ts cuts the graph into levels,
 * model/drop-decisions.ts finds each site's decision; this groups a run's rows level by level and
 * builds what the level graph is fed.
 */
import { decide, dropDecisionOf, type DropDecision } from '../model/drop-decisions.js';
import type { OnnxGraph } from '../model/graph.js';
import { levelGraph, type LevelPlan } from '../model/prefix-levels.js';
import { drawDims, fillDraws, typicalValue, type DrawnSite } from './draws.js';
import type { Feeds, Row } from './feeds.js';
import type { ImageKey } from './masks.js';

/** The level graph and each site's drop decision (undefined: not a per-sample decision, every pass its own). */
export interface PrefixLevels {
  plan: LevelPlan;
  decisions: (DropDecision | undefined)[];
}

/**
 * The level graph of `rewritten` (sites as graph inputs) when some site takes a per-sample drop
 * decision (taken here on the same number the graph reads), else undefined.
 */
export function prefixLevelsOf(
  original: OnnxGraph,
  rewritten: OnnxGraph,
  sites: readonly DrawnSite[],
  siteTypes: readonly number[],
  batchMajor: ReadonlySet<string>,
): PrefixLevels | undefined {
  const decisions = sites.map((s, k) => (s.fold === 1 ? dropDecisionOf(original, s.site, s.rowShape, siteTypes[k]!) : undefined));
  if (!decisions.some((d) => d !== undefined)) return undefined;
  const plan = levelGraph(
    rewritten,
    sites.map((s) => s.input),
    batchMajor,
  );
  return 'model' in plan ? { plan, decisions } : undefined;
}

/**
 * Where a run that starts at rows[start] ends (exclusive) under prefix sharing: a run computes one
 * row per group at each level, so it takes rows while the groups of its last level (the most of any
 * level) stay within `maxGroups`, and its images within `maxImages`; at least one row. This keeps
 * the memory bound of `maxGroups` rows a run while a run holds all T passes of an image whose
 * decisions repeat. keys: the images' keys, indexed by row.image.
 */
export function levelRunEnd(
  levels: PrefixLevels,
  sites: readonly DrawnSite[],
  rows: readonly Row[],
  start: number,
  keys: readonly ImageKey[],
  limits: { maxGroups: number; maxImages: number },
  options: { seed: number; deterministic?: boolean },
): number {
  const groups = new Set<string>();
  const images = new Set<number>();
  const u = new Float32Array(1);
  let end = start;
  for (; end < rows.length; end++) {
    const row = rows[end]!;
    let key = `${row.image}`;
    for (const [k, site] of sites.entries()) {
      const rule = levels.decisions[k];
      // a site without a decision gives each row its own group from there on
      if (rule === undefined) {
        key = `row ${end}`;
        break;
      }
      if (options.deterministic) u[0] = typicalValue(site.draw);
      else fillDraws(u, site.draw, options.seed, keys[row.image]!, row.index, k);
      key += `:${decide(rule, u[0]!)}`;
    }
    const newGroup = !groups.has(key);
    const newImage = !images.has(row.image);
    if (end > start && ((newGroup && groups.size >= limits.maxGroups) || (newImage && images.size >= limits.maxImages))) break;
    groups.add(key);
    images.add(row.image);
  }
  return end;
}

/**
 * Rows grouped level by level (level k: the rows' groups at level k - 1 and their decision at site
 * k; a site without a decision gives each row its own group), each group fed the
 * draws of its first row. Returns the feeds and, per row, its row of the graph's output.
 * images: the call's images, [C, H, W] values each, fed as `input`.
 */
export function levelFeeds(
  levels: PrefixLevels,
  sites: readonly DrawnSite[],
  rows: readonly Row[],
  images: readonly Float32Array[],
  keys: readonly ImageKey[],
  input: { name: string; imageDims: readonly number[] },
  options: { seed: number; deterministic?: boolean },
): { feeds: Feeds; outputRow: Int32Array } {
  const { plan, decisions } = levels;
  // group of each row per level, each group's parent and first row
  const groupOf: Int32Array[] = [];
  const parentOf: number[][] = [];
  const firstRow: number[][] = [];
  const slots = new Map<number, number>();
  const level0 = new Int32Array(rows.length);
  const first0: number[] = [];
  rows.forEach((row, r) => {
    if (!slots.has(row.image)) {
      slots.set(row.image, slots.size);
      first0.push(r);
    }
    level0[r] = slots.get(row.image)!;
  });
  groupOf.push(level0);
  parentOf.push([]);
  firstRow.push(first0);
  const u = new Float32Array(1);
  sites.forEach((site, k) => {
    const previous = groupOf[k]!;
    const groups = new Map<string, number>();
    const mine = new Int32Array(rows.length);
    const parents: number[] = [];
    const firsts: number[] = [];
    rows.forEach((row, r) => {
      let decision: number = r;
      const rule = decisions[k];
      if (rule !== undefined) {
        if (options.deterministic) u[0] = typicalValue(site.draw);
        else fillDraws(u, site.draw, options.seed, keys[row.image]!, row.index, k);
        decision = decide(rule, u[0]!);
      }
      const key = `${previous[r]}:${decision}`;
      let g = groups.get(key);
      if (g === undefined) {
        g = groups.size;
        groups.set(key, g);
        parents.push(previous[r]!);
        firsts.push(r);
      }
      mine[r] = g;
    });
    groupOf.push(mine);
    parentOf.push(parents);
    firstRow.push(firsts);
  });
  const size = images[0]!.length;
  const stacked = new Float32Array(slots.size * size);
  for (const [image, slot] of slots) stacked.set(images[image]!, slot * size);
  const feeds: Feeds = { [input.name]: { data: stacked, dims: [slots.size, ...input.imageDims] } };
  for (const gather of plan.gathers) {
    const index = firstRow[gather.level]!.map((_, g) => {
      let group = g;
      for (let l = gather.level; l > gather.from; l--) group = parentOf[l]![group]!;
      return BigInt(group);
    });
    feeds[gather.input] = { data: BigInt64Array.from(index), dims: [index.length] };
  }
  sites.forEach((site, k) => {
    const groups = firstRow[k + 1]!;
    const data = new Float32Array(groups.length * site.rowSize);
    groups.forEach((r, g) => {
      const slot = data.subarray(g * site.rowSize, (g + 1) * site.rowSize);
      if (options.deterministic) slot.fill(typicalValue(site.draw));
      else fillDraws(slot, site.draw, options.seed, keys[rows[r]!.image]!, rows[r]!.index, k);
    });
    feeds[site.input] = { data, dims: drawDims(site, groups.length) };
  });
  return { feeds, outputRow: groupOf[plan.outputLevel]! };
}
