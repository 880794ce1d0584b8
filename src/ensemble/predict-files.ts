/**
 * An ensemble's passes over files: every member on every view of every image, T passes each (one
 * for a member without dropout), combined with equal weights per member and per view. Images are
 * decoded once for all members; each distinct input (a member's preprocessing on a view) is made
 * once and shared by the members that read it.
 */
import { decodeBatches, type PredictFilesOptions } from '../pipeline.js';
import type { ImageResult } from '../io/rows.js';
import { decodeViews, type ViewRequest } from '../preprocess/decode-views.js';
import { preprocessRecord } from '../preprocess/record.js';
import { pixelsToTensor } from '../preprocess/tensor.js';
import { IDENTITY_VIEW, viewName, type View } from '../preprocess/views.js';
import { summarize } from '../stats/aggregate.js';
import { decomposeUncertainty } from './decomposition.js';
import type { Member, Members } from './members.js';
import { passMajorRows } from './rows.js';
import { memberSeed } from './seeds.js';

/** The identity view alone: no test-time augmentation. */
export const IDENTITY_VIEWS: readonly View[] = [IDENTITY_VIEW];

/** How an ensemble runs over files: predictFiles' options (fixed T only), its views, and whether each member's own outputs are kept. */
export interface EnsembleFilesOptions extends Omit<PredictFilesOptions, 'adaptive' | 'logitScores'> {
  /** The views every member sees (preprocess/views.ts parseViews), the identity first. */
  views: readonly View[];
  /** Keep each member's passes and deterministic probabilities per view (evaluate's methods). */
  keepMembers?: boolean;
}

/** The passes of one image: per member (the ensemble's order), per view, probabilities [T_m, C]. */
type MemberViewPasses = Float64Array[][];

/**
 * Yields one result per file, in input order: `summary` over every pass of every member and view
 * with equal weight per member and view (a member without dropout counts its one pass T times),
 * `parts` the mutual information split (decomposition.ts), `passProbs` (when kept) the rows in
 * pass-major order: row (t, m, v) = pass t of member m on view v, so the first t x M x V rows are
 * the first t passes of every member and view.
 */
export async function* predictEnsembleFiles(members: Members, files: readonly string[], options: EnsembleFilesOptions): AsyncGenerator<ImageResult> {
  const { views } = options;
  const slots = inputSlots(members.list, views);
  const batches = decodeBatches(files, options, async (file, header) =>
    (await decodeViews(file, slots.requests, header)).map((pixels, i) => pixelsToTensor(pixels, slots.requests[i]!.spec)),
  );
  const passes = options.deterministic || !members.stochastic ? 1 : options.passes;
  for (let b = 0; b < batches.starts.length; b++) {
    const decoded = await batches.nextBatch(b);
    const good = decoded.filter((d): d is Float32Array[] => typeof d !== 'string');
    const ran = good.length > 0 ? await runMembers(members.list, views, slots.of, good, { ...options, passes }) : undefined;
    let g = 0;
    for (let i = 0; i < decoded.length; i++) {
      const index = batches.starts[b]! + i;
      const item = decoded[i]!;
      if (typeof item === 'string') yield { file: files[index]!, index, status: 'error', error: item };
      else {
        yield imageResult(
          files[index]!,
          index,
          members,
          views,
          ran!.passes.map((perView) => perView.map((images) => images[g]!)),
          ran!.deterministic?.map((perView) => perView.map((images) => images[g]!)),
          { ...options, passes },
        );
        g++;
      }
    }
  }
}

/** The distinct inputs the members read (a preprocessing on a view), and for member m and view v the index of its input. */
function inputSlots(members: readonly Member[], views: readonly View[]): { requests: ViewRequest[]; of: number[][] } {
  const keys: string[] = [];
  const requests: ViewRequest[] = [];
  const of = members.map((m) =>
    views.map((view) => {
      const key = `${JSON.stringify(preprocessRecord(m.preprocess))}|${viewName(view)}`;
      let slot = keys.indexOf(key);
      if (slot < 0) {
        slot = keys.push(key) - 1;
        requests.push({ spec: m.preprocess, view });
      }
      return slot;
    }),
  );
  return { requests, of };
}

/** Every member on every view of the batch: passes[m][v][image] [T_m, C], and the deterministic pass of each when asked. */
async function runMembers(
  members: readonly Member[],
  views: readonly View[],
  slotOf: number[][],
  images: readonly Float32Array[][],
  options: EnsembleFilesOptions,
): Promise<{ passes: Float64Array[][][]; deterministic: Float64Array[][][] | undefined }> {
  const passes: Float64Array[][][] = [];
  const deterministic: Float64Array[][][] = [];
  for (const [m, member] of members.entries()) {
    const { model } = member;
    const alone = members.length === 1;
    passes.push([]);
    deterministic.push([]);
    for (const [v, view] of views.entries()) {
      const tensors = images.map((inputs) => inputs[slotOf[m]![v]!]!);
      const seed = memberSeed(options.seed, model.info.sha256, viewName(view), alone);
      const random = member.stochastic && !options.deterministic;
      const plain = () => model.predict(tensors, { passes: 1, seed, deterministic: true });
      const ran = random ? await model.predict(tensors, { passes: options.passes, seed }) : await plain();
      passes[m]!.push(ran);
      if (options.withDeterministic) deterministic[m]!.push(random ? await plain() : ran);
    }
  }
  return { passes, deterministic: options.withDeterministic ? deterministic : undefined };
}

/** One image's result from its passes per member and view (and deterministic probabilities per member and view). */
function imageResult(
  file: string,
  index: number,
  members: Members,
  views: readonly View[],
  passes: MemberViewPasses,
  deterministic: MemberViewPasses | undefined,
  options: EnsembleFilesOptions,
): ImageResult {
  const { classes } = members;
  for (const [m, perView] of passes.entries())
    for (const [v, probs] of perView.entries()) {
      const bad = probs.findIndex((p) => !Number.isFinite(p));
      if (bad >= 0)
        return {
          file,
          index,
          status: 'error',
          error: `model output is not finite (NaN or infinity) in pass ${Math.floor(bad / classes) + 1} of the member ${members.list[m]!.path}${views.length > 1 ? ` on the view ${viewName(views[v]!)}` : ''}`,
        };
    }
  const rows = passMajorRows(passes, options.passes, classes);
  const parts = decomposeUncertainty(passes, classes);
  return {
    file,
    index,
    status: 'ok',
    summary: summarize(rows, classes),
    parts: {
      betweenMembers: parts.betweenMembers,
      betweenViews: parts.betweenViews,
      withinPasses: parts.withinPasses,
      memberDisagreement: parts.memberDisagreement,
    },
    ...(options.keepPasses && { passProbs: rows }),
    // dropout off on every member and view: the run's predictive without MC dropout, beside the one with it
    ...(deterministic && { deterministicProbs: meanOf(deterministic.flat(), classes) }),
    ...(options.keepMembers && { members: passes.map((perView, m) => ({ passes: perView, ...(deterministic && { deterministic: deterministic[m]! }) })) }),
  };
}

/** The mean of probability vectors [C], summed then divided as summarize does (the same bits as the mean of those rows). */
function meanOf(vectors: readonly Float64Array[], classes: number): Float64Array {
  const mean = new Float64Array(classes);
  for (const p of vectors) for (let c = 0; c < classes; c++) mean[c]! += p[c]!;
  for (let c = 0; c < classes; c++) mean[c]! /= vectors.length;
  return mean;
}
