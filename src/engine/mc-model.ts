import { describeError, ModelError, UsageError } from '../errors.js';
import { describeIo, type ModelIo } from '../model/io.js';
import { readMetadata, type ModelMetadata } from '../model/metadata.js';
import { encodeModel } from '../model/onnx.js';
import { readOnnxFile } from '../model/read.js';
import { maskInputName, rewriteDropoutsAsMaskInputs } from '../model/rewrite.js';
import { findStochasticSites, type StochasticSite } from '../model/sites.js';
import { ROWS_INPUT, splitAtStochasticSources, type NoSplit, type SplitPlan } from '../model/split.js';
import { softmaxRows } from '../stats/aggregate.js';
import { fillMask, imageKeyOf, MAX_SITES, type ImageKey } from './masks.js';
import { probeModel, type ProbeResult } from './probe.js';
import type { DeviceRequest } from './providers.js';
import type { HostTensor, IndexTensor, OptimizationLevel, Provider, RuntimeSession } from './runtime.js';
import { openSession } from './sessions.js';

export type { ModelIo } from '../model/io.js';

export interface LoadOptions {
  /** auto (default) | cpu | cuda | cuda:N */
  device?: string | DeviceRequest;
  /** 'force' makes inert Dropout nodes live (training_mode false or absent). */
  dropout?: 'auto' | 'force';
  /** Drop probability for every site, overriding the model's rates. */
  dropoutRate?: number;
  /** Spatial size for models whose input height/width are dynamic. */
  inputSize?: { height: number; width: number };
  /** CPU intra-op threads; 0 or undefined lets onnxruntime choose. */
  threads?: number;
  /**
   * Let onnxruntime's idle threads spin between runs (default true: fastest for back-to-back runs,
   * 1.36x at batch 1 on MobileNetV2). Turn it off when other work, such as image decoding, shares
   * the cores: the CLI does (10% faster end to end on the bundled model, 2,000 PNGs).
   */
  idleThreadsSpin?: boolean;
  /** Most rows (image x pass) in one session run; bounds memory. */
  maxRowsPerRun?: number;
  /** Allow loading a model with no stochastic site (deterministic runs only). */
  allowDeterministic?: boolean;
  /** 'auto' (default) computes the deterministic trunk once per image when it can; 'off' runs the whole graph per pass. */
  trunkReuse?: 'auto' | 'off';
  /** Graph optimization level of the session (default 'all'; dropout stays live at every level). */
  optimization?: OptimizationLevel;
  /** Called with one-line warnings (e.g. CUDA fallback); the library never prints. */
  onWarning?: (message: string) => void;
}

export interface PredictOptions {
  /** Number of stochastic passes T (>= 1). */
  passes: number;
  /** Seed of the mask generator (integer in [0, 2^53)). */
  seed: number;
  /** Dropout off, one pass: the eval-mode output. */
  deterministic?: boolean;
  /** 'replicate' (default): B x T rows per run; 'sequential': one run per pass. */
  strategy?: 'replicate' | 'sequential';
}

/** A stochastic site as the engine runs it. */
export interface MaskSite {
  site: StochasticSite;
  rate: number;
  /** Per-row shape of the mask (the masked tensor's shape without the batch dim). */
  rowShape: number[];
  rowSize: number;
}

export interface ModelInfo extends ModelIo {
  path: string;
  /** SHA-256 of the model file and its external weight files. */
  sha256: string;
  /** External weight files beside the model (relative names); empty when the weights are inside. */
  externalFiles: string[];
  /** Every stochastic site found in the file. */
  sites: StochasticSite[];
  /** Dropout sites whose masks mc-dropout draws. */
  maskSites: MaskSite[];
  metadata: ModelMetadata;
  provider: Provider;
  deviceId: number;
}

/** Default budget of input floats per session run: bounds the activations a run holds. */
const ROW_BUDGET_FLOATS = 32 * 1024 * 1024;

