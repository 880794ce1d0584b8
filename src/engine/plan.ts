/**
 * Planning a loaded model's runs, with no session: the graph to open (whole, trunk/head split, or
 * prefix levels), what runs once per image and what T times, and how many rows and images one
 * session run takes.
 */
import { availableParallelism } from 'node:os';
import { describeDecision } from '../model/drop-decisions.js';
import type { OnnxGraph } from '../model/graph.js';
import { rewriteSitesAsInputs } from '../model/rewrite.js';
import type { ModelIo } from '../model/signature.js';
import { findCrossRowNode } from '../model/batch-dependence.js';
import { splitAtStochasticSources, type NoSplit, type SplitPlan } from '../model/trunk-split.js';
import type { DrawnSite } from './draws.js';
import type { LoadOptions } from './options.js';
import { prefixLevelsOf, type PrefixLevels } from './prefix-sharing.js';
import type { ProbeResult } from './probe.js';
import type { Provider } from './runtime.js';

/**
 * Default budget of one session run's activations, in floats (512 MiB): rows per run and images
 * per trunk run follow from the model's activation sizes per row, seen in the probe. The sum of
 * every activation is an upper bound (onnxruntime reuses buffers), so runs stay under it.
 */
const ACTIVATION_BUDGET_FLOATS = 128 * 1024 * 1024;
/**
 * On CPU, the trunk runs on few images at a time: summed activations of at most this many floats
 * (32 MiB) per intra-op thread. Measured on MobileNetV2 at 224x224 (13.4 M floats an image, 2
 * threads): 5.0 ms an image at 1-2 images a run against 6.7 ms at 16 (caches), and a first run of
 * 38 ms against 435 ms (onnxruntime's arena faults in memory for the largest run); end to end on 48
 * photos, 1.47 s against 1.93 s at 10 images a run. Small models still batch: 64 images of 32x32
 * make one run.
 */
const CPU_TRUNK_FLOATS_PER_THREAD = 8 * 1024 * 1024;
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
  /** The sites whose per-sample decision prefix sharing groups passes by (node index in the model, the decision as inspect says it). */
  sharedSites: { nodeIndex: number; decision: string }[];
  /** What the probe learns of the model came from the cache (LoadOptions.cacheFolder), not from a probe. */
  probeCached: boolean;
}

/** The graph to open and how its passes run. */
export interface RunGraph {
  /** The model the session opens: the level graph, the split graph, or the model with its sites as inputs. */
  model: OnnxGraph;
  plan: ExecutionPlan;
  split: SplitPlan | NoSplit;
  levels?: PrefixLevels;
}

/**
 * Plans the graph for drawn `sites` of `model`: sites become graph inputs, then the trunk is split
 * off when every site lies after it and rows stay apart, and DropPath levels are cut when they apply.
 * `staticBatch`: the model's fixed batch (0 when dynamic).
 */
export function planGraph(
  model: OnnxGraph,
  sites: readonly DrawnSite[],
  io: ModelIo,
  probe: ProbeResult,
  staticBatch: number,
  options: LoadOptions,
  probeCached = false,
): RunGraph {
  const rewritten = rewriteSitesAsInputs(
    model,
    sites.map((s) => s.site),
    probe.siteTypes,
  );
  const sources = sites.map((s) => s.input);
  const crossRow = staticBatch === 0 ? findCrossRowNode(rewritten, sources, probe.notPerRow) : undefined;
  const split: SplitPlan | NoSplit =
    options.trunkReuse !== 'off' && staticBatch === 0 && sites.length > 0 && !crossRow
      ? splitAtStochasticSources(rewritten, sources, probe.batchMajor, probe.activationShapes, probe.activationTypes)
      : {
          reason: crossRow
            ? `rows would see each other: ${crossRow.opType} ${crossRow.name ?? ''} mixes the rows of a run after a stochastic site, so each (image, pass) runs alone`
            : noSplitReason(options, staticBatch, sites.length),
        };
  // stochastic depth: passes whose DropPath decisions agree share what comes before the next site
  const levels = 'model' in split && options.prefixSharing !== 'off' ? prefixLevelsOf(model, rewritten, sites, probe.siteTypes, probe.batchMajor) : undefined;
  const plan = { ...executionPlan(split, io, probe, rewritten.nodeCount, Boolean(crossRow), levels && { levels, sites }), probeCached };
  return { model: levels ? levels.plan.model : 'model' in split ? split.model : rewritten, plan, split, levels };
}

/** Class-score maps alive per row besides the probed activations: the probabilities, their logs, their product, and the probabilities and raw scores JavaScript receives. */
const MAP_COPIES = 5;
/** Floats of maps one session run may hold (64 MiB): a 21-class 512 x 512 map is 5.5 M floats a copy. */
const MAP_RUN_FLOATS = 16 * 1024 * 1024;

/**
 * How much one session run takes: rows (image x pass), from the activation budget and the floats
 * each row is fed, and images whose trunk one run computes (fewer on CPU, where caches favor small
 * trunk runs).
 */
