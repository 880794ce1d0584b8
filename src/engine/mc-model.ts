import { availableParallelism } from 'node:os';
import { describeError, ModelError, UsageError } from '../errors.js';
import { classifierOutput, describeIo, outputsReachedFrom, type ModelIo } from '../model/io.js';
import { paddleDropouts } from '../model/inject.js';
import { readMetadata, type ModelMetadata } from '../model/metadata.js';
import { DataType, encodeModel, type GraphProto, type ModelProto } from '../model/onnx.js';
import { readModelForSession } from '../model/read.js';
import { rewriteSitesAsInputs, siteInputName } from '../model/rewrite.js';
import { describeTrainingBatchNorms, findCrossRowNode, trainingModeBatchNorms } from '../model/rows.js';
import { findStochasticSites, nestedStochasticOps, type StochasticSite } from '../model/sites.js';
import { ROWS_INPUT, splitAtStochasticSources, type NoSplit, type SplitPlan } from '../model/split.js';
import { levelGraph, type LevelPlan } from '../model/levels.js';
import { dropPathThreshold } from '../model/patterns.js';
import { checkAdaptive, type AdaptiveRule } from '../stats/adaptive.js';
import { softmaxRows } from '../stats/aggregate.js';
import { fillMask, imageKeyOf, MAX_SITES, type ImageKey } from './masks.js';
import { fillNormal, fillUniform } from './noise.js';
import { probeModel, type ProbeResult } from './probe.js';
import type { DeviceRequest } from './providers.js';
import type { HostTensor, IndexTensor, OnnxruntimeLogLevel, OptimizationLevel, Provider, RuntimeSession } from './runtime.js';
import { createOrThrow, openSession } from './sessions.js';

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
  /**
   * 'auto' (default): with DropPath sites (stochastic depth), passes whose drop decisions agree
   * compute what lies before the next site once; 'off': every pass after the trunk runs alone.
   */
  prefixSharing?: 'auto' | 'off';
  /** Graph optimization level of the session (default 'all'; dropout stays live at every level). */
  optimization?: OptimizationLevel;
  /** The class-score output by name; default: the [N, C] output the stochastic sites reach. */
  output?: string;
  /** Called with one-line warnings (e.g. CUDA fallback); the library never prints. */
  onWarning?: (message: string) => void;
  /** onnxruntime's own log on stderr for the inference sessions (default 'error'; 'verbose' shows node placement). */
  onnxruntimeLogLevel?: OnnxruntimeLogLevel;
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
  /**
   * Index of the first pass (default 0): passes firstPass .. firstPass + passes - 1 run, each with
   * the masks of its index, so a later round continues an earlier one exactly (adaptive T).
   */
  firstPass?: number;
  /**
   * Adaptive T: passes in rounds of `minPasses` until each image's estimates settle (see
   * stats/adaptive.ts); `passes` and `firstPass` are then ignored. Each image gets its own T_i, and
   * its passes are the first T_i of a fixed run with the same seed. With trunk reuse the trunk runs
   * once per image, whatever the rounds.
   */
  adaptive?: AdaptiveRule;
}

/** What mc-dropout draws for one site, per row: an inverted-dropout mask, or a random op's numbers. */
export type Draw =
  | { kind: 'mask'; rate: number }
  | { kind: 'uniform'; low: number; high: number }
  | { kind: 'normal'; mean: number; scale: number };

/** A stochastic site as the engine runs it: a graph input fed with draws keyed by (seed, image, pass, site). */
export interface DrawnSite {
  site: StochasticSite;
  /** The graph input the draws go to. */
  input: string;
  draw: Draw;
  /** Drop probability of a Dropout site; NaN for a random op. */
  rate: number;
  /** Per-row shape of the draws: the drawn tensor's shape without the batch dim, or [k, ...] for a folded site. */
  rowShape: number[];
  rowSize: number;
  /** Rows of the drawn tensor per image: 1, or k where the first dim folds batch x k (windowed attention, image-major). */
  fold: number;
}

/** Dims of a site's draws for `rows` rows (image x pass): a folded site's k rows per row go into its first dim. */
function drawDims(site: DrawnSite, rows: number): number[] {
  return site.fold > 1 ? [rows * site.fold, ...site.rowShape.slice(1)] : [rows, ...site.rowShape];
}

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
  provider: Provider;
  deviceId: number;
}

/**
 * Default budget of one session run's activations, in floats (512 MiB): rows per run and images
 * per trunk run follow from the model's activation sizes per row, seen in the probe. The sum of
 * every activation is an upper bound (onnxruntime reuses buffers), so runs stay under it.
 */
