/** What a predict run records: the settings a resume must match, each row's line, and the metadata of a finished run. */
import { stringify } from '../../io/csv.js';
import { applyCalibration, type Calibration } from '../../calibration/calibration.js';
import { maskRates, type McModel } from '../../engine/mc-model.js';
import { MASK_SCHEME } from '../../engine/masks.js';
import { onnxruntimeVersion } from '../../engine/runtime.js';
import { csvRecord, jsonRecord, type ImageResult, type RowShape } from '../../io/rows.js';
import { preprocessRecord, upgradedPreprocessRecord } from '../../preprocess/record.js';
import type { PreprocessSpec } from '../../preprocess/spec.js';
import type { AdaptiveRule } from '../../stats/adaptive.js';
import { decomposeUncertainty } from '../../ensemble/decomposition.js';
import type { Members } from '../../ensemble/members.js';
import { splitPassMajorRows } from '../../ensemble/rows.js';
import { viewNames } from '../../ensemble/views.js';
import type { View } from '../../preprocess/views.js';
import type { Shard } from '../shards.js';
import { hostname } from 'node:os';
import type { PredictRunConfig } from './config.js';

/** What a run resolved before its first image: labels, preprocessing, top-k, T (or the adaptive rule), seed, and the shard's place in the input list. */
export interface ResolvedRun {
  labels: string[];
  preprocess: PreprocessSpec;
  topk: number;
  rule: AdaptiveRule | undefined;
  passes: number | 'auto';
  seed: number;
  calibration: Calibration | undefined;
  /** SHA-256 of the calibration file's bytes, recorded in the settings. */
  calibrationSha256: string | undefined;
  /** Sharded runs: the hash and length of the whole input list, and this shard's block of it. */
  shard?: { shard: Shard; listHash: string; listLength: number; first: number; end: number };
  /** The model's SHA-256, or an ensemble's (Members.sha256): what a calibration, a resume and the passes' record know the run's model by. */
  modelSha256: string;
  /** Several members, or views: the members, the views and T of a stochastic member (1 when none is, or the run is deterministic). */
  ensemble?: { members: Members; views: readonly View[]; passes: number };
}

/** The settings that must match for --resume to append to this run's output (and that merge compares across shards). */
export function runSettings(config: PredictRunConfig, model: McModel, run: ResolvedRun): Record<string, unknown> {
  const { info } = model;
  return {
    ...(run.shard && {
      shard: { index: run.shard.shard.index, count: run.shard.shard.count },
      input_list_sha256: run.shard.listHash,
      input_list_length: run.shard.listLength,
    }),
    model_sha256: run.modelSha256,
    ...(run.ensemble && {
      members: run.ensemble.members.list.map((m) => ({
        sha256: m.model.info.sha256,
        dropout_rates: maskRates(m.model.info),
        preprocess: preprocessRecord(m.preprocess),
      })),
      views: viewNames(run.ensemble.views),
    }),
    passes: run.passes,
    seed: run.seed,
    mask_scheme: MASK_SCHEME,
    deterministic: config.deterministic,
    dropout: config.load.dropout ?? 'auto',
    dropout_rates: maskRates(info),
    preprocess: preprocessRecord(run.preprocess),
    format: config.format,
    topk: run.topk,
    per_class: config.perClass,
    labels: run.labels,
    ...(run.rule && { adaptive: adaptiveRecord(run.rule) }),
    ...(config.spreadsheetSafe && config.format === 'csv' && { spreadsheet_safe: true }),
    ...(run.calibrationSha256 !== undefined && { calibration_sha256: run.calibrationSha256 }),
  };
}

/** The adaptive rule as the settings record it (snake_case keys, like the rest). */
function adaptiveRecord(rule: AdaptiveRule): Record<string, number> {
  return { min_passes: rule.minPasses, max_passes: rule.maxPasses, tolerance: rule.tolerance, z: rule.z };
}

/** The adaptive rule's keys an earlier release wrote (AdaptiveRule's camelCase), with today's. */
const EARLIER_ADAPTIVE_KEYS: Record<string, string> = { minPasses: 'min_passes', maxPasses: 'max_passes' };

/**
 * An earlier run's settings as runSettings writes them now: a run of an earlier release recorded
 * its preprocessing and adaptive rule under camelCase keys (read for one release).
 */
export function upgradedRunSettings(earlier: Record<string, unknown>): Record<string, unknown> {
  const { adaptive } = earlier;
  return {
    ...earlier,
    ...('preprocess' in earlier && { preprocess: upgradedPreprocessRecord(earlier.preprocess) }),
    ...(typeof adaptive === 'object' &&
      adaptive !== null &&
      !Array.isArray(adaptive) && { adaptive: Object.fromEntries(Object.entries(adaptive).map(([k, v]) => [EARLIER_ADAPTIVE_KEYS[k] ?? k, v])) }),
  };
}

