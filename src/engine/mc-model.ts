/**
 * The public model: loads an ONNX classifier with its dropout kept live and runs T passes per image
 * with masks drawn by seed. Load planning, feeds, trunk reuse, prefix sharing and adaptive rounds
 * each live in their own file beside this one; this file puts them together.
 */
import { describeError, invalidParameter, ModelError, UsageError } from '../errors.js';
import { describeTrainingBatchNorms, trainingModeBatchNorms } from '../model/batch-dependence.js';
import { readMetadata, type ModelMetadata } from '../model/metadata.js';
import { describeMcGraph, mcGraphOf } from '../model/mc-graph-found.js';
import { forSession, readOnnxBytes, readOnnxFile, type OnnxFile } from '../model/read.js';
import { describeRandomSite } from '../model/random-layers.js';
import { siteInputName } from '../model/rewrite.js';
import { describeIo, outputsReachedFrom, type ModelIo } from '../model/signature.js';
import { MAP_STATISTICS, withMapStatistics } from '../model/map-statistics.js';
import { DataType } from '../model/graph.js';
import { findStochasticSites, type StochasticSite } from '../model/sites.js';
import type { AdaptiveRule } from '../stats/adaptive.js';
import { softmaxRows } from '../stats/aggregate.js';
import { AdaptivePool, type PassSource } from './adaptive-pool.js';
import { drawsOf, type DrawnSite } from './draws.js';
import { addDraws, replicatedFeeds, type Feeds, type Row } from './feeds.js';
import { imageKeyOf, type ImageKey } from './masks.js';
import { sessionSettingsOf, type LoadOptions, type PredictOptions } from './options.js';
import { planGraph, runLimits, type ExecutionPlan } from './plan.js';
import { levelFeeds, levelRunEnd, type PrefixLevels } from './prefix-sharing.js';
import { probeEntry, readProbeEntry, writeProbeEntry } from './probe-cache.js';
import { probeModel } from './probe.js';
import type { HostTensor, Provider, RuntimeSession } from './runtime.js';
import { createOrThrow, openSession } from './sessions.js';
import { chooseSites, checkSitesReach, identicalPassesReason } from './site-choice.js';
import { gatheredFeeds, TrunkParts, type PreparedImage } from './trunk-reuse.js';

export type { ModelIo } from '../model/signature.js';

/** The drop rate of each random-mask site a model's passes draw (its dropout as masks), in site order: what a run's settings and a calibration record. */
export function maskRates(info: { drawnSites: readonly DrawnSite[] }): number[] {
  return info.drawnSites.filter((s) => s.draw.kind === 'mask').map((s) => s.rate);
}

/** What a loaded model is: its input and output (ModelIo), file digest, stochastic sites, metadata and the provider it runs on. */
export interface ModelInfo extends ModelIo {
  path: string;
  /** SHA-256 of the model file and its external weight files. */
  sha256: string;
  /** External weight files beside the model (relative names); empty when the weights are inside. */
  externalFiles: string[];
  /** Every stochastic site found in the file. */
  sites: StochasticSite[];
  /** Sites whose masks or numbers mc-dropout draws, in graph order (site k is the k-th). */
  drawnSites: DrawnSite[];
  metadata: ModelMetadata;
  /** Why every pass is identical (each site reaching the class scores has rate 0); absent when passes can differ. */
  identicalPasses?: string;
  provider: Provider;
  deviceId: number;
}

/**
 * A model made ready to open: onnxruntime reads every large weight of a file from the file itself,
 * so no copy of them stays here; a model that came as bytes has no file and keeps its weights.
 */
async function openableFile(source: string | OnnxFile): Promise<Omit<OnnxFile, 'bytes'>> {
  const read = typeof source === 'string' ? await readOnnxFile(source) : source;
  return read.inMemory ? read : forSession(read);
}

/** An ONNX classifier whose dropout stays live at full optimization, with masks drawn by seed. */
export class McModel {
  private constructor(
    readonly info: ModelInfo,
    readonly plan: ExecutionPlan,
    private readonly session: RuntimeSession,
    private readonly maxRowsPerRun: number,
    /** Most images whose trunk one run computes (trunk reuse). */
    private readonly imagesPerTrunkRun: number,
    /** The split as separate trunk and head sessions (adaptive T), opened on first use. */
    private readonly parts?: TrunkParts,
    /** DropPath prefix sharing: the level graph and each site's threshold. */
    private readonly levels?: PrefixLevels,
    /** The session also outputs a map's per-pass statistics (model/map-statistics.ts). */
    private readonly mapStatistics = false,
  ) {}