export const ACTIVATION_BUDGET_FLOATS = 128 * 1024 * 1024;
/**
 * On CPU, the trunk runs on few images at a time: summed activations of at most this many floats
 * (32 MiB) per intra-op thread. Measured on MobileNetV2 at 224x224 (13.4 M floats an image, 2
 * threads): 5.0 ms an image at 1-2 images a run against 6.7 ms at 16 (caches), and a first run of
 * 38 ms against 435 ms (onnxruntime's arena faults in memory for the largest run); end to end on 48
 * photos, 1.47 s against 1.93 s at 10 images a run. Small models still batch: 64 images of 32x32
 * make one run.
 */
export const CPU_TRUNK_FLOATS_PER_THREAD = 8 * 1024 * 1024;
/** Without activation sizes (a static batch), the budget counts the floats a run feeds. */
const ROW_BUDGET_FLOATS = 32 * 1024 * 1024;

/** How the passes are computed: all of the graph per pass, or a deterministic trunk once per image. */
export interface ExecutionPlan {
  /** Trunk reuse applies: the trunk runs once per image, only the head runs T times. */
  trunkReuse: boolean;
  /** Each (image, pass) row runs alone, because the graph mixes the rows of a run after a stochastic site. */
  rowsAlone: boolean;
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
  /** DropPath prefix sharing applies: each part after a DropPath runs once per distinct prefix of decisions. */
  prefixSharing: boolean;
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
    /** The split as separate trunk and head graphs, opened on first use (adaptive T), with how to open them. */
    private readonly parts?: { trunk: ModelProto; head: ModelProto; open: (model: ModelProto) => Promise<RuntimeSession> },
    /** DropPath prefix sharing: the level graph's row inputs, and each site's DropPath threshold (undefined: every pass its own). */
    private readonly levels?: { plan: LevelPlan; thresholds: (number | undefined)[] },
  ) {}

  private partSessions?: Promise<{ trunk: RuntimeSession; head: RuntimeSession }>;

  /** Loads, rewrites and opens a model. Throws ModelError / ProviderError / UsageError. */
  static async load(file: string, options: LoadOptions = {}): Promise<McModel> {
    // onnxruntime reads every large weight from the files themselves: no copy of them stays here
    const { model: proto, folder, sha256, externalFiles } = await readModelForSession(file);
    const metadata = readMetadata(proto, file);
    const sites = findStochasticSites(proto);
    const chosen = chooseSites(sites, proto, file, options);
    // the class-score output: among several, the one the stochastic sites reach
    const graph = proto.graph!;
    const io = describeIo(proto, file, metadata, options.inputSize, {
      ...(options.output !== undefined && { name: options.output }), reached: outputsReachedFrom(graph, chosen.map((s) => s.output)),
    });
    checkSitesReach(chosen, graph, io.outputName, file, options);
    const batchNorms = trainingModeBatchNorms(proto);
    if (batchNorms.length > 0) throw new ModelError(`${file}: ${describeTrainingBatchNorms(batchNorms)}`, 'E_BATCH_DEPENDENT');
    const draws = drawsOf(chosen, metadata, options.dropoutRate, file);
    const staticBatch = io.inputDims[0]! > 0 ? io.inputDims[0]! : 0;
    // batch 1 and 2 are probed whenever the batch is dynamic: for trunk reuse, for random ops whose
    // draws must follow the batch, and to find rows that see each other
    const probe = await probeModel(proto, chosen, io, { withActivations: staticBatch === 0 && chosen.length > 0, file, ...(folder && { externalDataFolder: folder }) });
    const drawnSites: DrawnSite[] = chosen.map((site, k) => ({
      site, input: siteInputName(site, k), draw: draws[k]!, rate: draws[k]!.kind === 'mask' ? draws[k]!.rate : NaN,
      rowShape: probe.siteShapes[k]!, rowSize: probe.siteShapes[k]!.reduce((a, b) => a * b, 1), fold: probe.siteFolds[k] ?? 1,
    }));
    const rewritten = rewriteSitesAsInputs(proto, chosen, probe.siteTypes);
    const sources = drawnSites.map((s) => s.input);
    const crossRow = staticBatch === 0 ? findCrossRowNode(rewritten, sources, probe.notPerRow) : undefined;
    const split = options.trunkReuse !== 'off' && staticBatch === 0 && chosen.length > 0 && !crossRow
      ? splitAtStochasticSources(rewritten, sources, probe.batchMajor, probe.activationShapes, probe.activationTypes)
      : { reason: crossRow ? `rows would see each other: ${crossRow.opType} ${crossRow.name ?? ''} mixes the rows of a run after a stochastic site, so each (image, pass) runs alone` : noSplitReason(options, staticBatch, chosen.length) };
    // stochastic depth: passes whose DropPath decisions agree share what comes before the next site
    // (float32 draws only: the decision is taken here on the same float32 number the graph compares)
    const thresholds = drawnSites.map((s, k) => (s.draw.kind === 'uniform' && probe.siteTypes[k] === DataType.FLOAT ? dropPathThreshold(proto, s.site, s.rowShape) : undefined));
    const levelPlan = 'model' in split && options.prefixSharing !== 'off' && thresholds.some((t) => t !== undefined) ? levelGraph(rewritten, sources, probe.batchMajor) : undefined;
    const levels = levelPlan && 'model' in levelPlan ? { plan: levelPlan, thresholds } : undefined;
    const plan = executionPlan(split, io, probe, rewritten.graph!.node!.length, Boolean(crossRow), levels?.plan);

    const opened = await openSession(encodeModel(levels ? levels.plan.model : 'model' in split ? split.model : rewritten), options, file, folder);
    const fedFloats = plan.cutShapes.reduce((a, s) => a + s.reduce((x, y) => x * y, 1), 0) + drawnSites.reduce((a, s) => a + s.rowSize, 0);
    const imageActivations = [...probe.activationShapes.values()].reduce((a, shape) => a + shape.reduce((x, y) => x * y, 1), 0);
    const rowActivations = 'model' in split ? split.headRowFloats : imageActivations;
    const rowsByBudget = imageActivations > 0 ? Math.floor(ACTIVATION_BUDGET_FLOATS / (rowActivations + fedFloats)) : Math.floor(ROW_BUDGET_FLOATS / fedFloats);
    const maxRowsPerRun = staticBatch || (crossRow ? 1 : Math.max(1, options.maxRowsPerRun ?? Math.min(4096, rowsByBudget)));
    const trunkFloats = opened.provider === 'cpu' ? Math.min(ACTIVATION_BUDGET_FLOATS, CPU_TRUNK_FLOATS_PER_THREAD * (options.threads || availableParallelism())) : ACTIVATION_BUDGET_FLOATS;
    const imagesPerTrunkRun = Math.max(1, Math.floor(imageActivations > 0 ? trunkFloats / imageActivations : ROW_BUDGET_FLOATS / io.inputDims.slice(1).reduce((a, b) => a * b, 1)));
    const info: ModelInfo = {
      path: file, sha256, externalFiles,
      ...io, sites, drawnSites, metadata, provider: opened.provider, deviceId: opened.deviceId,
    };
    const settings = {
      provider: opened.provider, deviceId: opened.deviceId, threads: options.threads ?? 0, optimization: options.optimization ?? 'all',
      spinning: options.idleThreadsSpin ?? true, ...(folder && { externalDataFolder: folder }),
      ...(options.onnxruntimeLogLevel && { logLevel: options.onnxruntimeLogLevel }),
    } as const;
    // a float16 cut kept between sessions would be rounded to float16, where onnxruntime's CPU
    // kernels carry it in float32 inside one graph (measured: 1e-4 apart): such models run their
    // adaptive rounds on the whole split graph, so their passes stay a fixed run's, bit for bit
    const floatCut = 'model' in split && split.cutTensors.every((t) => t === io.inputName || probe.activationTypes.get(t) === DataType.FLOAT);
    const parts = 'model' in split && floatCut && !levels
      ? { trunk: split.trunkModel, head: split.headModel, open: (part: ModelProto) => createOrThrow(encodeModel(part), settings, file) }
      : undefined;
    return new McModel(info, plan, opened.session, maxRowsPerRun, imagesPerTrunkRun, parts, levels);
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
    if (options.adaptive && !options.deterministic) return this.predictAdaptive(images, options.seed, options.adaptive);
    const scores = await this.predictScores(images, options);
    return scores.map((s) => this.probabilities(s));
  }

  /** Raw outputs [rows, C] as probabilities. */
  private probabilities(scores: Float64Array): Float64Array {
    return this.info.outputIsProbabilities ? scores : softmaxRows(scores, this.info.classes);
  }

  /** Adaptive T: the images in one pool, rounds until every one has settled; per image [T_i, C]. */
  private async predictAdaptive(images: readonly Float32Array[], seed: number, rule: AdaptiveRule): Promise<Float64Array[]> {
    const pool = new AdaptivePool(this, seed, rule);
    const ids = await pool.add(images);
    const out = new Map<number, Float64Array>();
    while (pool.active > 0) for (const done of await pool.round()) out.set(done.id, done.probs);
    return ids.map((id) => out.get(id)!);
  }

  /**
   * What passes of an image need besides its masks' key: with a trunk/head split whose cut is
   * float32, the cut tensors (the trunk runs here, once); else the image itself.
   * @internal (AdaptivePool)
   */
  async prepare(images: readonly Float32Array[]): Promise<PreparedImage[]> {
    const prepared: PreparedImage[] = images.map((image) => ({ image, key: imageKeyOf(image) }));
    if (!this.plan.trunkReuse || !this.parts) return prepared;
    const { trunk } = await this.openParts();
    const { info, plan } = this;
    const computed = plan.cutTensors.filter((name) => name !== info.inputName);
    prepared.forEach((p) => { p.cut = new Map(plan.cutTensors.includes(info.inputName) ? [[info.inputName, p.image]] : []); });
    for (let start = 0; start < images.length && computed.length > 0; start += this.imagesPerTrunkRun) {
      const group = images.slice(start, start + this.imagesPerTrunkRun);
      const stacked = new Float32Array(group.length * this.imageSize);
      group.forEach((image, i) => stacked.set(image, i * this.imageSize));
      const out = await this.guard(() => trunk.run({ [info.inputName]: { data: stacked, dims: [group.length, ...info.inputDims.slice(1)] } }, computed));
      for (const name of computed) {
        const size = out[name]!.data.length / group.length;
        group.forEach((_, i) => prepared[start + i]!.cut!.set(name, out[name]!.data.slice(i * size, (i + 1) * size)));
      }
    }
    return prepared;
  }

  /**
   * Runs passes first .. first + passes - 1 of each requested image (each its own range), through
   * the head graph where the images carry their cut, else the whole (split) graph; per request its
   * probabilities [passes, C]. @internal (AdaptivePool)
   */
  async runPasses(prepared: readonly PreparedImage[], requests: readonly { image: number; first: number; passes: number }[], seed: number): Promise<Float64Array[]> {
    const { info } = this;
    const classes = info.classes;
    const results = requests.map((r) => new Float64Array(r.passes * classes));
    const rows: (Row & { request: number })[] = [];
    requests.forEach((r, request) => { for (let t = 0; t < r.passes; t++) rows.push({ image: r.image, pass: t, index: r.first + t, request }); });
    const keys = prepared.map((p) => p.key);
    const viaHead = prepared.length > 0 && prepared.every((p) => p.cut);
    const head = viaHead ? (await this.openParts()).head : undefined;
    const rowShapes = new Map(this.plan.cutTensors.map((name, k) => [name, this.plan.cutShapes[k]!]));
    const perImage = new Map(viaHead ? this.plan.cutTensors.map((name) => [name, prepared.map((p) => p.cut!.get(name)!)]) : []);
    // a chunk: at most maxRowsPerRun rows, and (whole graph with trunk reuse) at most imagesPerTrunkRun images
    const imageLimit = !viaHead && this.plan.trunkReuse ? this.imagesPerTrunkRun : Infinity;
    for (let start = 0; start < rows.length;) {
      const images = new Set<number>();
      let end = start;
      while (end < rows.length && end - start < this.maxRowsPerRun && (images.has(rows[end]!.image) || images.size < imageLimit)) images.add(rows[end++]!.image);
      const chunk = rows.slice(start, end);
      let scores: Float64Array;
      if (head) {
        const feeds = gatheredFeeds(chunk, perImage, rowShapes);
        this.addDraws(feeds, chunk, keys, chunk.length, { seed });
        const output = (await this.guard(() => head.run(feeds, [info.outputName])))[info.outputName]!;
        scores = Float64Array.from(output.data.subarray(0, chunk.length * classes));
      } else {
        scores = await this.runRows(chunk, prepared.map((p) => p.image), keys, { passes: 1, seed });
      }
      const probs = this.probabilities(scores);
      chunk.forEach((row, r) => results[row.request]!.set(probs.subarray(r * classes, (r + 1) * classes), row.pass * classes));
      start = end;
    }
    return results;
  }

  private openParts(): Promise<{ trunk: RuntimeSession; head: RuntimeSession }> {
    const parts = this.parts!;
    this.partSessions ??= Promise.all([parts.open(parts.trunk), parts.open(parts.head)]).then(([trunk, head]) => ({ trunk, head }));
    return this.partSessions;
  }

  /** Like predict, but the model's raw outputs per pass (logits, or probabilities if it ends in Softmax). */
  async predictScores(images: readonly Float32Array[], options: PredictOptions): Promise<Float64Array[]> {
    const passes = options.deterministic ? 1 : options.passes;
    const first = options.firstPass ?? 0;
    if (!Number.isInteger(first) || first < 0) throw new UsageError(`Expected an integer >= 0 for firstPass but received ${options.firstPass}`);
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
    if (this.levels) return this.runLevels(rows, images, keys, options);
    const feeds: Record<string, HostTensor | IndexTensor> = this.plan.trunkReuse
      ? gatheredFeeds(rows, new Map([[info.inputName, images]]), new Map([[info.inputName, info.inputDims.slice(1)]]))
      : replicatedFeeds(rows, images, info, batch);
    this.addDraws(feeds, rows, keys, batch, options);
    const output = (await this.guard(() => this.session.run(feeds, [info.outputName])))[info.outputName]!;
    return Float64Array.from(output.data.subarray(0, rows.length * info.classes));
  }

  /**
   * DropPath prefix sharing: rows grouped level by level (level k: the rows' groups at level k - 1
   * and their decision at site k, u < threshold; a site that is not DropPath gives each row its own
   * group), each group run once with the draws of its first row; raw outputs [rows, C].
   */
  private async runLevels(rows: Row[], images: readonly Float32Array[], keys: ImageKey[], options: { seed: number; deterministic?: boolean }): Promise<Float64Array> {
    const { info } = this;
    const { plan, thresholds } = this.levels!;
    const sites = info.drawnSites;
    // group of each row per level, each group's parent and first row
    const groupOf: Int32Array[] = [];
    const parentOf: number[][] = [];
    const firstRow: number[][] = [];
    const slots = new Map<number, number>();
    const level0 = new Int32Array(rows.length);
    const first0: number[] = [];
    rows.forEach((row, r) => {
      if (!slots.has(row.image)) {
        slots.set(row.image, slots.size);
        first0.push(r);
      }
      level0[r] = slots.get(row.image)!;
    });
    groupOf.push(level0);
    parentOf.push([]);
    firstRow.push(first0);
    const u = new Float32Array(1);
    sites.forEach((site, k) => {
      const previous = groupOf[k]!;
      const groups = new Map<string, number>();
      const mine = new Int32Array(rows.length);
      const parents: number[] = [];
      const firsts: number[] = [];
      rows.forEach((row, r) => {
        let decision: number = r;
        const threshold = thresholds[k];
        if (threshold !== undefined) {
          if (options.deterministic) u[0] = typicalValue(site.draw);
          else fillDraws(u, site.draw, options.seed, keys[row.image]!, row.index, k);
          decision = u[0]! < threshold ? 1 : 0;
        }
        const key = `${previous[r]}:${decision}`;
        let g = groups.get(key);
        if (g === undefined) {
          g = groups.size;
          groups.set(key, g);
          parents.push(previous[r]!);
          firsts.push(r);
        }
        mine[r] = g;
      });
      groupOf.push(mine);
      parentOf.push(parents);
      firstRow.push(firsts);
    });
    const size = images[0]!.length;
    const stacked = new Float32Array(slots.size * size);
    for (const [image, slot] of slots) stacked.set(images[image]!, slot * size);
    const feeds: Record<string, HostTensor | IndexTensor> = { [info.inputName]: { data: stacked, dims: [slots.size, ...info.inputDims.slice(1)] } };
    for (const gather of plan.gathers) {
      const index = firstRow[gather.level]!.map((_, g) => {
        let group = g;
        for (let l = gather.level; l > gather.from; l--) group = parentOf[l]![group]!;
        return BigInt(group);
      });
      feeds[gather.input] = { data: BigInt64Array.from(index), dims: [index.length] };
    }
    sites.forEach((site, k) => {
      const groups = firstRow[k + 1]!;
      const data = new Float32Array(groups.length * site.rowSize);
      groups.forEach((r, g) => {
        const slot = data.subarray(g * site.rowSize, (g + 1) * site.rowSize);
        if (options.deterministic) slot.fill(typicalValue(site.draw));
        else fillDraws(slot, site.draw, options.seed, keys[rows[r]!.image]!, rows[r]!.index, k);
      });
      feeds[site.input] = { data, dims: drawDims(site, groups.length) };
    });
    const output = (await this.guard(() => this.session.run(feeds, [info.outputName])))[info.outputName]!;
    const classes = info.classes;
    const result = new Float64Array(rows.length * classes);
    const last = groupOf[plan.outputLevel]!;
    for (let r = 0; r < rows.length; r++) result.set(output.data.subarray(last[r]! * classes, (last[r]! + 1) * classes), r * classes);
    return result;
  }

  /** Each site's draws for the rows (padding rows of a static batch, and deterministic passes, get the site's typical value). */
  private addDraws(feeds: Record<string, HostTensor | IndexTensor>, rows: Row[], keys: ImageKey[], batch: number, options: { seed: number; deterministic?: boolean }): void {
    this.info.drawnSites.forEach((site, k) => {
      const data = new Float32Array(batch * site.rowSize);
      for (let r = 0; r < batch; r++) {
        const slot = data.subarray(r * site.rowSize, (r + 1) * site.rowSize);
        const row = rows[r];
        if (!row || options.deterministic) slot.fill(typicalValue(site.draw));
        else fillDraws(slot, site.draw, options.seed, keys[row.image]!, row.index, k);
      }
      feeds[site.input] = { data, dims: drawDims(site, batch) };
    });
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
    if (this.partSessions) {
      const { trunk, head } = await this.partSessions;
      await Promise.all([trunk.release(), head.release()]);
    }
  }
}