/** One image's line: a CSV record or a JSON object, calibrated when the run applies a calibration. */
export function rowLine(config: PredictRunConfig, run: ResolvedRun, result: ImageResult): string {
  const row = run.calibration && result.status === 'ok' ? calibrated(result, run.calibration, run.ensemble) : result;
  return config.format === 'csv'
    ? stringify([csvRecord(row, run.labels, rowShape(run), config.spreadsheetSafe)]).trimEnd()
    : JSON.stringify(jsonRecord(row, run.labels, rowShape(run), config.perClass));
}

/** What the run's rows hold besides the base columns. */
export function rowShape(run: ResolvedRun): RowShape {
  return { topk: run.topk, withPasses: Boolean(run.rule), calibrated: Boolean(run.calibration), withParts: run.ensemble !== undefined };
}

/** A row under a calibration: the summary (and an ensemble's parts) of the tempered passes, the confidence before, and the prediction set. */
function calibrated(result: Extract<ImageResult, { status: 'ok' }>, calibration: Calibration, ensemble: ResolvedRun['ensemble']): ImageResult {
  const applied = applyCalibration(calibration, result.file, result.passProbs!);
  const classes = applied.summary.mean.length;
  const parts =
    ensemble &&
    decomposeUncertainty(splitPassMajorRows(applied.passes, ensemble.passes, ensemble.members.list.length, ensemble.views.length, classes), classes);
  return {
    ...result,
    summary: applied.summary,
    ...(parts && {
      parts: {
        betweenMembers: parts.betweenMembers,
        betweenViews: parts.betweenViews,
        withinPasses: parts.withinPasses,
        memberDisagreement: parts.memberDisagreement,
      },
    }),
    calibrated: { uncalibratedConfidence: result.summary.confidence, set: applied.set },
  };
}

/** Mean, median and max of the passes the images used (adaptive T makes them differ). */
export function passStatistics(passes: readonly number[]): { mean: number; median: number; max: number } {
  if (passes.length === 0) return { mean: 0, median: 0, max: 0 };
  const sorted = [...passes].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return {
    mean: passes.reduce((a, b) => a + b, 0) / passes.length,
    median: sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2,
    max: sorted.at(-1)!,
  };
}

/** The metadata sidecar of a finished run: the tool, the model and its sites, trunk reuse, T, seed, provider, times, counts, settings and the shard. */
export function runMetadata(
  config: PredictRunConfig,
  model: McModel,
  run: ResolvedRun,
  done: { started: Date; finished: Date; passesUsed: readonly number[]; counts: Record<string, number>; settings: Record<string, unknown> },
): Record<string, unknown> {
  const { info, plan } = model;
  return {
    tool: 'mc-dropout',
    version: config.version,
    command: 'predict',
    ...(run.ensemble && {
      members: run.ensemble.members.asGiven.map((m) => ({
        path: m.path,
        sha256: m.model.info.sha256,
        classes: m.model.info.classes,
        passes: m.stochastic ? run.ensemble!.passes : 1,
        sites: m.model.info.drawnSites.map((s) => ({ node: s.site.nodeName, op: s.site.op, draw: s.draw, shape: s.rowShape })),
        trunk_reuse: m.model.plan.trunkReuse,
      })),
      views: viewNames(run.ensemble.views),
      ensemble_sha256: run.modelSha256,
    }),
    model: {
      // an ensemble's lead member (the first by digest), whose sites and trunk reuse follow
      path: run.ensemble ? run.ensemble.members.list[0]!.path : config.model,
      sha256: info.sha256,
      external_files: info.externalFiles,
      classes: info.classes,
      sites: info.drawnSites.map((s) => ({ node: s.site.nodeName, op: s.site.op, draw: s.draw, shape: s.rowShape })),
    },
    trunk_reuse: { applied: plan.trunkReuse, reason: plan.reason, cut: plan.cutTensors, rows_alone: plan.rowsAlone },
    passes: run.passes,
    ...(run.rule && { passes_used: passStatistics(done.passesUsed) }),
    seed: run.seed,
    provider: info.provider,
    device_id: info.deviceId,
    onnxruntime: onnxruntimeVersion(),
    started: done.started.toISOString(),
    finished: done.finished.toISOString(),
    seconds: (done.finished.getTime() - done.started.getTime()) / 1000,
    counts: done.counts,
    settings: done.settings,
    ...(run.shard && {
      shard: {
        index: run.shard.shard.index,
        count: run.shard.shard.count,
        first: run.shard.first,
        end: run.shard.end,
        images: run.shard.end - run.shard.first,
        host: hostname(),
      },
    }),
  };
}
