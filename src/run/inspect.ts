import { McModel } from '../engine/mc-model.js';
import { inferredShapes } from '../engine/probe.js';
import { identicalPassesReason } from '../engine/site-choice.js';
import { injectionCandidates, paddleDropouts, type PaddleDropout } from '../model/inject.js';
import { McDropoutError, param } from '../errors.js';
import { readMetadata, type ModelMetadata } from '../model/metadata.js';
import { dataTypeName, type OnnxGraph, type TensorInfo } from '../model/graph.js';
import { describeMcGraph, mcGraphOf } from '../model/mc-graph-found.js';
import { readOnnxFile, type OnnxFile } from '../model/read.js';
import { describeRandomSite } from '../model/random-layers.js';
import { findStochasticSites, type StochasticSite } from '../model/sites.js';
import { checkClassScores, classifierOutput, isSoftmaxOutput, outputsReachedFrom } from '../model/signature.js';

/** An input or output of a model: name, element type and shape (null dims are symbolic). */
export interface TensorDescription {
  name: string;
  type: string;
  shape: (number | string | null)[] | null;
}

/** What `mc-dropout inspect` reports about a model file. */
export interface InspectReport {
  file: string;
  /** The model file and its external weight files together. */
  sizeBytes: number;
  /** External weight files beside the model. */
  externalFiles: string[];
  sha256: string;
  irVersion: number;
  opset: number;
  producer: string;
  inputs: TensorDescription[];
  outputs: TensorDescription[];
  /** The output read as class scores (null when none can be). */
  classifierOutput: string | null;
  /** A segmentation model's class-score map (height and width -1 where the graph leaves them to run time); null for a classifier. */
  map: { layout: 'NCHW' | 'NHWC'; classes: number; height: number; width: number; binary: boolean } | null;
  parameters: number;
  metadata: ModelMetadata;
  /**
   * Every stochastic site; `layer` names what a random op belongs to (DropPath, DropBlock, Gaussian
   * noise, ...) and `rate` is its drop rate (noise: sigma), null when unknown.
   */
  sites: {
    node: string;
    op: string;
    layer: string;
    rate: number | null;
    live: boolean;
    reason: string;
    input: string;
    position: string;
    detail: string | null;
    /** Under prefix sharing, the per-sample decision passes are grouped by at this site (e.g. 'u < 0.9'); null when the site does not share. */
    prefixSharing: string | null;
  }[];
  /** mc-dropout can run it stochastically as is. */
  mcReady: boolean;
  /**
   * Set when the file is an MC graph (convert's mcGraph): its T where known; for an ensemble's, its
   * member count and the members its metadata records (file, SHA-256, passes: 1 without dropout).
   * predict and convert refuse it. `map`: a segmentation model's graph, the layout of its mean and std maps.
   */
  mcGraph: {
    passes: number | null;
    members: number | null;
    memberFiles: { file: string; sha256: string; passes: number }[] | null;
    map: 'NCHW' | 'NHWC' | null;
  } | null;
  trunkReuse: { applies: boolean; reason: string; cut: string[]; headParameterShare: number; headMacShare: number | null; prefixSharing: boolean } | null;
  /** Tensors into the head where dropout can be added (convert's injectAt), nearest the output first, with shapes from shape inference (null when unknown). */
  injection: { tensor: string; producer: string; why: string; shape: (number | string)[] | null }[];
  /** Multiplications by a constant c in (0, 1) into the classifier, as paddle2onnx writes Paddle's downgrade_in_infer dropout (p = 1 - c). */
  paddleDropouts: PaddleDropout[];
  warnings: string[];
}

const typeName = (elemType: number): string => dataTypeName(elemType).toLowerCase();

function describe(info: TensorInfo): TensorDescription {
  return { name: info.name, type: typeName(info.elemType), shape: info.dims ?? null };
}