/**
 * Trunk reuse: each per-image input (the images, or the cut tensors of a head graph) once per image
 * the rows use, and per row the index of its image (the graph gathers).
 */
function gatheredFeeds(rows: Row[], perImage: ReadonlyMap<string, readonly Float32Array[]>, rowShapes: ReadonlyMap<string, readonly number[]>): Record<string, HostTensor | IndexTensor> {
  const slots = new Map<number, number>();
  for (const row of rows) if (!slots.has(row.image)) slots.set(row.image, slots.size);
  const feeds: Record<string, HostTensor | IndexTensor> = {
    [ROWS_INPUT]: { data: BigInt64Array.from(rows, (row) => BigInt(slots.get(row.image)!)), dims: [rows.length] },
  };
  for (const [name, tensors] of perImage) {
    const size = tensors[0]!.length;
    const stacked = new Float32Array(slots.size * size);
    for (const [image, slot] of slots) stacked.set(tensors[image]!, slot * size);
    feeds[name] = { data: stacked, dims: [slots.size, ...rowShapes.get(name)!] };
  }
  return feeds;
}

/** The whole graph per row: each row its own copy of its image (padded to a static batch). */
function replicatedFeeds(rows: Row[], images: readonly Float32Array[], info: ModelInfo, batch: number): Record<string, HostTensor> {
  const size = images[0]!.length;
  const data = new Float32Array(batch * size);
  rows.forEach((row, r) => data.set(images[row.image]!, r * size));
  return { [info.inputName]: { data, dims: [batch, ...info.inputDims.slice(1)] } };
}