/** How the passes are computed: all of the graph per pass, or a deterministic trunk once per image. */
export interface ExecutionPlan {
  /** Trunk reuse applies: the trunk runs once per image, only the head runs T times. */
  trunkReuse: boolean;
  /** Tensors the head reads per row (the image input when there is no trunk). */
  cutTensors: string[];
  /** Per-row shape of each cut tensor. */
  cutShapes: number[][];
  trunkNodes: number;
  headNodes: number;
  /** Share of the model's parameters in the part that runs T times (1 without trunk reuse). */
  headParameterShare: number;
  /** Share of the Conv/Gemm/MatMul multiply-accumulates in that part (1 without trunk reuse; NaN if unknown). */
  headMacShare: number;
  /** Why trunk reuse does or does not apply, for inspect and logs. */
  reason: string;
}

/** An ONNX classifier whose dropout stays live at full optimization, with masks drawn by seed. */
export class McModel {
  private constructor(
    readonly info: ModelInfo,
    readonly plan: ExecutionPlan,
    private readonly session: RuntimeSession,
    private readonly maxRowsPerRun: number,
  ) {}

  /** Loads, rewrites and opens a model. Throws ModelError / ProviderError / UsageError. */
  static async load(file: string, options: LoadOptions = {}): Promise<McModel> {
    const source = await readOnnxFile(file);
    const proto = source.model;
    const folder = source.externalFiles.length > 0 ? source.folder : undefined;
    const metadata = readMetadata(proto, file);
    const io = describeIo(proto, file, metadata, options.inputSize);
    const sites = findStochasticSites(proto);
    const chosen = chooseMaskSites(sites, file, options);
    const rates = chosen.map((site, k) => siteRate(site, k, metadata, options.dropoutRate, file));
    const staticBatch = io.inputDims[0]! > 0 ? io.inputDims[0]! : 0;
    const wantSplit = options.trunkReuse !== 'off' && staticBatch === 0 && chosen.length > 0;

    const probe = await probeModel(proto, chosen, io, wantSplit, file, folder);
    const maskSites = chosen.map((site, k) => ({
      site, rate: rates[k]!, rowShape: probe.siteShapes[k]!, rowSize: probe.siteShapes[k]!.reduce((a, b) => a * b, 1),
    }));
    const rewritten = rewriteDropoutsAsMaskInputs(proto, chosen, probe.siteTypes);
    const split = wantSplit
      ? splitAtStochasticSources(rewritten, chosen.map((_, k) => maskInputName(k)), probe.batchMajor, probe.activationShapes)
      : { reason: noSplitReason(options, staticBatch, chosen.length) };
    const plan = executionPlan(split, io, probe, rewritten.graph!.node!.length);

    const opened = await openSession(encodeModel('model' in split ? split.model : rewritten), options, file, folder);
    const rowFloats = plan.cutShapes.reduce((a, s) => a + s.reduce((x, y) => x * y, 1), 0) + maskSites.reduce((a, s) => a + s.rowSize, 0);
    const maxRowsPerRun = staticBatch || Math.max(1, options.maxRowsPerRun ?? Math.min(4096, Math.floor(ROW_BUDGET_FLOATS / rowFloats)));
    const info: ModelInfo = {
      path: file, sha256: source.sha256, externalFiles: source.externalFiles,
      ...io, sites, maskSites, metadata, provider: opened.provider, deviceId: opened.deviceId,
    };
    return new McModel(info, plan, opened.session, maxRowsPerRun);
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
    const scores = await this.predictScores(images, options);
    const { classes, outputIsProbabilities } = this.info;
    return outputIsProbabilities ? scores : scores.map((s) => softmaxRows(s, classes));
  }

