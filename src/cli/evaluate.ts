import { existsSync, statSync } from 'node:fs';
import { UsageError } from '../errors.js';
import { CURVE_HEADER, curveRows, metricRows, metricTable, METHOD_HEADER, methodRows, passesLabel, textTable } from '../evaluate/table.js';
import { writeFileAtomicSync, writeToStream } from '../io/durable.js';
import { outputIdentities, outputTarget, type OutputTarget } from '../io/targets.js';
import { renderEvaluationFigures, writeFigures } from '../plots/figures.js';
import { buildReportHtml } from '../report/build.js';
import { buildMapReportHtml } from '../report/segmentation.js';
import { evaluationJson, type EvaluationReport } from '../run/evaluate/file.js';
import { evaluationFromFile } from '../run/evaluate/from-file.js';
import { runEvaluation } from '../run/evaluate/run.js';
import type { RunHooks } from '../run/hooks.js';
import { type MapEvaluationReport, runMapEvaluation } from '../run/segment/evaluate.js';
import { mapMetricRows, classRows, CLASS_HEADER } from '../segmentation/table.js';
import { UNCERTAINTY, UNCERTAINTY_SCORES } from '../stats/uncertainty.js';
import { EXIT } from './exit-codes.js';
import { cliHooks } from './progress.js';
import { catchStopSignals } from './stop-signals.js';
import { labeledRunConfig, modelsOf, type RunCliOptions } from './run-options.js';

/** Typed options of `evaluate` and `report`. */
export interface EvaluateCliOptions extends RunCliOptions {
  times: number;
  truth?: string;
  from?: string;
  json?: string;
  plots?: string;
  /** report: the HTML file. */
  output?: string;
  calibration?: string;
  ood?: string[];
  /** -m was given (not the default): with --from, its labels name the classes. */
  modelGiven?: boolean;
  /** Segmentation: the truth masks' folder, and the truth value left out. */
  masks?: string;
  ignoreIndex?: number;
}

/** Either report: a classifier's, or a segmentation model's (--masks). */
type AnyReport = EvaluationReport | MapEvaluationReport;

/** The evaluation: a run of the model, or a read of an earlier file (--from); the exit status instead when a stop signal ended the run. */
async function evaluation(
  command: 'evaluate' | 'report',
  paths: string[],
  options: EvaluateCliOptions,
  version: string,
  outputs: (OutputTarget | undefined)[],
): Promise<AnyReport | number> {
  const stops = catchStopSignals();
  const note = `${command} writes its output only once every image is done, so nothing was written: rerun the same command`;
  try {
    const report = await evaluationOrThrow(command, paths, options, version, outputs, stops.hooks);
    // a signal during a read that does not stop (--from) still ends the command before it writes
    return stops.stoppedBy() ? stops.stopped(note) : report;
  } catch (error) {
    if (!stops.stoppedBy()) throw error;
    return stops.stopped(note);
  } finally {
    stops.release();
  }
}

/** The evaluation, its run hooks passed through `withStops` (the stop signal and the count of images done). */
async function evaluationOrThrow(
  command: 'evaluate' | 'report',
  paths: string[],
  options: EvaluateCliOptions,
  version: string,
  outputs: (OutputTarget | undefined)[],
  withStops: (hooks: RunHooks) => RunHooks,
): Promise<AnyReport> {
  const requireTruth = command === 'evaluate';
  // what this command writes: the library refuses any of its inputs that is one of them
  const written = outputIdentities(outputs);
  const { hooks, stop } = cliHooks(command, options);
  try {
    if (options.masks !== undefined) return await mapEvaluation(paths, options, version, written, withStops(hooks));
    if (options.from !== undefined) {
      if (paths.length > 0 || options.list || options.list0) throw new UsageError('Give images to run, or --from an earlier file, not both');
      if (options.ood !== undefined) throw new UsageError('--ood runs the model on the OOD images: give the in-distribution images too, not --from');
      if (modelsOf(options).length > 1)
        throw new UsageError('--from reads an earlier run: give it no ensemble (at most one -m, for its labels, and no --members)');
      return await evaluationFromFile(
        {
          from: options.from,
          requireTruth,
          ...(options.calibration !== undefined && { calibration: options.calibration }),
          version,
          ...(options.labels && { labelsFile: options.labels }),
          ...(options.truth && { truthFile: options.truth }),
          // the default model names no labels of a user's run: only a model given explicitly does
          ...(options.modelGiven && { model: modelsOf(options)[0]! }),
          outputs: written,
        },
        hooks,
      );
    }
    return await runEvaluation(
      {
        ...labeledRunConfig(paths, options),
        outputs: written,
        requireTruth,
        ...(options.calibration !== undefined && { calibration: options.calibration }),
        ...(options.ood !== undefined && { ood: options.ood }),
        version,
      },
      withStops(hooks),
    );
  } finally {
    stop();
  }
}

