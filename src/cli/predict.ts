import { UsageError } from '../errors.js';
import type { PredictRunConfig } from '../run/predict/config.js';
import { runPrediction } from '../run/predict/execute.js';
import { parseShard, shardFromEnvironment } from '../run/shards.js';
import { DEFAULT_ADAPTIVE_RULE } from '../stats/adaptive.js';
import { EXIT } from './exit-codes.js';
import { cliHooks } from './progress.js';
import { catchStopSignals } from './stop-signals.js';
import { loadOptions, modelConfig, pathList, preprocessOverrides, viewsConfig, type RunCliOptions } from './run-options.js';

/** Typed options of `predict`, as commander hands them over after parsing. */
export interface PredictCliOptions extends RunCliOptions {
  times: number | 'auto';
  minTimes: number;
  maxTimes: number;
  tolerance: number;
  topk: number;
  spreadsheetSafe?: boolean;
  output?: string;
  format: 'csv' | 'jsonl';
  meta?: string;
  resume?: boolean;
  perClass?: boolean;
  deterministic?: boolean;
  allowEmpty?: boolean;
  shard?: string;
  shardCount?: number;
  savePasses?: string;
  calibration?: string;
  mapSize: 'model' | 'original';
  overlay?: boolean;
  uncertainAbove: number;
}

/** Runs `predict`; returns the exit code (0 all ok, 1 some images failed, 129/130/143 stopped by a signal). */
export async function runPredict(paths: string[], options: PredictCliOptions, version: string): Promise<number> {
  if (options.times === 'auto' && options.maxTimes < options.minTimes)
    throw new UsageError(`--max-times ${options.maxTimes} is below --min-times ${options.minTimes}`);
  const config: PredictRunConfig = {
    paths,
    ...pathList(options),
    allowEmpty: options.allowEmpty ?? false,
    ...(options.shard !== undefined && { shard: options.shard === 'auto' ? shardFromEnvironment(process.env, options.shardCount) : parseShard(options.shard) }),
    ...modelConfig(options),
    ...viewsConfig(options),
    load: loadOptions(options, options.deterministic ?? false),
    passes: options.times,
    ...(options.times === 'auto' && {
      adaptive: { minPasses: options.minTimes, maxPasses: options.maxTimes, tolerance: options.tolerance, z: DEFAULT_ADAPTIVE_RULE.z },
    }),
    ...(options.seed !== undefined && { seed: options.seed }),
    deterministic: options.deterministic ?? false,
    batchSize: options.batchSize,
    decodeConcurrency: options.decodeConcurrency,
    decodePixelBudget: options.decodeMegapixels * 1_000_000,
    preprocess: preprocessOverrides(options),
    ...(options.labels && { labelsFile: options.labels }),
    topk: options.topk,
    perClass: options.perClass ?? false,
    format: options.format,
    ...(options.output !== undefined && { output: options.output }),
    ...(options.meta !== undefined && { meta: options.meta }),
    ...(options.savePasses !== undefined && { savePasses: options.savePasses }),
    resume: options.resume ?? false,
    spreadsheetSafe: options.spreadsheetSafe ?? false,
    ...(options.calibration !== undefined && { calibration: options.calibration }),
    maps: { size: options.mapSize, overlay: options.overlay ?? false, uncertainAbove: options.uncertainAbove },
    version,
  };

  // SIGINT, SIGTERM, SIGHUP: finish the image in hand, keep every finished row, say how to resume.
  // A second signal stops at once (rows are written one write() each, so none is half written).
  const stops = catchStopSignals();
  const progress = cliHooks('predict', options);
  try {
    const outcome = await runPrediction(config, { ...progress.hooks, signal: stops.signal });
    progress.stop();
    const stoppedBy = stops.stoppedBy();
    if (outcome.stopped && stoppedBy) {
      process.stderr.write(
        `mc-dropout: stopped by ${stoppedBy[0]} after ${outcome.ok + outcome.failed} of ${outcome.todo} images; finished rows are saved${outcome.resumable ? '; rerun the same command with --resume to finish' : ''}\n`,
      );
      return stoppedBy[1];
    }
    if (!options.quiet) {
      const rate = (outcome.ok + outcome.failed) / Math.max(outcome.seconds, 1e-3);
      process.stderr.write(
        `mc-dropout: ${outcome.ok} ok, ${outcome.failed} failed${outcome.skipped ? `, ${outcome.skipped} non-image files skipped` : ''} in ${outcome.seconds.toFixed(1)}s (${rate.toFixed(1)} images/s), T=${outcome.passes === 'auto' ? `auto (mean ${outcome.passStats.mean.toFixed(1)}, median ${outcome.passStats.median}, max ${outcome.passStats.max})` : outcome.passes}, provider ${outcome.provider}, seed ${outcome.seed}${outcome.trunkReuse ? ', trunk reuse' : ''}${outcome.ensemble ? `, ${outcome.ensemble.members} ${outcome.ensemble.members === 1 ? 'model' : 'members'} x ${outcome.ensemble.views} ${outcome.ensemble.views === 1 ? 'view' : 'views'}` : ''}\n`,
      );
    }
    return outcome.failed > 0 ? EXIT.partial : EXIT.ok;
  } finally {
    progress.stop();
    stops.release();
  }
}