  /**
   * Loads, rewrites and opens a model: `source` is a path, a serialized model (bytes, as
   * onnxruntime's `InferenceSession.create` takes; its weights inside it), or a file readOnnxFile
   * (or readOnnxBytes) read already. Throws ModelError / ProviderError / UsageError.
   */
  static async load(source: string | Uint8Array | OnnxFile, options: LoadOptions = {}): Promise<McModel> {
    const { model, folder, sha256, externalFiles, file } = await openableFile(source instanceof Uint8Array ? readOnnxBytes(source) : source);
    const mcGraph = mcGraphOf(model);
    if (mcGraph)
      throw new ModelError(
        `${file} is ${describeMcGraph(mcGraph)}: it runs its passes itself and returns their statistics (mean, std, label, ...), not class scores whose dropout mc-dropout could drive. Run it in onnxruntime (docs/serving.md), or give the model it was converted from`,
        'E_MC_GRAPH',
      );
    const metadata = readMetadata(model, file);
    const sites = findStochasticSites(model);
    const chosen = chooseSites(sites, model, file, options);
    // the class-score output: among several, the one the stochastic sites reach
    const io = describeIo(model, file, metadata, options.inputSize, {
      ...(options.output !== undefined && { name: options.output }),
      reached: outputsReachedFrom(
        model,
        chosen.map((s) => s.output),
      ),
    });
    checkSitesReach(chosen, model, io.outputName, file, options);
    const batchNorms = trainingModeBatchNorms(model);
    if (batchNorms.length > 0) throw new ModelError(`${file}: ${describeTrainingBatchNorms(batchNorms)}`, 'E_BATCH_DEPENDENT');
    const draws = drawsOf(chosen, metadata, options.dropoutRate, file);
    const staticBatch = io.inputDims[0]! > 0 ? io.inputDims[0]! : 0;
    // batch 1 and 2 are probed whenever the batch is dynamic: for trunk reuse, for random ops whose
    // draws must follow the batch, and to find rows that see each other
    const withActivations = staticBatch === 0 && chosen.length > 0;
    const entry =
      options.cacheFolder && chosen.length > 0
        ? probeEntry(options.cacheFolder, {
            sha256,
            sites: chosen.map((s) => s.nodeIndices),
            inputName: io.inputName,
            inputDims: io.inputDims,
            withActivations,
          })
        : undefined;
    const cached = entry ? readProbeEntry(entry, chosen.length) : undefined;
    const probe =
      cached ??
      (await probeModel(model, chosen, io, {
        withActivations,
        file,
        ...(folder && { externalDataFolder: folder }),
      }));
    if (entry && !cached) writeProbeEntry(entry, probe);
    const drawnSites: DrawnSite[] = chosen.map((site, k) => ({
      site,
      input: siteInputName(site, k),
      draw: draws[k]!,
      rate: draws[k]!.kind === 'mask' ? draws[k]!.rate : NaN,
      rowShape: probe.siteShapes[k]!,
      rowSize: probe.siteShapes[k]!.reduce((a, b) => a * b, 1),
      fold: probe.siteFolds[k] ?? 1,
    }));
    const identicalPasses = identicalPassesReason(
      drawnSites.map((d) => ({
        name: `${d.site.op} ${d.site.nodeName}`,
        reaches: outputsReachedFrom(model, [d.site.output]).has(io.outputName),
        rate: d.draw.kind === 'mask' ? d.draw.rate : describeRandomSite(model, d.site, d.rowShape).rate,
      })),
      io.outputName,
      options.dropoutRate,
    );
    // a run that asked for MC passes hears it; a deterministic load (inspect, predict's dropout-off pass) does not need to
    if (identicalPasses && !options.allowDeterministic) options.onWarning?.(identicalPasses);
    const planned = planGraph(model, drawnSites, io, probe, staticBatch, options, cached !== undefined);

    // a multi-class map: onnxruntime also computes each pass's probabilities, entropy and argmax
    const statistics =
      io.map && !io.map.binary
        ? withMapStatistics(planned.model, {
            output: io.outputName,
            classAxis: io.map.layout === 'NCHW' ? 1 : 3,
            probabilities: io.outputIsProbabilities,
            half: model.outputs().find((o) => o.name === io.outputName)?.elemType === DataType.FLOAT16,
          })
        : undefined;
    const opened = await openSession((statistics ?? planned.model).encode(), options, file, folder || undefined);
    const limits = runLimits(planned, drawnSites, io, probe, staticBatch, opened.provider, options);
    const info: ModelInfo = {
      path: file,
      sha256,
      externalFiles,
      ...io,
      sites,
      drawnSites,
      metadata,
      ...(identicalPasses && { identicalPasses }),
      provider: opened.provider,
      deviceId: opened.deviceId,
    };
    const settings = { ...sessionSettingsOf(options, folder), provider: opened.provider, deviceId: opened.deviceId };
    const parts = TrunkParts.of(planned.split, io.inputName, probe, Boolean(planned.levels), (bytes) => createOrThrow(bytes, settings, file));
    const loaded = new McModel(
      info,
      planned.plan,
      opened.session,
      limits.rowsPerRun,
      limits.imagesPerTrunkRun,
      parts,
      planned.levels,
      statistics !== undefined,
    );
    if (info.map && (info.map.height < 0 || info.map.width < 0)) await loaded.resolveMapSize();
    return loaded;
  }