/** A segmentation model's evaluation against its masks; the settings that do not apply are refused. */
async function mapEvaluation(
  paths: string[],
  options: EvaluateCliOptions,
  version: string,
  written: ReadonlyMap<string, string>,
  hooks: RunHooks,
): Promise<MapEvaluationReport> {
  for (const [flag, given] of [
    ['--from', options.from],
    ['--truth', options.truth],
    ['--calibration', options.calibration],
    ['--ood', options.ood],
    ['--plots', options.plots],
    ['--tta', options.tta],
  ] as const)
    if (given !== undefined) throw new UsageError(`${flag} does not apply to a segmentation model's evaluation against --masks`);
  if (modelsOf(options).length > 1) throw new UsageError('--masks evaluates one segmentation model: give one -m');
  const { truthFile: _truth, members: _members, membersFiles: _files, views: _views, ...config } = labeledRunConfig(paths, options);
  return runMapEvaluation(
    { ...config, masks: options.masks!, ...(options.ignoreIndex !== undefined && { ignoreIndex: options.ignoreIndex }), outputs: written, version },
    hooks,
  );
}

/** A segmentation model's metrics as evaluate prints them. */
function mapEvaluationText(report: MapEvaluationReport): string {
  const c = report.counts;
  return `${[
    `${c.evaluated} images evaluated against their masks${c.without_mask ? ` (${c.without_mask} without a mask, left out)` : ''}${c.failed ? `, ${c.failed} failed` : ''}; ${report.mc.pixels} pixels${report.mc.ignored ? ` (${report.mc.ignored} ignored)` : ''}; T=${report.passes}, seed ${report.seed}`,
    '',
    textTable(
      ['metric', 'dropout off', `MC T=${report.passes}`],
      mapMetricRows(report.deterministic, report.mc).map((r) => [r.metric, r.deterministic, r.mc]),
    ),
    '',
    textTable(CLASS_HEADER, classRows(report.labels, report.deterministic, report.mc)),
  ].join('\n')}\n`;
}

/** The JSON of a segmentation evaluation: its maps' PNGs as base64. */
function mapEvaluationJson(report: MapEvaluationReport): string {
  const shown = report.shown.map((s) => ({
    ...s,
    label_png: s.label_png.toString('base64'),
    entropy_png: s.entropy_png.toString('base64'),
    truth_png: s.truth_png.toString('base64'),
  }));
  return `${JSON.stringify({ ...report, shown }, null, 2)}\n`;
}

/** The tables as evaluate prints them. */
function evaluationText(report: EvaluationReport): string {
  const c = report.counts;
  const lines = [
    `${c.labeled} labeled images${c.unlabeled ? ` (${c.unlabeled} without a true class, left out)` : ''}${c.failed ? `, ${c.failed} failed` : ''}; T=${passesLabel(report.passes)}${report.seed !== undefined ? `, seed ${report.seed}` : ''}`,
  ];
  const numbers = report.numbers!;
  if (numbers.methods) lines.push('', 'By method:', textTable(METHOD_HEADER, methodRows(numbers)));
  const d = report.decomposition;
  if (d)
    lines.push(
      '',
      `The uncertainty split (mean over ${d.images} images, nats): total entropy ${d.total_entropy.toFixed(4)} = expected entropy ${d.expected_entropy.toFixed(4)} + mutual information ${d.mutual_information.toFixed(4)}`,
      `  mutual information = between members ${d.between_members.toFixed(4)} + between views ${d.between_views.toFixed(4)} + within members (MC dropout) ${d.within_passes.toFixed(4)}; member disagreement ${d.member_disagreement.toFixed(4)}`,
    );
  lines.push(
    '',
    textTable(
      ['metric', 'deterministic', `MC T=${passesLabel(numbers.passes)}`],
      metricRows(numbers).map((r) => [r.metric, r.deterministic, r.mc]),
    ),
  );
  const curve = curveRows(numbers);
  if (curve.length > 0) lines.push('', 'With the first T passes:', textTable(CURVE_HEADER, curve));
  if (report.calibration) lines.push('', ...calibrationText(report, numbers));
  if (report.ood) lines.push('', ...oodText(report.ood));
  return `${lines.join('\n')}\n`;
}

const pct = (v: number | null): string => (v === null ? '-' : `${(100 * v).toFixed(2)}%`);

/** The calibrated metrics beside the uncalibrated, and how the prediction sets did. */
function calibrationText(report: EvaluationReport, numbers: NonNullable<EvaluationReport['numbers']>): string[] {
  const c = report.calibration!;
  const onePass = numbers.passes === 1;
  const sets = c.sets;
  return [
    `Calibrated (${c.file}: temperature ${c.temperature.toFixed(4)}, ${c.score.toUpperCase()} sets at alpha ${c.alpha}${c.classConditional ? ', per class' : ''}):`,
    textTable(
      ['metric', `MC T=${passesLabel(numbers.passes)}`, 'calibrated'],
      metricTable([
        { metrics: numbers.mc, onePass },
        { metrics: c.metrics, onePass },
      ]),
    ),
    '',
    `Prediction sets: coverage ${pct(sets.coverage)} (guaranteed at least ${pct(1 - c.alpha)} on images exchangeable with the calibration set), mean size ${sets.meanSize.toFixed(3)}, median ${sets.medianSize}, ${sets.empty} empty`,
    textTable(
      ['set size', 'images', 'coverage'],
      sets.bySize.map((b) => [String(b.size), String(b.images), pct(b.coverage)]),
    ),
    '',
    textTable(
      ['class', 'images', 'coverage', 'mean size'],
      sets.byClass.map((b) => [
        report.labels[b.classIndex] ?? String(b.classIndex),
        String(b.images),
        pct(b.coverage),
        b.meanSize === null ? '-' : b.meanSize.toFixed(3),
      ]),
    ),
  ];
}