/** What runs once per image and what runs T times, with the figures inspect reports. */
function executionPlan(split: SplitPlan | NoSplit, io: ModelIo, probe: ProbeResult, nodes: number, rowsAlone: boolean, levels?: LevelPlan): ExecutionPlan {
  const imageShape = io.inputDims.slice(1);
  if (!('model' in split)) {
    return {
      trunkReuse: false, rowsAlone, cutTensors: [io.inputName], cutShapes: [imageShape], trunkNodes: 0, headNodes: nodes,
      headParameterShare: 1, headMacShare: 1, reason: split.reason, prefixSharing: false,
    };
  }
  const sharing = levels ? `; DropPath prefix sharing: passes whose DropPath decisions agree compute once what lies before the next site (${levels.nodesPerLevel.length - 1} levels)` : '';
  return {
    trunkReuse: true,
    rowsAlone,
    cutTensors: split.cutTensors,
    cutShapes: split.cutTensors.map((t) => (t === io.inputName ? imageShape : probe.activationShapes.get(t)!)),
    trunkNodes: split.trunkNodes,
    headNodes: split.headNodes,
    headParameterShare: split.totalParameters > 0 ? split.headParameters / split.totalParameters : 0,
    headMacShare: split.totalMacs > 0 ? split.headMacs / split.totalMacs : NaN,
    reason: `every stochastic site lies after ${split.cutTensors.join(', ')}: ${split.trunkNodes} nodes run once per image, ${split.headNodes} run T times${sharing}`,
    prefixSharing: Boolean(levels),
  };
}