  /** A map whose height or width the graph leaves to run time: one pass with dropout off on a blank image tells them. */
  private async resolveMapSize(): Promise<void> {
    const map = this.info.map!;
    const blank = new Float32Array(this.imageSize);
    const { rowDims } = await this.runRows([{ image: 0, pass: 0, index: 0 }], [blank], [imageKeyOf(blank)], { passes: 1, seed: 0, deterministic: true });
    const [height, width] = map.layout === 'NCHW' ? [rowDims[1]!, rowDims[2]!] : [rowDims[0]!, rowDims[1]!];
    this.info.map = { ...map, height, width };
  }

  /** Refuses what reads passes as class probabilities [T, C] of a model whose output is a map. */
  private refuseMap(what: string): void {
    const { map, path } = this.info;
    if (map)
      throw new UsageError(
        `${path} is a segmentation model (a class-score map, ${map.height}x${map.width}): ${what} reads class probabilities per image; reduce its passes per pixel with forEachPass (the segmentation maps do)`,
      );
  }

  /** Prefix sharing's level graph and each site's drop decision, which convert's MC graph runs too; undefined where sharing does not apply. */
  get prefixLevels(): PrefixLevels | undefined {
    return this.levels;
  }

  /** How much one session run takes: rows (image x pass) and, with trunk reuse, images whose trunk it computes. */
  get limits(): { rowsPerRun: number; imagesPerTrunkRun: number } {
    return { rowsPerRun: this.maxRowsPerRun, imagesPerTrunkRun: this.imagesPerTrunkRun };
  }

  /** Elements of one preprocessed image: channels x height x width. */
  get imageSize(): number {
    return this.info.channels * this.info.height * this.info.width;
  }

  /**
   * Runs T passes on each image. images: Float32Array each of imageSize, in the model's layout.
   * Returns per image its class probabilities per pass: Float64Array [T, C] row-major.
   */
  async predict(images: readonly Float32Array[], options: PredictOptions): Promise<Float64Array[]> {
    this.refuseMap('predict');
    if (options.adaptive && !options.deterministic) return this.predictAdaptive(images, options.seed, options.adaptive);
    const scores = await this.predictScores(images, options);
    return scores.map((s) => this.probabilities(s));
  }

  /**
   * Adaptive T over a stream of images (see AdaptivePool): add images at any time, run rounds, take
   * those that settled. Each image's passes are the first T_i of a fixed run with the same seed.
   */
  adaptivePool(seed: number, rule: AdaptiveRule): AdaptivePool {
    this.refuseMap('adaptive T');
    const source: PassSource = {
      classes: this.info.classes,
      prepare: (images) => this.prepare(images),
      runPasses: (prepared, requests, passSeed) => this.runPasses(prepared, requests, passSeed),
    };
    return new AdaptivePool(source, seed, rule);
  }

