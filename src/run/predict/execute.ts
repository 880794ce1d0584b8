/**
 * A predict run, executed: its plan (plan.ts) first, then the inputs, the lock, the model, what
 * the run resolves before its first image, its output opened (resume prepared), one row per image,
 * and the metadata of a finished run. The CLI turns its flags into a PredictRunConfig and calls
 * runPrediction; later readers of runs (merge, evaluate) read the metadata it writes.
 */
import { calibrationWarnings, checkCalibrationFits, type Calibration } from '../../calibration/calibration.js';
import { maskRates } from '../../engine/mc-model.js';
import { Members } from '../../ensemble/members.js';
import { runName, runViews, viewNames } from '../../ensemble/views.js';
import { freshSeed } from '../../stats/random.js';
import { OutputLock } from '../../io/lock.js';
import { csvName } from '../../io/names.js';
import type { NpyPassesWriter } from '../../io/npy.js';
import { earlierSeed } from '../../io/resume.js';
import { csvHeader } from '../../io/rows.js';
import { RunOutput } from '../../io/run-output.js';
import { checkInputsAreNotOutputs, fileIdentity } from '../../io/targets.js';
import { predictFiles } from '../../pipeline.js';
import { preprocessRecord } from '../../preprocess/record.js';
import { DEFAULT_ADAPTIVE_RULE } from '../../stats/adaptive.js';
import { stringify } from '../../io/csv.js';
import path from 'node:path';
import type { RunHooks } from '../hooks.js';
import { gatherInputs } from '../inputs.js';
import { refuseCsvNameClash } from './csv-names.js';
import { labelsFor, labelsFromModel } from '../labels.js';
import { derivedSeed, shardBlock, type InputBlock } from '../shards.js';
import type { PredictRunConfig, RunOutcome } from './config.js';
import { planPrediction, type PredictPlan } from './plan.js';
import { isMapModel } from '../segment/model-kind.js';
import { passStatistics, rowLine, rowShape, runMetadata, runSettings, upgradedRunSettings, type ResolvedRun } from './records.js';

/**
 * Runs predict: validates every output before reading any image, then writes one row per image.
 * What only some runs need (segmentation maps, a calibration, ensembles, saved passes) is imported
 * when a run needs it, so a plain run starts sooner (#38).
 */
