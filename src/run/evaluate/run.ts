/**
 * `evaluate` as a run of the model: T passes and one deterministic pass per labeled image (and
 * per OOD image), into one report that evaluate prints and writes and report renders.
 */
import path from 'node:path';
import { checkCalibrationFits } from '../../calibration/calibration.js';
import { checkCalibrationRun } from '../../calibration/fit-check.js';
import { maskRates } from '../../engine/mc-model.js';
import type { Members } from '../../ensemble/members.js';
import { MethodsAccumulator } from '../../evaluate/methods.js';
import { MASK_SCHEME } from '../../engine/masks.js';
import { onnxruntimeVersion } from '../../engine/runtime.js';
import { invalidParameter, param, UsageError } from '../../errors.js';
import { fileIdentity } from '../../io/targets.js';
import type { Truth } from '../../evaluate/truth.js';
import type { PreprocessSpec } from '../../preprocess/spec.js';
import { summarize } from '../../stats/aggregate.js';
import type { RunHooks } from '../hooks.js';
import { isMapModel } from '../segment/model-kind.js';
import { labeledPasses, labeledPassOptions, openLabeledRun, type LabeledRunConfig } from '../labeled-run.js';
import type { EvaluationReport } from './file.js';
import { gatherOodImages, OodScores } from './ood.js';
import { calibrationToCheck, EvaluationBuilder, type CheckedCalibration } from './report.js';

/** An evaluate run over labeled images (the T curve runs up to `passes`). */
export interface EvaluateRunConfig extends LabeledRunConfig {
  /** Refuse when no image has a true class (evaluate); report goes on without metrics. */
  requireTruth: boolean;
  /** A calibration file (calibrate wrote it for this model and preprocessing): calibrated metrics and set coverage beside the rest. */
  calibration?: string;
  /** Images from outside the model's classes (files or folders): how well each uncertainty score flags them. */
  ood?: string[];
  version: string;
}

/**
 * Runs the model over the inputs: T passes and one deterministic pass per image. When
 * `hooks.signal` aborts, stops after the image in hand and throws its reason (no report).
 */
export async function runEvaluation(config: EvaluateRunConfig, hooks: RunHooks = {}): Promise<EvaluationReport> {
  const started = new Date();
  const warn = hooks.onWarning ?? (() => {});
  if (!(Number.isInteger(config.passes) && config.passes >= 1)) throw invalidParameter('passes', 'an integer >= 1', config.passes);
  if (await isMapModel(config.members?.[0] ?? config.model, config.load.output))
    throw new UsageError(`${config.model} is a segmentation model: evaluate its maps against truth masks (class-index PNGs) with ${param('masks')}`);
  // before the model loads: a bad OOD path is a usage error now, not an evaluation without its section
  const oodFiles = config.ood ? await gatherOodImages(config.ood, config.outputs) : undefined;
  const run = await openLabeledRun(config, warn, config.requireTruth);
  const { members, model, identity, walked, labels, truth, seed, preprocess, ensemble } = run;
  try {
    const { info } = model;
    if (oodFiles) refuseOverlap(walked.files, oodFiles.files);
    const calibration = config.calibration !== undefined ? checkedCalibration(config, members, identity, preprocess, warn) : undefined;
    const builder = new EvaluationBuilder(
      info.classes,
      ensemble ? ensemble.passes : config.passes,
      true,
      calibration,
      ensemble && { rowsPerPass: members.list.length * ensemble.views.length, methods: methodsOf(members, ensemble.views.length, ensemble.passes) },
    );
    const scores = new OodScores();
    const passes = (files: string[], known: { errors: ReadonlyMap<string, string>; sizes: readonly number[] }) =>
      labeledPasses(run, files, {
        ...labeledPassOptions(config, seed, preprocess, known),
        withDeterministic: true,
        logitScores: oodFiles !== undefined,
        keepMembers: ensemble !== undefined,
      });
    hooks.onStart?.(walked.files.length + (oodFiles?.files.length ?? 0));
    const gathered: Gathered = { builder, scores, classes: info.classes, warn, hooks };
    await evaluateImages(passes(walked.files, walked), truth, gathered);
    if (oodFiles) await scoreOodImages(passes(oodFiles.files, oodFiles), gathered);
    const header = {
      source: { kind: 'run' as const },
      model: { path: members.single ? config.model : 'ensemble', sha256: identity.sha256, classes: info.classes },
      ...(ensemble && { members: members.asGiven.map((m) => ({ path: m.path, sha256: m.model.info.sha256, dropout: m.stochastic })) }),
      passes: ensemble ? ensemble.passes : config.passes,
      seed,
      mask_scheme: MASK_SCHEME,
      provider: info.provider,
      onnxruntime: onnxruntimeVersion(),
      started: started.toISOString(),
      seconds: (Date.now() - started.getTime()) / 1000,
      labels,
    };
    return builder.report(config.version, header, { images: walked.files.length, skipped: walked.skipped.length }, oodFiles && scores.section());
  } finally {
    await members.dispose();
  }
}