  /** Like predict, but the model's raw outputs per pass (logits, or probabilities if it ends in Softmax). */
  async predictScores(images: readonly Float32Array[], options: PredictOptions): Promise<Float64Array[]> {
    const passes = options.deterministic ? 1 : options.passes;
    if (!Number.isInteger(passes) || passes < 1) throw new UsageError(`Expected an integer >= 1 for passes but received ${options.passes}`);
    for (const [i, image] of images.entries()) {
      if (image.length !== this.imageSize) {
        throw new UsageError(`Expected ${this.imageSize} values for image ${i} but received ${image.length}`);
      }
    }
    const classes = this.info.classes;
    const results = images.map(() => new Float64Array(passes * classes));
    // images per group: enough to fill a run with their passes, but (with trunk reuse, where the
    // whole trunk runs on the group) no more images than the budget allows rows of the full graph
    const imagesPerRun = this.plan.trunkReuse ? Math.max(1, Math.floor(ROW_BUDGET_FLOATS / this.imageSize)) : Infinity;
    const perGroup = Math.max(1, Math.min(Math.floor(this.maxRowsPerRun / passes), imagesPerRun));
    for (let g = 0; g < images.length; g += perGroup) {
      const group = images.slice(g, g + perGroup);
      const keys = group.map((image) => imageKeyOf(image));
      const rows: Row[] = [];
      if (options.strategy === 'sequential') {
        for (let t = 0; t < passes; t++) for (let i = 0; i < group.length; i++) rows.push({ image: i, pass: t });
      } else {
        for (let i = 0; i < group.length; i++) for (let t = 0; t < passes; t++) rows.push({ image: i, pass: t });
      }
      const perRun = options.strategy === 'sequential' ? group.length : this.maxRowsPerRun;
      for (let start = 0; start < rows.length; start += perRun) {
        const chunk = rows.slice(start, start + perRun);
        const scores = await this.runRows(chunk, group, keys, options);
        chunk.forEach((row, r) => results[g + row.image]!.set(scores.subarray(r * classes, (r + 1) * classes), row.pass * classes));
      }
    }
    return results;
  }

  /** One session run over the given rows (image x pass), with their masks; raw outputs [rows, C]. */
  private async runRows(rows: Row[], images: readonly Float32Array[], keys: ImageKey[], options: PredictOptions): Promise<Float64Array> {
    const { info } = this;
    const staticBatch = info.inputDims[0]! > 0 ? info.inputDims[0]! : 0;
    const batch = staticBatch || rows.length;
    const feeds: Record<string, HostTensor | IndexTensor> = this.plan.trunkReuse ? imageFeeds(rows, images, info) : replicatedFeeds(rows, images, info, batch);
    info.maskSites.forEach((mask, k) => {
      const data = new Float32Array(batch * mask.rowSize);
      for (let r = 0; r < batch; r++) {
        const slot = data.subarray(r * mask.rowSize, (r + 1) * mask.rowSize);
        const row = rows[r];
        if (!row || options.deterministic) slot.fill(1);
        else fillMask(slot, mask.rate, options.seed, keys[row.image]!, row.pass, k);
      }
      feeds[maskInputName(k)] = { data, dims: [batch, ...mask.rowShape] };
    });
    const output = (await this.guard(() => this.session.run(feeds, [info.outputName])))[info.outputName]!;
    return Float64Array.from(output.data.subarray(0, rows.length * info.classes));
  }

  private async guard<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw new ModelError(`${this.info.path}: onnxruntime failed to run the model (${describeError(error)})`, 'E_MODEL', { cause: error });
    }
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

/** Trunk reuse: each image the rows use, once, and per row the index of its image (the graph gathers). */
function imageFeeds(rows: Row[], images: readonly Float32Array[], info: ModelInfo): Record<string, HostTensor | IndexTensor> {
  const slots = new Map<number, number>();
  for (const row of rows) if (!slots.has(row.image)) slots.set(row.image, slots.size);
  const size = images[0]!.length;
  const stacked = new Float32Array(slots.size * size);
  for (const [image, slot] of slots) stacked.set(images[image]!, slot * size);
  return {
    [info.inputName]: { data: stacked, dims: [slots.size, ...info.inputDims.slice(1)] },
    [ROWS_INPUT]: { data: BigInt64Array.from(rows, (row) => BigInt(slots.get(row.image)!)), dims: [rows.length] },
  };
}