function noSplitReason(options: LoadOptions, staticBatch: number, sites: number): string {
  if (sites === 0) return 'no dropout site whose masks mc-dropout draws';
  if (options.trunkReuse === 'off') return 'trunk reuse turned off';
  return `the batch dimension is fixed to ${staticBatch}`;
}

interface Row {
  image: number;
  /** Position of the pass in this call's results. */
  pass: number;
  /** The pass's index, which keys its masks: firstPass + pass. */
  index: number;
}

/**
 * The sites mc-dropout draws for, in graph order: live Dropout nodes (all with dropout 'force') and
 * every random op. Refuses random ops it cannot draw and stochastic ops it cannot reach.
 */
function chooseSites(sites: StochasticSite[], model: ModelProto, file: string, options: LoadOptions): StochasticSite[] {
  const nested = nestedStochasticOps(model);
  if (nested.length > 0) {
    throw new ModelError(`${file}: ${nested.join('; ')}: mc-dropout draws only for ops of the main graph, so these would keep onnxruntime's generator (or vanish under its optimizer). Export without local functions (torch.onnx.export(..., dynamo=True) inlines them by default) or move the layer out of the control-flow op.`, 'E_NESTED_STOCHASTIC');
  }
  const unsupported = sites.find((s) => s.op !== 'Dropout' && !s.distribution);
  if (unsupported) throw new ModelError(`${file}: ${unsupported.op} ${unsupported.nodeName} is not supported: mc-dropout draws for Dropout, RandomUniform(Like), RandomNormal(Like) and Bernoulli`, 'E_UNSUPPORTED_RANDOM_OP');
  const dropouts = sites.filter((s) => s.op === 'Dropout');
  const chosen = sites.filter((s) => s.op !== 'Dropout' || s.live || options.dropout === 'force');
  if (chosen.length > MAX_SITES) throw new ModelError(`${file}: ${chosen.length} stochastic sites; at most ${MAX_SITES} are supported`);
  if (chosen.length > 0 || options.allowDeterministic) return chosen;
  if (dropouts.length > 0) {
    const names = dropouts.map((s) => `${s.nodeName} (${s.reason})`).join(', ');
    throw new ModelError(`${file}: its ${dropouts.length} Dropout node(s) are inert at inference: ${names}. Run with --dropout force to make them live.`, 'E_NO_LIVE_DROPOUT');
  }
  const graph = model.graph ?? {};
  const paddle = graph.output?.length ? paddleDropouts(graph, classifierOutput(graph, file, { ...(options.output !== undefined && { name: options.output }) }).name ?? '') : [];
  if (paddle.length > 0) {
    throw new ModelError(
      `${file} has no dropout left, but ${paddle.map((d) => `Mul ${d.node}`).join(', ')} ${paddle.length === 1 ? 'looks' : 'look'} like Paddle's downgrade_in_infer dropout (x * (1 - p), as paddle2onnx writes it). Make it random again: mc-dropout convert ${file} --revive-paddle -o model-mc.onnx`,
      'E_NO_DROPOUT',
    );
  }
  throw new ModelError(
    `${file} has no dropout, so every pass would be identical. Export it with dropout kept live (docs/models.md, "Bring your own model"), or add dropout: before the classifier with mc-dropout convert ${file} --inject-rate 0.2 -o model-mc.onnx, or at tensors of your choice with --inject-at TENSOR:0.2 (mc-dropout inspect lists candidates). Exporters such as paddle2onnx and tf2onnx delete dropout.`,
    'E_NO_DROPOUT',
  );
}