/** Reads a model and reports its inputs, stochastic sites, trunk reuse and the mistakes it shows. */
export async function inspectModel(file: string, options: { output?: string } = {}): Promise<InspectReport> {
  // read and hashed once: the load below opens this same read
  const read = await readOnnxFile(file);
  const { model, sizeBytes, sha256, externalFiles, folder } = read;
  const graphOutputs = model.outputs();
  const warnings: string[] = [];
  const sites = findStochasticSites(model);
  const mcGraph = mcGraphOf(model);
  if (mcGraph) {
    warnings.push(
      `${file} is ${describeMcGraph(mcGraph)}: it runs its passes itself and returns their statistics (outputs ${graphOutputs.map((o) => o.name).join(', ')}). Run it in onnxruntime (docs/serving.md); predict and convert take the model it was converted from.`,
    );
  }

  const inert = sites.filter((s) => s.op === 'Dropout' && !s.live);
  if (inert.length > 0 && !sites.some((s) => s.live))
    warnings.push(`all ${inert.length} Dropout node(s) are inert at inference; run predict with ${param({ dropout: 'force' })} to make them live.`);
  const live = sites.filter((s) => s.live);
  const { output, usable: scoresUsable, map } = classScoresOf(model, file, live, mcGraph !== undefined, options.output, warnings);
  const paddle = output ? paddleDropouts(model, output) : [];
  const noDropout = noDropoutWarning(file, sites, paddle, mcGraph !== undefined);
  if (noDropout) warnings.push(noDropout);
  const candidates = output ? injectionCandidates(model, output) : [];
  const shapes = await candidateShapes(model, candidates, file, folder);
  const reaching = new Set(output ? sites.filter((s) => outputsReachedFrom(model, [s.output]).has(output)) : []);
  if (output) warnings.push(...classScoreWarnings(model, output, graphOutputs.length, sites, reaching));
  const imageInputs = model.inputs();
  const first = imageInputs[0]?.dims;
  if (first && typeof first[0] === 'number')
    warnings.push(`the batch dimension is fixed to ${first[0]}: passes run in chunks of ${first[0]} rows, and trunk reuse is off.`);

  // a load with unusable class scores fails on the check already reported above; an MC graph is not run
  const loaded = scoresUsable && !mcGraph ? await loadedPlan(read, options.output, warnings) : notLoaded();
  const { trunkReuse, rowShapes } = loaded;
  const rateOf = (s: StochasticSite): number | undefined => siteRate(model, s, rowShapes);
  // rate 0 everywhere it matters (convert's injectAt TENSOR:0, a dead site): MC-ready in name only
  const identical = output
    ? identicalPassesReason(
        live.map((s) => ({ name: `${s.op} ${s.nodeName}`, reaches: reaching.has(s), rate: rateOf(s) })),
        output,
      )
    : undefined;
  if (identical) warnings.push(identical);
  return {
    file,
    sizeBytes,
    sha256,
    externalFiles,
    irVersion: model.irVersion,
    opset: model.opset,
    producer: model.producer,
    inputs: imageInputs.map(describe),
    outputs: graphOutputs.map(describe),
    classifierOutput: output ?? null,
    map: map ?? null,
    parameters: model.parameterCount,
    metadata: readMetadata(model, file),
    sites: sites.map((s) => describeSite(model, s, loaded)),
    mcReady: live.some((s) => reaching.has(s)) && identical === undefined && trunkReuse !== null,
    mcGraph: mcGraph
      ? { passes: mcGraph.passes ?? null, members: mcGraph.members ?? null, memberFiles: mcGraph.recorded ?? null, map: mcGraph.map ?? null }
      : null,
    trunkReuse,
    injection: candidates.map((c) => ({ ...c, shape: shapes.has(c.tensor) ? [...shapes.get(c.tensor)!] : null })),
    paddleDropouts: paddle,
    warnings,
  };
}

/**
 * The output read as class scores, by the checks a run makes of them (the same functions, so
 * inspect is never MC-ready where predict refuses): `usable` when they pass; a failed check's
 * message goes to `warnings`.
 */