export function runLimits(
  graph: RunGraph,
  sites: readonly DrawnSite[],
  io: ModelIo,
  probe: ProbeResult,
  staticBatch: number,
  provider: Provider,
  options: LoadOptions,
): { rowsPerRun: number; imagesPerTrunkRun: number } {
  const { plan, split } = graph;
  const fedFloats = plan.cutShapes.reduce((a, s) => a + s.reduce((x, y) => x * y, 1), 0) + sites.reduce((a, s) => a + s.rowSize, 0);
  const imageActivations = [...probe.activationShapes.values()].reduce((a, shape) => a + shape.reduce((x, y) => x * y, 1), 0);
  // a map's per-pass statistics (model/map-statistics.ts) and the copies handed to JavaScript are not among the probed activations
  const mapFloats = io.map && io.map.height > 0 && io.map.width > 0 ? io.classes * io.map.height * io.map.width * MAP_COPIES : 0;
  const rowActivations = ('model' in split ? split.headRowFloats : imageActivations) + mapFloats;
  const rowsByBudget = imageActivations > 0 ? Math.floor(ACTIVATION_BUDGET_FLOATS / (rowActivations + fedFloats)) : Math.floor(ROW_BUDGET_FLOATS / fedFloats);
  // large maps run few rows at once: 21 x 512 x 512 maps ran 1.5x faster and 300 MiB smaller one row a run than 20 (npm run bench -- --segmentation)
  const rowsByMaps = mapFloats > 0 ? Math.max(1, Math.floor(MAP_RUN_FLOATS / mapFloats)) : 4096;
  const rowsPerRun = staticBatch || (plan.rowsAlone ? 1 : Math.max(1, options.maxRowsPerRun ?? Math.min(4096, rowsByBudget, rowsByMaps)));
  const trunkFloats =
    provider === 'cpu'
      ? Math.min(ACTIVATION_BUDGET_FLOATS, CPU_TRUNK_FLOATS_PER_THREAD * (options.threads || availableParallelism()))
      : ACTIVATION_BUDGET_FLOATS;
  const imagesPerTrunkRun = Math.max(
    1,
    Math.floor(imageActivations > 0 ? trunkFloats / imageActivations : ROW_BUDGET_FLOATS / io.inputDims.slice(1).reduce((a, b) => a * b, 1)),
  );
  return { rowsPerRun, imagesPerTrunkRun };
}

/** What runs once per image and what runs T times, with the figures inspect reports. */
function executionPlan(
  split: SplitPlan | NoSplit,
  io: ModelIo,
  probe: ProbeResult,
  nodes: number,
  rowsAlone: boolean,
  sharing?: { levels: PrefixLevels; sites: readonly DrawnSite[] },
): Omit<ExecutionPlan, 'probeCached'> {
  const imageShape = io.inputDims.slice(1);
  if (!('model' in split)) {
    return {
      trunkReuse: false,
      rowsAlone,
      cutTensors: [io.inputName],
      cutShapes: [imageShape],
      trunkNodes: 0,
      headNodes: nodes,
      headParameterShare: 1,
      headMacShare: 1,
      reason: split.reason,
      prefixSharing: false,
      sharedSites: [],
    };
  }
  const sharedSites = sharing
    ? sharing.sites.flatMap((s, k) => {
        const decision = sharing.levels.decisions[k];
        return decision ? [{ nodeIndex: s.site.nodeIndex, decision: describeDecision(decision) }] : [];
      })
    : [];
  const levelNote = sharing
    ? `; DropPath prefix sharing: passes whose drop decisions agree compute once what lies before the next site (${plural(sharing.levels.plan.nodesPerLevel.length - 1, 'level')}; ${sharedSites.length} of ${plural(sharing.sites.length, 'site')} decide per sample)`
    : '';
  return {
    trunkReuse: true,
    rowsAlone,
    cutTensors: split.cutTensors,
    cutShapes: split.cutTensors.map((t) => (t === io.inputName ? imageShape : probe.activationShapes.get(t)!)),
    trunkNodes: split.trunkNodes,
    headNodes: split.headNodes,
    headParameterShare: split.totalParameters > 0 ? split.headParameters / split.totalParameters : 0,
    headMacShare: split.totalMacs > 0 ? split.headMacs / split.totalMacs : NaN,
    reason: `every stochastic site lies after ${split.cutTensors.join(', ')}: ${split.trunkNodes} nodes run once per image, ${split.headNodes} run T times${levelNote}`,
    prefixSharing: sharing !== undefined,
    sharedSites,
  };
}

function noSplitReason(options: LoadOptions, staticBatch: number, sites: number): string {
  if (sites === 0) return 'no dropout site whose masks mc-dropout draws';
  if (options.trunkReuse === 'off') return 'trunk reuse turned off';
  return `the batch dimension is fixed to ${staticBatch}`;
}

const plural = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;