  /** Like predict, but the model's raw outputs per pass (logits, or probabilities if it ends in Softmax): per image [T, outputRowSize]. */
  async predictScores(images: readonly Float32Array[], options: PredictOptions): Promise<Float64Array[]> {
    const size = this.outputRowSize;
    const passes = options.deterministic ? 1 : options.passes;
    const results = images.map(() => new Float64Array(Math.max(0, passes) * size));
    await this.forEachPass(images, options, (image, pass, row) => results[image]!.set(row, pass * size));
    return results;
  }

  /**
   * Runs T passes on each image (images: Float32Array each of imageSize, in the model's layout) and
   * hands over each pass's raw output row, [outputRowSize] (a map's [C, H, W] or [H, W, C]), as soon
   * as its session run ends: onRow(image, pass, row), the row a view valid during the call only.
   * Nothing of passes x images is kept, so a caller can reduce a map's passes one by one.
   */
  async forEachPass(images: readonly Float32Array[], options: PredictOptions, onRow: (image: number, pass: number, row: Float32Array) => void): Promise<void> {
    await this.forEachRun(images, options, [this.info.outputName], (image, pass, [row]) => onRow(image, pass, row!));
  }

  /** Whether the session computes a map's per-pass statistics itself (forEachMapPass): a multi-class map, opset 13 or later. */
  get hasMapStatistics(): boolean {
    return this.mapStatistics;
  }

  /**
   * A segmentation model's passes as their statistics, computed by onnxruntime (hasMapStatistics):
   * onPass(image, pass, probabilities [C, H, W] or [H, W, C] in the map's layout, entropy [H, W] in
   * nats, argmax [H, W] as float class indices), views valid during the call only.
   */
  async forEachMapPass(
    images: readonly Float32Array[],
    options: PredictOptions,
    onPass: (image: number, pass: number, statistics: { probabilities: Float32Array; entropy: Float32Array; argmax: Float32Array }) => void,
  ): Promise<void> {
    if (!this.mapStatistics) throw new UsageError(`${this.info.path}: its session computes no map statistics (hasMapStatistics is false); use forEachPass`);
    const names = [MAP_STATISTICS.probabilities, MAP_STATISTICS.entropy, MAP_STATISTICS.argmax];
    await this.forEachRun(images, options, names, (image, pass, [probabilities, entropy, argmax]) =>
      onPass(image, pass, { probabilities: probabilities!, entropy: entropy!, argmax: argmax! }),
    );
  }

  /** The passes of every image in as few session runs as the budgets allow; each row's value of each named output handed over as its run ends. */
  private async forEachRun(
    images: readonly Float32Array[],
    options: PredictOptions,
    names: readonly string[],
    onRow: (image: number, pass: number, values: Float32Array[]) => void,
  ): Promise<void> {
    const passes = options.deterministic ? 1 : options.passes;
    const first = options.firstPass ?? 0;
    if (!Number.isInteger(first) || first < 0) throw invalidParameter('firstPass', 'an integer >= 0', options.firstPass);
    if (!Number.isInteger(passes) || passes < 1) throw invalidParameter('passes', 'an integer >= 1', options.passes);
    for (const [i, image] of images.entries()) {
      if (image.length !== this.imageSize) {
        throw invalidParameter('images', `${this.imageSize} values for image ${i}`, image.length, 'values');
      }
    }
    // images per group: enough to fill a run with their passes, but (with trunk reuse, where the
    // whole trunk runs on the group) no more images than the budget allows rows of the full graph
    const imagesPerRun = this.plan.trunkReuse ? this.imagesPerTrunkRun : Infinity;
    const perGroup = Math.max(1, Math.min(Math.floor(this.maxRowsPerRun / passes), imagesPerRun));
    for (let g = 0; g < images.length; g += perGroup) {
      const group = images.slice(g, g + perGroup);
      const keys = group.map((image) => imageKeyOf(image));
      const rows: Row[] = [];
      if (options.strategy === 'sequential') {
        for (let t = 0; t < passes; t++) for (let i = 0; i < group.length; i++) rows.push({ image: i, pass: t, index: first + t });
      } else {
        for (let i = 0; i < group.length; i++) for (let t = 0; t < passes; t++) rows.push({ image: i, pass: t, index: first + t });
      }
      const perRun = options.strategy === 'sequential' ? group.length : this.maxRowsPerRun;
      for (let start = 0, end = 0; start < rows.length; start = end) {
        // under prefix sharing a run holds as many rows as fit as groups (levelRunEnd)
        end =
          this.levels && options.strategy !== 'sequential'
            ? levelRunEnd(this.levels, this.info.drawnSites, rows, start, keys, { maxGroups: perRun, maxImages: Infinity }, options)
            : start + perRun;
        const chunk = rows.slice(start, end);
        const outputs = await this.runRowsOf(chunk, group, keys, options, names);
        const sizes = outputs.map((o) => o.rowDims.reduce((a, b) => a * b, 1));
        chunk.forEach((row, r) =>
          onRow(
            g + row.image,
            row.pass,
            outputs.map((o, k) => o.data.subarray(r * sizes[k]!, (r + 1) * sizes[k]!)),
          ),
        );
      }
    }
  }