function classScoresOf(
  model: OnnxGraph,
  file: string,
  live: readonly StochasticSite[],
  isMcGraph: boolean,
  name: string | undefined,
  warnings: string[],
): { output: string | undefined; usable: boolean; map?: InspectReport['map'] } {
  // an MC graph's outputs are its statistics, not class scores: the warning above says what it is
  if (isMcGraph) return { output: undefined, usable: false };
  let output: string | undefined;
  try {
    const chosen =
      model.outputs().length > 0
        ? classifierOutput(model, file, {
            ...(name !== undefined && { name }),
            reached: outputsReachedFrom(
              model,
              live.map((s) => s.output),
            ),
          })
        : undefined;
    output = chosen?.name ?? undefined;
    const dims = model.inputs()[0]?.dims;
    const scores = checkClassScores(chosen, file, dims?.[3] === 3 && dims[1] !== 3 ? 'NHWC' : 'NCHW');
    return { output, usable: true, ...(scores.map && { map: { ...scores.map, classes: scores.classes } }) };
  } catch (error) {
    if (!(error instanceof McDropoutError)) throw error;
    warnings.push(error.message);
    return { output, usable: false };
  }
}

/** Why every pass would be identical when the model has no stochastic site (Paddle's inert dropout named where found), or undefined. */
function noDropoutWarning(file: string, sites: readonly StochasticSite[], paddle: readonly PaddleDropout[], isMcGraph: boolean): string | undefined {
  if (sites.length === 0 && paddle.length > 0) {
    const list = paddle.map((d) => `Mul ${d.node} by ${d.keep.toPrecision(7).replace(/\.?0+$/, '')} (p = ${d.rate})`).join(', ');
    return `no dropout, but ${list} ${paddle.length === 1 ? 'looks' : 'look'} like Paddle's downgrade_in_infer dropout as paddle2onnx writes it: mc-dropout convert ${file} --revive-paddle -o model-mc.onnx makes ${paddle.length === 1 ? 'it' : 'them'} random again.`;
  }
  if (sites.length === 0 && !isMcGraph) {
    return `no dropout and no random op: every pass would be identical. Export with dropout kept live, or add dropout before the classifier (mc-dropout convert ${file} --inject-rate 0.2 -o model-mc.onnx) or at a tensor listed under "dropout could go at" (${param('injectAt')} TENSOR:0.2); exporters such as paddle2onnx and tf2onnx delete dropout.`;
  }
  return undefined;
}

/** Shapes of the injection candidates by shape inference; none when it fails (the report then says null). */
async function candidateShapes(
  model: OnnxGraph,
  candidates: readonly { tensor: string }[],
  file: string,
  folder: string,
): Promise<Map<string, readonly (number | string)[]>> {
  if (candidates.length === 0) return new Map();
  return inferredShapes(
    model,
    candidates.map((c) => c.tensor),
    file,
    folder,
  ).catch(() => new Map<string, readonly (number | string)[]>());
}

/** Notes on the class-score output `output`: which of several it is, a softmax already, the sites that never reach it. */
function classScoreWarnings(
  model: OnnxGraph,
  output: string,
  outputCount: number,
  sites: readonly StochasticSite[],
  reaching: ReadonlySet<StochasticSite>,
): string[] {
  const warnings: string[] = [];
  if (outputCount > 1) warnings.push(`class scores are read from the output '${output}' (of ${outputCount}); ${param('output')} picks another.`);
  if (isSoftmaxOutput(model, output)) warnings.push('the output is already a softmax: mc-dropout averages it directly, with no second softmax.');
  const idle = sites.filter((s) => !reaching.has(s));
  if (idle.length > 0)
    warnings.push(
      `${idle.map((s) => `${s.op} ${s.nodeName}`).join(', ')} never ${idle.length === 1 ? 'reaches' : 'reach'} the output '${output}': ${idle.length === 1 ? 'it changes' : 'they change'} nothing.`,
    );
  return warnings;
}

/** What a load of the model plans (trunk reuse) and the row shape each drawn site draws, keyed by node index. */
interface LoadedPlan {
  trunkReuse: InspectReport['trunkReuse'];
  rowShapes: Map<number, number[]>;
  /** The decision prefix sharing groups passes by, per site that has one (node index). */
  sharedSites: Map<number, string>;
}