/** The methods an ensemble's evaluation compares, its members named by their files (as given). */
function methodsOf(members: Members, views: number, passes: number): MethodsAccumulator {
  const named = members.list.map((m) => ({ name: m.path, stochastic: m.stochastic }));
  const display = members.asGiven.map((m) => members.list.indexOf(m));
  return new MethodsAccumulator(members.classes, named, display, views, passes);
}

/** Refuses OOD images that are also evaluated images: scored against themselves, every AUROC would say nothing (0.5). */
function refuseOverlap(evaluated: readonly string[], ood: readonly string[]): void {
  const ids = new Map(evaluated.map((f) => [fileIdentity(f) ?? path.resolve(f), f]));
  const both = ood.find((f) => ids.has(fileIdentity(f) ?? path.resolve(f)));
  if (both !== undefined)
    throw new UsageError(
      `${both} is an out-of-distribution image (${param('ood')}) and also an evaluated image (${ids.get(fileIdentity(both) ?? path.resolve(both))}): give OOD images from outside the model's classes, apart from the evaluated ones`,
    );
}

/** The calibration, refused for another model, preprocessing or a deterministic run, and warned of at other passes. */
function checkedCalibration(
  config: EvaluateRunConfig,
  members: Members,
  identity: { sha256: string; name: string },
  preprocess: PreprocessSpec,
  warn: (message: string) => void,
): CheckedCalibration {
  const { info } = members.list[0]!.model;
  const checked = calibrationToCheck(config.calibration!, warn);
  const { calibration } = checked;
  checkCalibrationFits(calibration, config.calibration!, { path: identity.name, sha256: identity.sha256, classes: info.classes }, preprocess);
  checkCalibrationRun(
    calibration,
    config.calibration!,
    { passes: config.passes, deterministic: false, dropoutRates: maskRates(info), dropoutRate: config.load.dropoutRate },
    warn,
  );
  return checked;
}

type Results = ReturnType<typeof labeledPasses>;

/** Where an evaluation's images go: the report, the OOD comparison's scores, and the run's hooks. */
interface Gathered {
  builder: EvaluationBuilder;
  scores: OodScores;
  classes: number;
  warn: (message: string) => void;
  hooks: RunHooks;
}

/** The evaluated images: each one's passes into the report, its scores kept for the OOD comparison. */
async function evaluateImages(results: Results, truth: Truth, { builder, scores, classes, warn, hooks }: Gathered): Promise<void> {
  for await (const result of results) {
    if (result.status === 'error') {
      builder.failed++;
      warn(`${result.file}: ${result.error} (left out)`);
    } else {
      const deterministic = summarize(result.deterministicProbs!, classes);
      scores.add('id', result.summary, deterministic, result.logitScores);
      const label = truth.get(path.resolve(result.file));
      builder.addPasses(result.file, label, result.passProbs!, result.summary, {
        deterministic: { probs: result.deterministicProbs!, summary: deterministic },
      });
      if (result.members)
        builder.addMembers(
          result.members.map((m) => ({ passes: m.passes, deterministic: m.deterministic! })),
          label,
        );
      if (result.parts) builder.addParts(result.summary, result.parts);
    }
    hooks.onProgress?.(builder.recorded + builder.failed, builder.failed);
    hooks.signal?.throwIfAborted();
  }
}

/** The OOD images: their scores only; a failed one is counted (the run then exits as with failed images). */
async function scoreOodImages(results: Results, { builder, scores, classes, warn, hooks }: Gathered): Promise<void> {
  for await (const result of results) {
    if (result.status === 'error') {
      scores.oodFailed++;
      warn(`${result.file}: ${result.error} (left out)`);
    } else scores.add('ood', result.summary, summarize(result.deterministicProbs!, classes), result.logitScores);
    const failed = builder.failed + scores.oodFailed;
    hooks.onProgress?.(builder.recorded + builder.failed + scores.ood.length + scores.oodFailed, failed);
    hooks.signal?.throwIfAborted();
  }
}
