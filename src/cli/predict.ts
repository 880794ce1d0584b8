import { stringify } from 'csv-stringify/sync';
import { McModel } from '../engine/mc-model.js';
import { freshSeed, MASK_SCHEME } from '../engine/masks.js';
import { onnxruntimeVersion } from '../engine/runtime.js';
import { UsageError } from '../errors.js';
import { csvHeader, csvRecord, jsonRecord } from '../io/rows.js';
import { earlierSeed, RowSink } from '../io/sink.js';
import { readLabels, readLines } from '../io/lines.js';
import { collectInputs } from '../io/walk.js';
import type { ChannelOrder, Interpolation, ResizeMode } from '../model/metadata.js';
import { predictFiles } from '../pipeline.js';
import { resolvePreprocess, type PreprocessOverrides } from '../preprocess/spec.js';
import { createProgress } from './progress.js';

/** Typed options of `predict`, as commander hands them over after parsing. */
export interface PredictCliOptions {
  model: string;
  times: number;
  batchSize: number;
  device: string;
  seed?: number;
  labels?: string;
  topk: number;
  output?: string;
  format: 'csv' | 'jsonl';
  meta?: string;
  resume?: boolean;
  quiet?: boolean;
  progress: boolean;
  perClass?: boolean;
  deterministic?: boolean;
  dropout: 'auto' | 'force';
  dropoutRate?: number;
  threads: number;
  maxRows?: number;
  trunkReuse: 'auto' | 'off';
  list?: string;
  size?: { height: number; width: number };
  resize?: ResizeMode;
  interpolation?: Interpolation;
  cropFraction?: number;
  mean?: number[];
  std?: number[];
  channelOrder?: ChannelOrder;
  alpha: 'remove' | 'flatten';
  background?: [number, number, number];
  maxPixels?: number;
  decodeConcurrency: number;
}