/** The whole graph per row: each row its own copy of its image (padded to a static batch). */
function replicatedFeeds(rows: Row[], images: readonly Float32Array[], info: ModelInfo, batch: number): Record<string, HostTensor> {
  const size = images[0]!.length;
  const data = new Float32Array(batch * size);
  rows.forEach((row, r) => data.set(images[row.image]!, r * size));
  return { [info.inputName]: { data, dims: [batch, ...info.inputDims.slice(1)] } };
}

/** What runs once per image and what runs T times, with the figures inspect reports. */
function executionPlan(split: SplitPlan | NoSplit, io: ModelIo, probe: ProbeResult, nodes: number): ExecutionPlan {
  const imageShape = io.inputDims.slice(1);
  if (!('model' in split)) {
    return {
      trunkReuse: false, cutTensors: [io.inputName], cutShapes: [imageShape], trunkNodes: 0, headNodes: nodes,
      headParameterShare: 1, headMacShare: 1, reason: split.reason,
    };
  }
  return {
    trunkReuse: true,
    cutTensors: split.cutTensors,
    cutShapes: split.cutTensors.map((t) => (t === io.inputName ? imageShape : probe.activationShapes.get(t)!)),
    trunkNodes: split.trunkNodes,
    headNodes: split.headNodes,
    headParameterShare: split.totalParameters > 0 ? split.headParameters / split.totalParameters : 0,
    headMacShare: split.totalMacs > 0 ? split.headMacs / split.totalMacs : NaN,
    reason: `every stochastic site lies after ${split.cutTensors.join(', ')}: ${split.trunkNodes} nodes run once per image, ${split.headNodes} run T times`,
  };
}

function noSplitReason(options: LoadOptions, staticBatch: number, sites: number): string {
  if (sites === 0) return 'no dropout site whose masks mc-dropout draws';
  if (options.trunkReuse === 'off') return 'trunk reuse turned off';
  return `the batch dimension is fixed to ${staticBatch}`;
}

interface Row {
  image: number;
  pass: number;
}

function chooseMaskSites(sites: StochasticSite[], file: string, options: LoadOptions): StochasticSite[] {
  const dropouts = sites.filter((s) => s.op === 'Dropout');
  const chosen = options.dropout === 'force' ? dropouts : dropouts.filter((s) => s.live);
  if (chosen.length > MAX_SITES) throw new ModelError(`${file}: ${chosen.length} dropout sites; at most ${MAX_SITES} are supported`);
  const randomOps = sites.filter((s) => s.op !== 'Dropout');
  if (chosen.length > 0 || randomOps.length > 0 || options.allowDeterministic) return chosen;
  if (dropouts.length > 0) {
    const names = dropouts.map((s) => `${s.nodeName} (${s.reason})`).join(', ');
    throw new ModelError(`${file}: its ${dropouts.length} Dropout node(s) are inert at inference: ${names}. Run with --dropout force to make them live.`, 'E_NO_LIVE_DROPOUT');
  }
  throw new ModelError(
    `${file} has no dropout, so every pass would be identical. Export it with dropout kept live (see "Bring your own model" in the README) or add dropout before the classifier.`,
    'E_NO_DROPOUT',
  );
}

function siteRate(site: StochasticSite, k: number, metadata: ModelMetadata, override: number | undefined, file: string): number {
  if (override !== undefined) {
    if (!(override >= 0 && override < 1)) throw new UsageError(`Expected a dropout rate in [0, 1) but received ${override}`);
    return override;
  }
  if (Number.isFinite(site.rate)) return site.rate;
  const fromMetadata = metadata.dropoutRates?.[k];
  if (fromMetadata !== undefined) return fromMetadata;
  throw new ModelError(`${file}: the rate of ${site.nodeName} is not a constant; give one with --dropout-rate`);
}