export async function runPrediction(config: PredictRunConfig, hooks: RunHooks = {}): Promise<RunOutcome> {
  if (await isMapModel(config.members?.[0] ?? config.model, config.load.output)) {
    const { runMapPrediction } = await import('../segment/execute.js');
    return runMapPrediction(config, hooks);
  }
  const started = new Date();
  const warn = hooks.onWarning ?? (() => {});
  const plan = planPrediction(config);
  // a calibration that cannot be used is refused before any image is read
  const calibrationFile =
    config.calibration !== undefined ? (await import('../../calibration/calibration-file.js')).readCalibrationFile(config.calibration) : undefined;
  const { walked } = await gatherInputs(config.paths, config.list, plan.forbidden, { allowEmpty: config.allowEmpty, warn });
  const block = shardBlock(config.shard, walked);
  if (config.format === 'csv') refuseCsvNameClash(walked.files);

  // a second run on the same output refuses now, before any work
  const lock = plan.output.kind === 'file' ? OutputLock.acquire(plan.output.file, plan.output.name) : undefined;
  let members: Members;
  try {
    members = await Members.load(config.members ?? [config.model], { ...config.load, onWarning: warn }, config.preprocess);
  } catch (error) {
    lock?.release();
    throw error;
  }
  // the lead member: the model of a plain run; an ensemble's first in the order of their digests
  const model = members.list[0]!.model;
  try {
    const run = await resolveRun(config, plan, members, calibrationFile, block, warn);
    const settings = runSettings(config, model, run);
    const sink = RunOutput.open({
      output: plan.output,
      format: config.format,
      resume: config.resume,
      ...(lock && { lock }),
      ...(plan.metaFile && { metaFile: plan.metaFile }),
      header: config.format === 'csv' ? stringify([csvHeader(rowShape(run))]).trimEnd() : undefined,
      settings,
      upgradeSettings: upgradedRunSettings,
    });
    // resume matches rows by path as written (a CSV writes a name that is not UTF-8 escaped), and an
    // image done under another spelling of its path (./a.png, the folder given absolute, a link) by its file
    const doneFiles = new Set([...sink.done].flatMap((p) => fileIdentity(p) ?? []));
    const written = (f: string) => sink.done.has(config.format === 'csv' ? csvName(f) : f) || (doneFiles.size > 0 && doneFiles.has(fileIdentity(f) ?? ''));
    const todo = block.files.filter((f) => !written(f));
    const todoSizes = block.sizes.filter((_, i) => !written(block.files[i]!));
    const passesFile = plan.passes
      ? (await import('../../io/npy.js')).NpyPassesWriter.open(plan.passes.file, todo.length, rowsPerImage(run, members), model.info.classes)
      : undefined;
    hooks.onStart?.(todo.length);
    let rows: WrittenRows;
    try {
      rows = await writeRows(config, members, run, { files: todo, sizes: todoSizes, errors: walked.errors }, (line) => sink.write(line), passesFile, hooks);
    } catch (error) {
      sink.close();
      passesFile?.finish();
      throw error;
    }
    const { info } = model;
    passesFile?.finish({
      model_sha256: run.modelSha256,
      classes: info.classes,
      labels: run.labels,
      preprocess: preprocessRecord(run.preprocess),
      passes: run.ensemble ? run.ensemble.passes : run.passes,
      seed: run.seed,
      dropout_rates: maskRates(info),
      ...(run.ensemble && passesLayout(run.ensemble)),
    });
    const finished = new Date();
    const outcome: RunOutcome = {
      ok: rows.ok,
      failed: rows.failed,
      skipped: walked.skipped.length,
      todo: todo.length,
      seconds: (finished.getTime() - started.getTime()) / 1000,
      seed: run.seed,
      passes: run.passes,
      passStats: passStatistics(rows.passesUsed),
      provider: info.provider,
      trunkReuse: model.plan.trunkReuse,
      stopped: rows.stopped,
      resumable: plan.output.kind === 'file',
      ...(run.ensemble && { ensemble: { members: members.list.length, views: run.ensemble.views.length } }),
    };
    if (rows.stopped) {
      sink.close();
      return outcome;
    }
    const inputs = block.files.length;
    const counts = { inputs, already_done: inputs - todo.length, ok: rows.ok, failed: rows.failed, skipped_non_images: walked.skipped.length };
    sink.finish(runMetadata(config, model, run, { started, finished, passesUsed: rows.passesUsed, counts, settings }), plan.meta);
    return outcome;
  } finally {
    lock?.release();
    await members.dispose();
  }
}

/** What the run settles once the model is loaded: labels, preprocessing, the calibration's fit, top-k, T, the seed, the ensemble. */
async function resolveRun(
  config: PredictRunConfig,
  plan: PredictPlan,
  members: Members,
  calibrationFile: { calibration: Calibration; sha256: string } | undefined,
  block: InputBlock,
  warn: (message: string) => void,
): Promise<ResolvedRun> {
  const { info } = members.list[0]!.model;
  const { classes } = members;
  for (const member of members.list)
    checkInputsAreNotOutputs(
      member.model.info.externalFiles.map((file) => ({ role: "the model's external weights", path: path.resolve(path.dirname(member.path), file) })),
      plan.forbidden,
    );

  const labels = config.labelsFile
    ? labelsFor(config.labelsFile, classes, warn)
    : labelsFromModel(members.labels, classes, members.single ? config.model : 'the ensemble', warn);
  const preprocess = members.list[0]!.preprocess;
  const views = runViews(config.views, members, warn);
  const modelSha256 = members.identity(viewNames(views));
  const modelName = runName(members.single ? config.model : 'the ensemble', views);
  const calibration = calibrationFile?.calibration;
  if (calibration) {
    checkCalibrationFits(calibration, config.calibration!, { path: modelName, sha256: modelSha256, classes }, preprocess);
    const { checkCalibrationRun } = await import('../../calibration/fit-check.js');
    checkCalibrationRun(
      calibration,
      config.calibration!,
      { passes: config.passes, deterministic: config.deterministic, dropoutRates: maskRates(info), dropoutRate: config.load.dropoutRate },
      warn,
    );
    for (const warning of calibrationWarnings(calibration)) warn(`${config.calibration}: ${warning}`);
  }
  if (config.topk > classes) warn(`top-k ${config.topk} is more than the model's ${classes} classes: rows list all ${classes}`);
  const rule = config.passes === 'auto' && !config.deterministic ? (config.adaptive ?? DEFAULT_ADAPTIVE_RULE) : undefined;
  // the seed: given, else the earlier run's when resuming, else a fresh one (recorded in the metadata)
  const seed =
    config.seed ??
    (config.resume && plan.output.kind === 'file' ? earlierSeed(plan.output.file, plan.metaFile) : undefined) ??
    (block.shard ? derivedSeed(block.shard.listHash, modelSha256) : freshSeed());
  const passes = config.deterministic ? 1 : rule ? 'auto' : config.passes;
  return {
    labels,
    preprocess,
    topk: Math.min(config.topk, classes),
    rule,
    passes,
    seed,
    calibration,
    calibrationSha256: calibrationFile?.sha256,
    modelSha256,
    ...(config.shard && block.shard && { shard: { shard: config.shard, ...block.shard } }),
    ...((!members.single || views.length > 1) && {
      ensemble: { members, views, passes: members.stochastic && typeof passes === 'number' ? passes : 1 },
    }),
  };
}