function notLoaded(): LoadedPlan {
  return { trunkReuse: null, rowShapes: new Map(), sharedSites: new Map() };
}

/** Loads the model as predict would (on the CPU, one thread) for its plan; a load that fails says why in `warnings`. */
async function loadedPlan(read: OnnxFile, output: string | undefined, warnings: string[]): Promise<LoadedPlan> {
  const plan = notLoaded();
  try {
    const loaded = await McModel.load(read, {
      device: 'cpu',
      allowDeterministic: true,
      threads: 1,
      ...(output !== undefined && { output }),
    });
    for (const drawn of loaded.info.drawnSites) plan.rowShapes.set(drawn.site.nodeIndex, drawn.rowShape);
    for (const shared of loaded.plan.sharedSites) plan.sharedSites.set(shared.nodeIndex, shared.decision);
    plan.trunkReuse = {
      applies: loaded.plan.trunkReuse,
      reason: loaded.plan.reason,
      cut: loaded.plan.cutTensors,
      prefixSharing: loaded.plan.prefixSharing,
      headParameterShare: loaded.plan.headParameterShare,
      headMacShare: Number.isFinite(loaded.plan.headMacShare) ? loaded.plan.headMacShare : null,
    };
    await loaded.dispose();
  } catch (error) {
    if (!(error instanceof McDropoutError)) throw error;
    warnings.push(`mc-dropout cannot run it as is: ${error.message}`);
  }
  return plan;
}

/** A site's drop rate (noise: sigma), undefined when unknown or not finite. */
function siteRate(model: OnnxGraph, s: StochasticSite, rowShapes: ReadonlyMap<number, number[]>): number | undefined {
  const rate = s.op === 'Dropout' ? s.rate : describeRandomSite(model, s, rowShapes.get(s.nodeIndex)).rate;
  return rate !== undefined && Number.isFinite(rate) ? rate : undefined;
}

function describeSite(model: OnnxGraph, s: StochasticSite, plan: LoadedPlan): InspectReport['sites'][number] {
  const rowShape = plan.rowShapes.get(s.nodeIndex);
  const pattern = s.op === 'Dropout' ? undefined : describeRandomSite(model, s, rowShape);
  // F.dropout on a [B, 1, 1, 1] tensor of ones: torch 1.13's way to export stochastic depth
  const perSample = s.op === 'Dropout' && rowShape !== undefined && rowShape.every((n) => n === 1);
  return {
    node: s.nodeName,
    op: s.op,
    layer: pattern?.name ?? (perSample ? 'DropPath' : 'Dropout'),
    rate: siteRate(model, s, plan.rowShapes) ?? null,
    live: s.live,
    reason: s.reason,
    input: s.drawn,
    position: `node ${s.nodeIndex + 1} of ${model.nodeCount}`,
    detail: pattern?.detail ?? (perSample ? 'one mask value per sample' : null),
    prefixSharing: plan.sharedSites.get(s.nodeIndex) ?? null,
  };
}

/**
 * The report as `inspect --json` writes it: every key snake_case, like every JSON file mc-dropout
 * writes (the report has no map keyed by data, so every key is a field name).
 */
export function inspectJson(report: InspectReport): string {
  return `${JSON.stringify(snakeKeys(report), null, 2)}\n`;
}

function snakeKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(snakeKeys);
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([key, v]) => [key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), snakeKeys(v)]));
  return value;
}

/** A camelCase name in snake_case, as a type: `mcReady` is `mc_ready`. */
type Snake<S extends string> = S extends `${infer Head}${infer Tail}` ? `${Head extends Lowercase<Head> ? Head : `_${Lowercase<Head>}`}${Snake<Tail>}` : S;
type SnakeKeys<T> = T extends readonly (infer U)[]
  ? SnakeKeys<U>[]
  : T extends object
    ? { [K in keyof T as K extends string ? Snake<K> : K]: SnakeKeys<T[K]> }
    : T;

/** The report as `inspect --json` writes it (inspectJson): the fields of InspectReport, snake_case. */
export type InspectJson = SnakeKeys<InspectReport>;