  /** Values of one pass's raw output for one image: the class count of a classifier; a map's channels x height x width. */
  get outputRowSize(): number {
    const { map, classes } = this.info;
    return map ? (map.binary ? 1 : classes) * map.height * map.width : classes;
  }

  async dispose(): Promise<void> {
    await this.session.release();
    await this.parts?.release();
  }

  /** Raw outputs (predictScores' [T, C]) as probabilities, exactly as predict returns them: a softmax of logits; probabilities as they are. */
  probabilities(scores: Float64Array): Float64Array {
    return this.info.outputIsProbabilities ? scores : softmaxRows(scores, this.info.classes);
  }

  /** Adaptive T: the images in one pool, rounds until every one has settled; per image [T_i, C]. */
  private async predictAdaptive(images: readonly Float32Array[], seed: number, rule: AdaptiveRule): Promise<Float64Array[]> {
    const pool = this.adaptivePool(seed, rule);
    const ids = await pool.add(images);
    const out = new Map<number, Float64Array>();
    while (pool.active > 0) for (const done of await pool.round()) out.set(done.id, done.probs);
    return ids.map((id) => out.get(id)!);
  }

  private get input(): { name: string; imageDims: readonly number[] } {
    return { name: this.info.inputName, imageDims: this.info.inputDims.slice(1) };
  }

  /**
   * What passes of an image need besides its masks' key: with a trunk/head split whose cut is
   * float32, the cut tensors (the trunk runs here, once); else the image itself.
   */
  private async prepare(images: readonly Float32Array[]): Promise<PreparedImage[]> {
    if (!this.plan.trunkReuse || !this.parts) return images.map((image) => ({ image, key: imageKeyOf(image) }));
    return this.parts.prepare(images, this.input, this.plan.cutTensors, this.imagesPerTrunkRun, (work) => this.guard(work));
  }