const SCORE_TITLES: Record<string, string> = {
  ...Object.fromEntries(UNCERTAINTY_SCORES.map((score) => [score, UNCERTAINTY[score].title])),
  max_logit: '- max logit',
  energy: 'energy',
};

/** Each score's OOD metrics, MC beside deterministic. */
function oodText(ood: NonNullable<EvaluationReport['ood']>): string[] {
  const four = (m: { auroc: number; auprIn: number; auprOut: number; fpr95: number } | null) =>
    m === null ? ['-', '-', '-', '-'] : [m.auroc, m.auprIn, m.auprOut, m.fpr95].map((v) => v.toFixed(4));
  if (ood.scores.length === 0)
    return [
      `Out of distribution: ${ood.images} images${ood.failed ? ` (${ood.failed} failed)` : ''}; no OOD metrics: they need OOD and evaluated images that ran`,
    ];
  return [
    `Out of distribution: ${ood.images} images${ood.failed ? ` (${ood.failed} failed)` : ''}; OOD is positive, higher score = more likely OOD:`,
    textTable(
      ['score', 'AUROC', 'AUPR-In', 'AUPR-Out', 'FPR95', 'det. AUROC', 'det. AUPR-In', 'det. AUPR-Out', 'det. FPR95'],
      ood.scores.map((r) => [SCORE_TITLES[r.score] ?? r.score, ...four(r.mc), ...four(r.deterministic)]),
    ),
  ];
}

/** Exit 1 when an image failed, evaluated or OOD (each is named in a warning and left out), else 0. */
function evaluationExit(report: AnyReport): number {
  if ('kind' in report) return report.counts.failed > 0 ? EXIT.partial : EXIT.ok;
  return report.counts.failed > 0 || (report.ood?.failed ?? 0) > 0 ? EXIT.partial : EXIT.ok;
}

/** `mc-dropout evaluate`: metrics on stdout, optionally JSON and figures. */
export async function runEvaluate(paths: string[], options: EvaluateCliOptions, version: string): Promise<number> {
  // the figures' folder is checked before the run, not found wanting after it
  if (options.plots !== undefined && existsSync(options.plots) && !statSync(options.plots).isDirectory())
    throw new UsageError(`--plots ${options.plots} is not a folder: give a folder for the figures (it is made if missing)`);
  const json = options.json !== undefined ? outputTarget(options.json, 'the JSON file') : undefined;
  const report = await evaluation('evaluate', paths, options, version, [json]);
  if (typeof report === 'number') return report;
  if ('kind' in report) {
    const text = mapEvaluationJson(report);
    process.stdout.write(json?.kind === 'stdout' ? text : mapEvaluationText(report));
    if (json?.kind === 'file') writeFileAtomicSync(json.file, text);
    if (json?.kind === 'stream') writeToStream(json.path, text);
    return evaluationExit(report);
  }
  // --json - puts the JSON on stdout instead of the table
  const text = evaluationJson(report);
  if (json?.kind === 'stdout') process.stdout.write(text);
  else process.stdout.write(evaluationText(report));
  if (json?.kind === 'file') writeFileAtomicSync(json.file, text);
  if (json?.kind === 'stream') writeToStream(json.path, text);
  if (options.plots !== undefined) {
    const written = await writeFigures(await renderEvaluationFigures(report), options.plots);
    if (!options.quiet) process.stderr.write(`mc-dropout: wrote ${written.length} figure files to ${options.plots}\n`);
  }
  return evaluationExit(report);
}

/** `mc-dropout report`: one self-contained HTML page. */
export async function runReport(paths: string[], options: EvaluateCliOptions, version: string): Promise<number> {
  const target = outputTarget(options.output, 'the report');
  if (target.kind !== 'file') throw new UsageError(`The report ${options.output} must be a regular file`);
  const report = await evaluation('report', paths, options, version, [target]);
  if (typeof report === 'number') return report;
  if ('kind' in report) {
    writeFileAtomicSync(target.file, await buildMapReportHtml(report));
    if (!options.quiet) process.stderr.write(`mc-dropout: wrote ${options.output} (${report.counts.evaluated} images against their masks)\n`);
    return evaluationExit(report);
  }
  const html = await buildReportHtml(report);
  writeFileAtomicSync(target.file, html);
  if (!options.quiet)
    process.stderr.write(
      `mc-dropout: wrote ${options.output} (${report.counts.images} images${report.numbers ? `, ${report.counts.labeled} with a true class` : ', no true classes: no metrics'})\n`,
    );
  return evaluationExit(report);
}