/**
 * Every chosen site must change the class scores: a site on a branch that never reaches the output
 * is a warning, and no site reaching it (every pass identical, mutual information 0) is refused.
 */
function checkSitesReach(chosen: StochasticSite[], graph: GraphProto, output: string, file: string, options: LoadOptions): void {
  const idle = chosen.filter((s) => !outputsReachedFrom(graph, [s.output]).has(output));
  if (idle.length === 0) return;
  const names = idle.map((s) => `${s.op} ${s.nodeName}`).join(', ');
  if (idle.length === chosen.length && !options.allowDeterministic) {
    throw new ModelError(`${file}: no stochastic site reaches the output '${output}' (${names} ${idle.length === 1 ? 'lies' : 'lie'} on branches that never reach it), so every pass would be identical; put dropout on the path to the classifier`, 'E_SITES_UNREACHED');
  }
  options.onWarning?.(`${names} never ${idle.length === 1 ? 'reaches' : 'reach'} the output '${output}': ${idle.length === 1 ? 'it changes' : 'they change'} nothing`);
}

/** What each chosen site draws: Dropout masks at their rate (overridden, or from metadata when not constant), random ops their distribution. */
function drawsOf(chosen: StochasticSite[], metadata: ModelMetadata, override: number | undefined, file: string): Draw[] {
  if (override !== undefined && !(override >= 0 && override < 1)) throw new UsageError(`Expected a dropout rate in [0, 1) but received ${override}`);
  let dropoutIndex = 0;
  return chosen.map((site) => {
    if (site.distribution) {
      // Bernoulli(p) is drawn as a uniform u in [0, 1), compared with p in the graph
      const d = site.distribution;
      return d.kind === 'normal' ? { kind: 'normal', mean: d.mean, scale: d.scale } : d.kind === 'uniform' ? { kind: 'uniform', low: d.low, high: d.high } : { kind: 'uniform', low: 0, high: 1 };
    }
    const k = dropoutIndex++;
    if (override !== undefined) return { kind: 'mask', rate: override };
    if (Number.isFinite(site.rate)) return { kind: 'mask', rate: site.rate };
    const fromMetadata = metadata.dropoutRates?.[k];
    if (fromMetadata !== undefined) return { kind: 'mask', rate: fromMetadata };
    throw new ModelError(`${file}: the rate of ${site.nodeName} is not a constant; give one with --dropout-rate`);
  });
}