/** Rows per image in the passes file: T, the adaptive rule's most, or an ensemble's T x members x views. */
function rowsPerImage(run: ResolvedRun, members: Members): number {
  if (run.ensemble) return run.ensemble.passes * members.list.length * run.ensemble.views.length;
  return run.rule ? run.rule.maxPasses : (run.passes as number);
}

/** How an ensemble's passes file lays out each image's rows: pass-major over the members (in this order) and the views. */
function passesLayout(ensemble: NonNullable<ResolvedRun['ensemble']>): Record<string, unknown> {
  return {
    members: ensemble.members.list.map((m) => ({ path: m.path, sha256: m.model.info.sha256, passes: m.stochastic ? ensemble.passes : 1 })),
    views: viewNames(ensemble.views),
    row_order: 'pass, member, view',
  };
}

/** What the rows loop did: images ok and failed, the passes each used, and whether the signal stopped it. */
interface WrittenRows {
  ok: number;
  failed: number;
  passesUsed: number[];
  stopped: boolean;
}

/** Runs the model over the images to do and writes one line per image (and its passes, when saved), in input order. */
async function writeRows(
  config: PredictRunConfig,
  members: Members,
  run: ResolvedRun,
  images: { files: string[]; sizes: number[]; errors: ReadonlyMap<string, string> },
  write: (line: string) => void,
  passesFile: NpyPassesWriter | undefined,
  hooks: RunHooks,
): Promise<WrittenRows> {
  const rows: WrittenRows = { ok: 0, failed: 0, passesUsed: [], stopped: false };
  const options = {
    passes: typeof run.passes === 'number' ? run.passes : 0,
    seed: run.seed,
    deterministic: config.deterministic,
    batchSize: config.batchSize,
    decodeConcurrency: config.decodeConcurrency,
    ...(config.decodePixelBudget !== undefined && { decodePixelBudget: config.decodePixelBudget }),
    preprocess: run.preprocess,
    knownErrors: images.errors,
    fileSizes: images.sizes,
    keepPasses: passesFile !== undefined || run.calibration !== undefined,
  };
  const results = run.ensemble
    ? (await import('../../ensemble/predict-files.js')).predictEnsembleFiles(members, images.files, { ...options, views: run.ensemble.views })
    : predictFiles(members.list[0]!.model, images.files, { ...options, ...(run.rule && { adaptive: run.rule }) });
  for await (const result of results) {
    if (result.status === 'ok') {
      rows.ok++;
      rows.passesUsed.push(result.summary.passes);
    } else rows.failed++;
    passesFile?.write(result.file, result.status === 'ok' ? result.passProbs : undefined);
    write(rowLine(config, run, result));
    hooks.onProgress?.(rows.ok + rows.failed, rows.failed);
    if (hooks.signal?.aborted) {
      rows.stopped = true;
      break;
    }
  }
  return rows;
}
