/**
 * predict on a segmentation model: the maps folder planned and checked before any image, the model
 * loaded, each image's passes reduced per pixel, its map files written whole, then its row in the
 * folder's scores file (resumable, sharded and merged like a classifier's rows), and the metadata
 * of a finished run. runPrediction hands a run over here when the model's output is a map.
 */
import { mkdirSync, realpathSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { maskRates } from '../../engine/mc-model.js';
import { Members } from '../../ensemble/members.js';
import { param, UsageError } from '../../errors.js';
import { OutputLock } from '../../io/lock.js';
import { csvName } from '../../io/names.js';
import { earlierSeed } from '../../io/resume.js';
import { RunOutput } from '../../io/run-output.js';
import { outputSidecars } from '../../io/sidecars.js';
import { checkDistinct, checkInputsAreNotOutputs, fileIdentity, outputIdentities, outputTarget, type OutputTarget } from '../../io/targets.js';
import { decodeUpright } from '../../preprocess/decode.js';
import { preprocessRecord } from '../../preprocess/record.js';
import { vocPalette } from '../../segmentation/palette.js';
import { predictMapFiles, type MapResult } from '../../segmentation/predict-files.js';
import { resizeMaps } from '../../segmentation/resample.js';
import { MASK_SCHEME } from '../../engine/masks.js';
import { freshSeed } from '../../stats/random.js';
import { stringify } from '../../io/csv.js';
import type { RunHooks } from '../hooks.js';
import { gatherInputs } from '../inputs.js';
import { refuseCsvNameClash } from '../predict/csv-names.js';
import { labelsFor, labelsFromModel } from '../labels.js';
import type { PredictRunConfig, RunOutcome } from '../predict/config.js';
import { derivedSeed, shardBlock, shardOutputPath } from '../shards.js';
import { claimMapsFolder } from './folder-record.js';
import { writeMapFiles } from './map-files.js';
import { MAP_COLUMNS, mapRowLine, type MapRowOptions } from './rows.js';
import { mapStems } from './stems.js';
import { onnxruntimeVersion } from '../../engine/runtime.js';

/** The files a segmentation run writes: the maps folder, its scores file (a shard's own) and metadata. */
interface MapPlan {
  folder: string;
  rows: Extract<OutputTarget, { kind: 'file' }>;
  meta: OutputTarget | undefined;
  metaFile: string;
  forbidden: ReadonlyMap<string, string>;
}

/** Refuses what a map run cannot do, and plans its files: `output` is the maps folder (made if missing). */
function planMaps(config: PredictRunConfig): MapPlan {
  const refuse = (what: string) => {
    throw new UsageError(`A segmentation model's run does not take ${what} yet`);
  };
  if (config.members && config.members.length > 1) refuse('an ensemble (several models)');
  if (config.views !== undefined) refuse(`test-time views (${param('views')})`);
  if (config.passes === 'auto') refuse(`adaptive T: give ${param('passes')} a number`);
  if (config.savePasses !== undefined) refuse(`${param('savePasses')} (every pass of every pixel); its maps hold the passes' statistics`);
  if (config.calibration !== undefined) refuse(`a calibration (${param('calibration')})`);
  if (config.output === undefined || config.output === '-')
    throw new UsageError(`A segmentation model writes map files: give ${param('mapsFolder')} a folder (it is made if missing)`);
  const folder = path.resolve(config.output);
  // the paths given, before the folder is made (a list's paths are checked once walked)
  checkFolderApart(folder, config.paths);
  let isFolder = false;
  try {
    isFolder = statSync(folder).isDirectory();
  } catch {
    mkdirSync(folder, { recursive: true });
    isFolder = true;
  }
  if (!isFolder) throw new UsageError(`${config.output} is not a folder: a segmentation model writes its maps into a folder (${param('mapsFolder')})`);
  const rowsFile = path.join(folder, `scores.${config.format}`);
  const named = (file: string) => (config.shard ? shardOutputPath(file, config.shard) : file);
  const rows = outputTarget(named(rowsFile), 'the scores file') as Extract<OutputTarget, { kind: 'file' }>;
  const meta = config.meta !== undefined ? outputTarget(named(config.meta), 'the metadata file') : undefined;
  checkDistinct([rows, ...(meta ? [meta] : [])]);
  const metaFile = meta?.kind === 'file' ? meta.file : outputSidecars(rows.file).meta;
  const forbidden = outputIdentities([rows, meta ?? outputTarget(metaFile, 'the metadata file')]);
  checkInputsAreNotOutputs(
    [
      { role: 'the model', path: config.model },
      { role: 'the labels file', path: config.labelsFile },
      { role: 'the list of inputs', path: config.list?.file },
    ],
    forbidden,
  );
  return { folder, rows, meta, metaFile, forbidden };
}

/** Refuses a maps folder inside an input folder (its maps would be read as images by the next run) or holding one. */
function checkFolderApart(folder: string, inputs: readonly string[]): void {
  const real = realOrAsGiven(folder);
  for (const input of inputs) {
    const absolute = realOrAsGiven(input);
    const inside = (a: string, b: string) => a === b || a.startsWith(b + path.sep);
    if (inside(real, absolute) || inside(absolute, real))
      throw new UsageError(
        `The maps folder ${folder} and the input ${input} overlap: the next run would read the maps as images. Write the maps outside the input folders`,
      );
  }
}

/** A path with every link resolved: its nearest existing ancestor's real path, the rest as written (a folder not made yet). */
function realOrAsGiven(file: string): string {
  const absolute = path.resolve(file);
  for (let existing = absolute, rest = ''; ; existing = path.dirname(existing)) {
    try {
      return path.join(realpathSync(existing), rest);
    } catch {
      if (path.dirname(existing) === existing) return absolute;
      rest = path.join(path.basename(existing), rest);
    }
  }
}

/** Runs predict on a segmentation model (runPrediction calls it when the model's output is a map). */
export async function runMapPrediction(config: PredictRunConfig, hooks: RunHooks = {}): Promise<RunOutcome> {
  const started = new Date();
  const warn = hooks.onWarning ?? (() => {});
  const plan = planMaps(config);
  const { inputs, walked } = await gatherInputs(config.paths, config.list, plan.forbidden, { allowEmpty: config.allowEmpty, warn });
  checkFolderApart(plan.folder, inputs);
  const block = shardBlock(config.shard, walked);
  if (config.format === 'csv') refuseCsvNameClash(walked.files);
  const stems = mapStems(block.files, inputs);
  const lock = OutputLock.acquire(plan.rows.file, plan.rows.name);
  let members: Members;
  try {
    members = await Members.load([config.model], { ...config.load, onWarning: warn }, config.preprocess);
  } catch (error) {
    lock.release();
    throw error;
  }
  const model = members.list[0]!.model;
  try {
    const { info } = model;
    const labels = config.labelsFile ? labelsFor(config.labelsFile, info.classes, warn) : labelsFromModel(members.labels, info.classes, config.model, warn);
    const preprocess = members.list[0]!.preprocess;
    if (config.maps?.size === 'original' && preprocess.resize !== 'stretch')
      throw new UsageError(
        `Maps at each image's own size need a plain resize to the model's input; the preprocessing is ${preprocess.resize}, so the maps cover only part of the image: drop ${param('mapSize')} original, or preprocess with a plain resize`,
      );
    const seed =
      config.seed ??
      (config.resume ? earlierSeed(plan.rows.file, plan.metaFile) : undefined) ??
      (block.shard ? derivedSeed(block.shard.listHash, info.sha256) : freshSeed());
    const passes = config.deterministic ? 1 : (config.passes as number);
    const maps = config.maps ?? {};
    const settings = {
      ...(block.shard &&
        config.shard && {
          shard: { index: config.shard.index, count: config.shard.count },
          input_list_sha256: block.shard.listHash,
          input_list_length: block.shard.listLength,
        }),
      model_sha256: info.sha256,
      passes,
      seed,
      mask_scheme: MASK_SCHEME,
      deterministic: config.deterministic,
      dropout: config.load.dropout ?? 'auto',
      dropout_rates: maskRates(info),
      preprocess: preprocessRecord(preprocess),
      format: config.format,
      per_class: config.perClass,
      labels,
      maps: { size: maps.size ?? 'model', overlay: maps.overlay ?? false, uncertain_above: maps.uncertainAbove ?? 0.5 },
    };
    const sink = RunOutput.open({
      output: plan.rows,
      format: config.format,
      resume: config.resume,
      lock,
      metaFile: plan.metaFile,
      header: config.format === 'csv' ? stringify([[...MAP_COLUMNS]]).trimEnd() : undefined,
      settings,
    });
    // every run into the folder makes the same maps: format, shard and the rows' threshold aside
    const { format: _format, shard: _shard, input_list_sha256: _list, input_list_length: _length, ...mapSettings } = settings;
    try {
      claimMapsFolder(plan.folder, { ...mapSettings, maps: { size: settings.maps.size, overlay: settings.maps.overlay } });
    } catch (error) {
      sink.close();
      throw error;
    }
    const doneFiles = new Set([...sink.done].flatMap((p) => fileIdentity(p) ?? []));
    const written = (f: string) => sink.done.has(config.format === 'csv' ? csvName(f) : f) || (doneFiles.size > 0 && doneFiles.has(fileIdentity(f) ?? ''));
    const todoIndex = block.files.flatMap((f, i) => (written(f) ? [] : [i]));
    const todo = todoIndex.map((i) => block.files[i]!);
    hooks.onStart?.(todo.length);
    const counts = { ok: 0, failed: 0, stopped: false };
    const rowOptions: MapRowOptions = { format: config.format, labels, threshold: maps.uncertainAbove ?? 0.5 };
    const fileOptions = { palette: vocPalette(Math.min(256, info.classes)), perClass: config.perClass };
    try {
      const results = predictMapFiles(model, todo, {
        passes,
        seed,
        deterministic: config.deterministic,
        batchSize: config.batchSize,
        decodeConcurrency: config.decodeConcurrency,
        ...(config.decodePixelBudget !== undefined && { decodePixelBudget: config.decodePixelBudget }),
        preprocess,
        knownErrors: walked.errors,
        fileSizes: todoIndex.map((i) => block.sizes[i]!),
        keepPixels: (maps.overlay ?? false) && maps.size !== 'original',
        originalSize: maps.size === 'original',
      });
      for await (const result of results) {
        const stem = stems[todoIndex[result.index]!]!;
        if (result.status === 'ok') {
          const final = await finalMaps(result, maps.size ?? 'model', maps.overlay ?? false, preprocess);
          writeMapFiles(plan.folder, stem, final.maps, fileOptions, final.pixels);
          sink.write(mapRowLine(rowOptions, result.file, { stem, maps: final.maps, voted: result.maps }));
          counts.ok++;
        } else {
          sink.write(mapRowLine(rowOptions, result.file, { error: result.error }));
          counts.failed++;
        }
        hooks.onProgress?.(counts.ok + counts.failed, counts.failed);
        if (hooks.signal?.aborted) {
          counts.stopped = true;
          break;
        }
      }
    } catch (error) {
      sink.close();
      throw error;
    }
    const finished = new Date();
    const outcome: RunOutcome = {
      ok: counts.ok,
      failed: counts.failed,
      skipped: walked.skipped.length,
      todo: todo.length,
      seconds: (finished.getTime() - started.getTime()) / 1000,
      seed,
      passes,
      passStats: { mean: passes, median: passes, max: passes },
      provider: info.provider,
      trunkReuse: model.plan.trunkReuse,
      stopped: counts.stopped,
      resumable: true,
    };
    if (counts.stopped) {
      sink.close();
      return outcome;
    }
    const total = block.files.length;
    sink.finish(
      {
        tool: 'mc-dropout',
        version: config.version,
        command: 'predict',
        kind: 'segmentation',
        model: {
          path: config.model,
          sha256: info.sha256,
          external_files: info.externalFiles,
          classes: info.classes,
          map: info.map,
          sites: info.drawnSites.map((s) => ({ node: s.site.nodeName, op: s.site.op, draw: s.draw, shape: s.rowShape })),
        },
        maps_folder: plan.folder,
        trunk_reuse: { applied: model.plan.trunkReuse, reason: model.plan.reason, cut: model.plan.cutTensors },
        passes,
        seed,
        provider: info.provider,
        device_id: info.deviceId,
        onnxruntime: onnxruntimeVersion(),
        started: started.toISOString(),
        finished: finished.toISOString(),
        seconds: outcome.seconds,
        counts: { inputs: total, already_done: total - todo.length, ok: counts.ok, failed: counts.failed, skipped_non_images: walked.skipped.length },
        settings,
        ...(block.shard &&
          config.shard && {
            shard: {
              index: config.shard.index,
              count: config.shard.count,
              first: block.shard.first,
              end: block.shard.end,
              images: block.shard.end - block.shard.first,
              host: hostname(),
            },
          }),
      },
      plan.meta,
    );
    return outcome;
  } finally {
    lock.release();
    await members.dispose();
  }
}

/** The maps as written: at the model's size, or resized to the image's own (probabilities resampled before the argmax); pixels for the overlay. */
async function finalMaps(
  result: Extract<MapResult, { status: 'ok' }>,
  size: 'model' | 'original',
  withOverlay: boolean,
  preprocess: Parameters<typeof decodeUpright>[1],
): Promise<{ maps: Extract<MapResult, { status: 'ok' }>['maps']; pixels?: Uint8Array }> {
  if (size === 'model' || !result.original) return { maps: result.maps, ...(result.pixels && { pixels: result.pixels }) };
  const maps = resizeMaps(result.maps, result.original.height, result.original.width);
  if (!withOverlay) return { maps };
  const upright = await decodeUpright(result.file, preprocess);
  return { maps, pixels: upright.pixels };
}