  /**
   * Runs passes first .. first + passes - 1 of each requested image (each its own range), through
   * the head graph where the images carry their cut, else the whole (split) graph; per request its
   * probabilities [passes, C].
   */
  private async runPasses(
    prepared: readonly PreparedImage[],
    requests: readonly { image: number; first: number; passes: number }[],
    seed: number,
  ): Promise<Float64Array[]> {
    const { info } = this;
    const classes = info.classes;
    const results = requests.map((r) => new Float64Array(r.passes * classes));
    const rows: (Row & { request: number })[] = [];
    requests.forEach((r, request) => {
      for (let t = 0; t < r.passes; t++) rows.push({ image: r.image, pass: t, index: r.first + t, request });
    });
    const keys = prepared.map((p) => p.key);
    const viaHead = prepared.length > 0 && prepared.every((p) => p.cut);
    const head = viaHead ? (await this.parts!.opened()).head : undefined;
    const rowShapes = new Map(this.plan.cutTensors.map((name, k) => [name, this.plan.cutShapes[k]!]));
    const perImage = new Map(viaHead ? this.plan.cutTensors.map((name) => [name, prepared.map((p) => p.cut!.get(name)!)]) : []);
    // a chunk: at most maxRowsPerRun rows, and (whole graph with trunk reuse) at most imagesPerTrunkRun images
    const imageLimit = !viaHead && this.plan.trunkReuse ? this.imagesPerTrunkRun : Infinity;
    for (let start = 0; start < rows.length;) {
      const images = new Set<number>();
      let end = start;
      if (this.levels && !head) {
        end = levelRunEnd(this.levels, info.drawnSites, rows, start, keys, { maxGroups: this.maxRowsPerRun, maxImages: imageLimit }, { seed });
      } else {
        while (end < rows.length && end - start < this.maxRowsPerRun && (images.has(rows[end]!.image) || images.size < imageLimit))
          images.add(rows[end++]!.image);
      }
      const chunk = rows.slice(start, end);
      let scores: Float64Array;
      if (head) {
        const feeds = gatheredFeeds(chunk, perImage, rowShapes);
        addDraws(feeds, info.drawnSites, chunk, keys, chunk.length, { seed });
        const output = (await this.guard(() => head.run(feeds, [info.outputName])))[info.outputName]!;
        scores = Float64Array.from(output.data.subarray(0, chunk.length * classes));
      } else {
        const run = await this.runRows(
          chunk,
          prepared.map((p) => p.image),
          keys,
          { passes: 1, seed },
        );
        scores = Float64Array.from(run.data);
      }
      const probs = this.probabilities(scores);
      chunk.forEach((row, r) => results[row.request]!.set(probs.subarray(r * classes, (r + 1) * classes), row.pass * classes));
      start = end;
    }
    return results;
  }

  /** One session run over the given rows (image x pass), with their draws: raw outputs [rows, ...rowDims] (rowDims: the output's dims after the batch). */
  private async runRows(
    rows: Row[],
    images: readonly Float32Array[],
    keys: ImageKey[],
    options: PredictOptions,
  ): Promise<{ data: Float32Array; rowDims: readonly number[] }> {
    return (await this.runRowsOf(rows, images, keys, options, [this.info.outputName]))[0]!;
  }

  /** runRows for the named outputs of the session, each [rows, ...rowDims], in the order named. */
  private async runRowsOf(
    rows: Row[],
    images: readonly Float32Array[],
    keys: ImageKey[],
    options: PredictOptions,
    names: readonly string[],
  ): Promise<{ data: Float32Array; rowDims: readonly number[] }[]> {
    const { info } = this;
    if (this.levels) {
      const { feeds, outputRow } = levelFeeds(this.levels, info.drawnSites, rows, images, keys, this.input, options);
      const outputs = await this.runSession(feeds, names);
      return names.map((name) => {
        const output = outputs[name]!;
        const rowDims = output.dims.slice(1);
        const size = rowDims.reduce((a, b) => a * b, 1);
        const result = new Float32Array(rows.length * size);
        for (let r = 0; r < rows.length; r++) result.set(output.data.subarray(outputRow[r]! * size, (outputRow[r]! + 1) * size), r * size);
        return { data: result, rowDims };
      });
    }
    const staticBatch = info.inputDims[0]! > 0 ? info.inputDims[0]! : 0;
    const batch = staticBatch || rows.length;
    const feeds: Feeds = this.plan.trunkReuse
      ? gatheredFeeds(rows, new Map([[info.inputName, images]]), new Map([[info.inputName, this.input.imageDims]]))
      : replicatedFeeds(rows, images, this.input, batch);
    addDraws(feeds, info.drawnSites, rows, keys, batch, options);
    const outputs = await this.runSession(feeds, names);
    return names.map((name) => {
      const output = outputs[name]!;
      const rowDims = output.dims.slice(1);
      return { data: output.data.subarray(0, rows.length * rowDims.reduce((a, b) => a * b, 1)), rowDims };
    });
  }

  /** The named outputs of one run of the main session. */
  private async runSession(feeds: Feeds, names: readonly string[]): Promise<Record<string, HostTensor>> {
    return this.guard(() => this.session.run(feeds, names));
  }

  private async guard<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw new ModelError(`${this.info.path}: onnxruntime failed to run the model (${describeError(error)})`, 'E_MODEL', { cause: error });
    }
  }
}