/** One row of a site's draws for (seed, image, pass, site k). */
function fillDraws(out: Float32Array, draw: Draw, seed: number, image: ImageKey, pass: number, k: number): void {
  if (draw.kind === 'mask') fillMask(out, draw.rate, seed, image, pass, k);
  else if (draw.kind === 'uniform') fillUniform(out, draw.low, draw.high, seed, image, pass, k);
  else fillNormal(out, draw.mean, draw.scale, seed, image, pass, k);
}

/**
 * What a deterministic pass feeds a site: a Dropout keeps everything (its eval-mode output); a random
 * op gets its median, so a Bernoulli-style threshold takes its more likely outcome and noise is zero.
 */
function typicalValue(draw: Draw): number {
  if (draw.kind === 'mask') return 1;
  return draw.kind === 'uniform' ? (draw.low + draw.high) / 2 : draw.mean;
}


/** An image ready for passes: its masks' key and, with a float32 trunk/head split, its cut tensors. */
export interface PreparedImage {
  image: Float32Array;
  key: ImageKey;
  cut?: Map<string, Float32Array>;
}

/**
 * Adaptive T over a stream of images: add images at any time, run rounds, take the images that
 * finished. Each round gives every active image `minPasses` more passes (fewer at maxPasses), with
 * the masks of their indices, so an image's passes are those of a fixed run, and its stop (see
 * stats/adaptive.ts) depends on its own passes alone: adding images between rounds (refilling a
 * batch as its images finish) changes nothing in any image's result.
 */