/** Runs `predict`; returns the exit code (0 all ok, 1 some images failed, 130 interrupted). */
export async function runPredict(paths: string[], options: PredictCliOptions, version: string): Promise<number> {
  const started = new Date();
  const inputs = [...paths, ...(options.list ? readLines(options.list, '--list', 'give a file with one path per line, or - for stdin') : [])];
  if (inputs.length === 0) throw new UsageError('No input: pass image files or folders, or --list FILE');
  const { files, skipped } = await collectInputs(inputs);
  const warn = (message: string) => process.stderr.write(`mc-dropout: warning: ${message}\n`);

  const model = await McModel.load(options.model, {
    device: options.device,
    dropout: options.dropout,
    ...(options.dropoutRate !== undefined && { dropoutRate: options.dropoutRate }),
    ...(options.size && { inputSize: options.size }),
    threads: options.threads,
    // decoders share the cores with inference
    idleThreadsSpin: false,
    trunkReuse: options.trunkReuse,
    ...(options.maxRows !== undefined && { maxRowsPerRun: options.maxRows }),
    allowDeterministic: options.deterministic,
    onWarning: warn,
  });
  try {
    const { info } = model;
    const labels = options.labels ? readLabelsFor(options.labels, info.classes) : labelsFromModel(info.metadata.labels, info.classes, options.model, warn);
    const overrides: PreprocessOverrides = {
      alpha: options.alpha,
      ...(options.resize && { resize: options.resize }),
      ...(options.interpolation && { interpolation: options.interpolation }),
      ...(options.cropFraction !== undefined && { cropFraction: options.cropFraction }),
      ...(options.mean && { mean: options.mean }),
      ...(options.std && { std: options.std }),
      ...(options.channelOrder && { channelOrder: options.channelOrder }),
      ...(options.background && { background: options.background }),
      ...(options.maxPixels !== undefined && { pixelLimit: options.maxPixels }),
    };
    const preprocess = resolvePreprocess(info, overrides);
    const topk = Math.min(options.topk, info.classes);
    const passes = options.deterministic ? 1 : options.times;
    // the seed: --seed, else the earlier run's when resuming, else a fresh one (recorded in the metadata)
    const seed = options.seed ?? (options.resume && options.output ? earlierSeed(options.output) : undefined) ?? freshSeed();
    const settings = {
      model_sha256: info.sha256, passes, seed, mask_scheme: MASK_SCHEME, deterministic: options.deterministic ?? false,
      dropout: options.dropout, dropout_rates: info.drawnSites.filter((s) => s.draw.kind === 'mask').map((s) => s.rate), preprocess, format: options.format,
      topk, per_class: options.perClass ?? false, labels,
    };
    const sink = RowSink.open({
      output: options.output, format: options.format, resume: options.resume ?? false,
      header: options.format === 'csv' ? stringify([csvHeader(topk)]).trimEnd() : undefined, settings,
    });
    const todo = files.filter((f) => !sink.done.has(f));

    let interrupted = false;
    const onInterrupt = () => {
      interrupted = true;
    };
    process.once('SIGINT', onInterrupt);
    const progress = createProgress(todo.length, { enabled: !options.quiet && options.progress, tty: Boolean(process.stderr.isTTY) });
    let ok = 0;
    let failed = 0;
    try {
      for await (const result of predictFiles(model, todo, {
        passes, seed, deterministic: options.deterministic ?? false, batchSize: options.batchSize,
        decodeConcurrency: options.decodeConcurrency, preprocess,
      })) {
        if (result.status === 'ok') ok++;
        else failed++;
        sink.write(options.format === 'csv'
          ? stringify([csvRecord(result, labels, topk)]).trimEnd()
          : JSON.stringify(jsonRecord(result, labels, topk, options.perClass ?? false)));
        progress.update(ok + failed, failed);
        if (interrupted) break;
      }
    } finally {
      progress.stop();
      process.removeListener('SIGINT', onInterrupt);
    }
    const finished = new Date();
    const seconds = (finished.getTime() - started.getTime()) / 1000;
    const counts = { inputs: files.length, already_done: files.length - todo.length, ok, failed, skipped_non_images: skipped.length };
    if (interrupted) {
      sink.close();
      if (!options.quiet) process.stderr.write(`mc-dropout: interrupted after ${ok + failed} of ${todo.length} images; finished rows are saved${options.output ? `, rerun with --resume to finish` : ''}\n`);
      return 130;
    }
    sink.finish({
      tool: 'mc-dropout', version, command: 'predict',
      model: { path: options.model, sha256: info.sha256, classes: info.classes, sites: info.drawnSites.map((s) => ({ node: s.site.nodeName, op: s.site.op, draw: s.draw, shape: s.rowShape })) },
      trunk_reuse: { applied: model.plan.trunkReuse, reason: model.plan.reason, cut: model.plan.cutTensors },
      passes, seed, provider: info.provider, device_id: info.deviceId, onnxruntime: onnxruntimeVersion,
      started: started.toISOString(), finished: finished.toISOString(), seconds, counts, settings,
    }, options.meta);
    if (!options.quiet) {
      const rate = (ok + failed) / Math.max(seconds, 1e-3);
      process.stderr.write(`mc-dropout: ${ok} ok, ${failed} failed${skipped.length ? `, ${skipped.length} non-image files skipped` : ''} in ${seconds.toFixed(1)}s (${rate.toFixed(1)} images/s), T=${passes}, provider ${info.provider}, seed ${seed}${model.plan.trunkReuse ? ', trunk reuse' : ''}\n`);
    }
    return failed > 0 ? 1 : 0;
  } finally {
    await model.dispose();
  }
}

function readLabelsFor(file: string, classes: number): string[] {
  const labels = readLabels(file);
  if (labels.length !== classes) throw new UsageError(`--labels ${file} has ${labels.length} labels but the model has ${classes} classes`);
  return labels;
}

function labelsFromModel(labels: string[] | undefined, classes: number, model: string, warn: (m: string) => void): string[] {
  if (labels && labels.length === classes) return labels;
  if (labels) warn(`${model} lists ${labels.length} labels for ${classes} classes; printing class indices (give --labels FILE)`);
  return Array.from({ length: classes }, (_, i) => String(i));
}