export class AdaptivePool {
  private readonly entries = new Map<number, { prepared: PreparedImage; probs: Float64Array }>();
  private nextId = 0;

  constructor(private readonly model: McModel, private readonly seed: number, private readonly rule: AdaptiveRule) {
    if (!(Number.isInteger(rule.minPasses) && rule.minPasses >= 1 && Number.isInteger(rule.maxPasses) && rule.maxPasses >= rule.minPasses)) {
      throw new UsageError(`Expected integers 1 <= minPasses <= maxPasses but received ${rule.minPasses} and ${rule.maxPasses}`);
    }
  }

  /** Images still running. */
  get active(): number {
    return this.entries.size;
  }

  /** Adds images (with trunk reuse, their trunk runs now); returns their ids, in order. */
  async add(images: readonly Float32Array[]): Promise<number[]> {
    const prepared = await this.model.prepare(images);
    return prepared.map((p) => {
      const id = this.nextId++;
      this.entries.set(id, { prepared: p, probs: new Float64Array(0) });
      return id;
    });
  }

  /** One round for every active image; returns those that settled (or reached maxPasses), with their probabilities [T_i, C]. */
  async round(): Promise<{ id: number; probs: Float64Array }[]> {
    const classes = this.model.info.classes;
    const ids = [...this.entries.keys()];
    const entries = ids.map((id) => this.entries.get(id)!);
    const requests = entries.map((e, image) => {
      const done = e.probs.length / classes;
      return { image, first: done, passes: Math.min(this.rule.minPasses, this.rule.maxPasses - done) };
    });
    const round = await this.model.runPasses(entries.map((e) => e.prepared), requests, this.seed);
    const finished: { id: number; probs: Float64Array }[] = [];
    entries.forEach((e, i) => {
      const grown = new Float64Array(e.probs.length + round[i]!.length);
      grown.set(e.probs);
      grown.set(round[i]!, e.probs.length);
      e.probs = grown;
      if (checkAdaptive(grown, classes, this.rule).done) {
        this.entries.delete(ids[i]!);
        finished.push({ id: ids[i]!, probs: grown });
      }
    });
    return finished;
  }
}
