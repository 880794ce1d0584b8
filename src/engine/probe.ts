import { describeError, ModelError } from '../errors.js';
import type { ModelIo } from '../model/signature.js';
import { DataType, type GraphNode, type OnnxGraph } from '../model/graph.js';
import { exposeTensors, rewriteSitesAsInputs, siteInputName } from '../model/rewrite.js';
import type { StochasticSite } from '../model/sites.js';
import { activationNames } from '../model/trunk-split.js';
import type { HostTensor, RuntimeSession } from './runtime.js';
import { createOrThrow } from './sessions.js';

export interface ProbeResult {
  /**
   * Per-image shape of the tensor each chosen site masks: without the batch dim, or, for a site
   * whose first dim folds the batch with k rows per image (windowed attention: batch x windows),
   * [k, ...rest].
   */
  siteShapes: number[][];
  /** Rows of each site's first dim that belong to one image: 1, or k for a folded site. */
  siteFolds: number[];
  /** ONNX element type of the tensor each chosen site masks (its mask must match). */
  siteTypes: number[];
  /** Float tensors whose first dim is the batch (seen at batch 1 and batch 2). */
  batchMajor: Set<string>;
  /** Per-row shapes of the activations that start with the batch at batch 1 (batch-major ones, and maybe a few that only look so). */
  activationShapes: Map<string, number[]>;
  /** ONNX element type (FLOAT or FLOAT16) of each batch-major activation. */
  activationTypes: Map<string, number>;
  /** Floating-point tensors (float32, float16, double) whose element count does not double from batch 1 to 2: they mix rows. */
  notPerRow: Set<string>;
  /** Session runs the probe needed (0 when shape inference told every shape). */
  runs: number;
}

export interface ProbeOptions {
  /** Dynamic batch: also learn which activations are batch-major. */
  withActivations: boolean;
  /** The model file, for messages. */
  file: string;
  /** Folder that the model's external weights resolve against. */
  externalDataFolder?: string;
  /** false: see every shape in runs, ignoring shape inference (tests compare the two). Default true. */
  inferShapes?: boolean;
}

/** Dims and element type of tensors at one batch size. */
type Seen = Record<string, { dims: readonly number[]; type: string }>;

/** The name the probe gives a dynamic batch whose input declares no name for it. */
const BATCH_NAME = 'mc_dropout_batch';

/**
 * Learns each site's row shape and, with `withActivations` (dynamic batch only), which
 * activations are batch-major, at batch 1 and 2: for trunk reuse, rows that see each other, and
 * random ops whose draws must follow the batch. onnxruntime's shape inference gives most shapes
 * without running anything (the input's batch is a named dim, so a tensor whose first dim carries
 * that name is batch-major); the tensors it leaves unknown (e.g. shapes computed at run time) are
 * seen in a run of the original graph on zero images with those tensors exposed.
 */
export async function probeModel(model: OnnxGraph, sites: StochasticSite[], io: ModelIo, options: ProbeOptions): Promise<ProbeResult> {
  const { withActivations, file, externalDataFolder } = options;
  const result: ProbeResult = {
    siteShapes: [],
    siteFolds: [],
    siteTypes: [],
    batchMajor: new Set(),
    activationShapes: new Map(),
    activationTypes: new Map(),
    notPerRow: new Set(),
    runs: 0,
  };
  if (sites.length === 0) return result;
  const staticBatch = io.inputDims[0]! > 0 ? io.inputDims[0]! : 0;
  const names = [...new Set([...sites.map((s) => s.drawn), ...(withActivations ? activationNames(model) : [])])].filter((n) => n !== io.inputName);
  const imageRow = io.inputDims.slice(1);
  const declared = model.inputs().find((i) => i.name === io.inputName);
  const declaredBatch = declared?.dims?.[0];
  const batchName = typeof declaredBatch === 'string' ? declaredBatch : BATCH_NAME;
  const exposed = exposeTensors(model, names, { name: io.inputName, dims: [staticBatch || batchName, ...imageRow] });
  // no graph optimization, no repacked weights: the session only answers shapes (and maybe runs twice), its build is what counts
  const session = await createOrThrow(
    exposed.encode(),
    { provider: 'cpu', deviceId: 0, threads: 0, optimization: 'disabled', prepacking: false, ...(externalDataFolder && { externalDataFolder }) },
    file,
  );
  try {
    const shapes: ShapeSource = {
      session,
      inferred: options.inferShapes === false ? new Map<string, never>() : session.outputShapes,
      // a scalar's inferred dims look like an unknown shape's; a Constant's own attribute tells them
      constants: model.constantDims(),
      batchName: staticBatch ? undefined : batchName,
      inputName: io.inputName,
      imageRow,
    };
    const one = await shapesAt(shapes, staticBatch || 1, names, result);
    // batch 2 needs only what is read for rows that see each other and for the cut
    const atTwo = withActivations ? batchTwoNames(model, sites, one).filter((n) => names.includes(n)) : [];
    const two = withActivations ? await shapesAt(shapes, 2, atTwo, result) : undefined;
    const batch = staticBatch || 1;
    result.siteShapes = sites.map((site) => {
      const shape = site.drawn === io.inputName ? [batch, ...imageRow] : one[site.drawn]!.dims;
      const { rowShape, fold } = siteRowShape(site, shape, two?.[site.drawn]?.dims, batch, file);
      result.siteFolds.push(fold);
      return rowShape;
    });
    result.siteTypes = sites.map((site) => siteType(site, one, io.inputName, file));
    if (two) addActivations(result, names, atTwo, one, two);
    if (result.siteFolds.some((k) => k > 1))
      await checkFoldedOrder(model, sites, result, io, { file, batchName, ...(externalDataFolder && { externalDataFolder }) });
    return result;
  } catch (error) {
    if (error instanceof ModelError) throw error;
    throw new ModelError(`${file}: onnxruntime cannot run the model (${describeError(error)})`, 'E_MODEL', { cause: error });
  } finally {
    await session.release();
  }
}

const onnxType = (type: string) => (type === 'float16' ? DataType.FLOAT16 : DataType.FLOAT);

/** Where the probe learns shapes: onnxruntime's shape inference first, then a run on zero images for the rest. */
interface ShapeSource {
  session: RuntimeSession;
  inferred: ReadonlyMap<string, { dims: readonly (number | string)[]; type: string }>;
  constants: ReadonlyMap<string, number[]>;
  /** The symbolic batch dim's name; undefined for a fixed batch. */
  batchName: string | undefined;
  inputName: string;
  /** The image input's dims without the batch. */
  imageRow: number[];
}

/** Dims and element type of `wanted` at batch size `batch`; a run, when one is needed, counts in `probe.runs`. */
async function shapesAt(source: ShapeSource, batch: number, wanted: readonly string[], probe: ProbeResult): Promise<Seen> {
  const seen: Seen = {};
  const unknown: string[] = [];
  for (const name of wanted) {
    const shape = source.inferred.get(name);
    const dims = shape && (source.constants.get(name) ?? concreteDims(shape.dims, source.batchName, batch));
    if (dims) seen[name] = { dims, type: shape.type };
    else unknown.push(name);
  }
  if (unknown.length > 0) {
    const zeros: HostTensor = { data: new Float32Array(batch * source.imageRow.reduce((a, b) => a * b, 1)), dims: [batch, ...source.imageRow] };
    Object.assign(seen, await source.session.shapes({ [source.inputName]: zeros }, unknown));
    probe.runs++;
  }
  return seen;
}

/**
 * A site's per-image row shape and fold, from the shape of its tensor at batch `batch` and at
 * batch 2 (`atTwo`, when probed); a ModelError when its first dim does not follow the batch.
 */
function siteRowShape(
  site: StochasticSite,
  shape: readonly number[],
  atTwo: readonly number[] | undefined,
  batch: number,
  file: string,
): { rowShape: number[]; fold: number } {
  const followsBatch = shape[0] === batch && (!atTwo || atTwo[0] === 2);
  if (followsBatch) return { rowShape: shape.slice(1), fold: 1 };
  // windowed attention folds the batch and k windows into the first dim: k at batch 1, 2k at 2
  const fold = shape[0]!;
  const folded =
    atTwo !== undefined && fold > 1 && atTwo.length === shape.length && atTwo[0] === 2 * fold && atTwo.slice(1).every((d, i) => d === shape[i + 1]);
  if (folded && site.input) return { rowShape: [...shape], fold };
  if (site.op !== 'Dropout') {
    throw new ModelError(
      `${file}: ${site.op} ${site.nodeName} draws a tensor of shape [${shape.join(', ')}] whose first dimension does not follow the batch, so the images of one run would share its numbers. Export the layer with rand_like / bernoulli_ on a per-sample tensor (as torch and timm do), or with a fixed batch of 1.`,
    );
  }
  const seen = atTwo ? ` at batch 1 and [${atTwo.join(', ')}] at batch 2` : '';
  throw new ModelError(
    `${file}: cannot find the batch dimension of the tensor ${site.nodeName} drops (shape [${shape.join(', ')}]${seen}): no dimension follows the batch, and the first is not a whole number of rows per image`,
  );
}

/** ONNX element type of the numbers a site draws (its tensor's type at batch 1, `one`); a ModelError unless float32 or float16. */
function siteType(site: StochasticSite, one: Seen, inputName: string, file: string): number {
  if (site.op === 'Bernoulli') return DataType.FLOAT; // cast to the type of p in the graph
  const type = site.drawn === inputName ? 'float32' : one[site.drawn]!.type;
  if (type !== 'float32' && type !== 'float16') {
    throw new ModelError(`${file}: ${site.op} ${site.nodeName} yields ${type}; mc-dropout draws float32 or float16 numbers`);
  }
  return onnxType(type);
}

/** What batch 1 (`one`) and batch 2 (`two`) tell of the activations: which mix rows, which are batch-major, and their row shapes and types. */
function addActivations(result: ProbeResult, names: readonly string[], atTwo: readonly string[], one: Seen, two: Seen): void {
  const float = (type: string) => type === 'float32' || type === 'float16';
  for (const name of atTwo) {
    const a = one[name]!;
    const b = two[name]!;
    const count = (dims: readonly number[]) => dims.reduce((x, y) => x * y, 1);
    if ((float(a.type) || a.type === 'float64') && count(b.dims) !== 2 * count(a.dims)) result.notPerRow.add(name);
    if (float(a.type) && a.dims[0] === 1 && b.dims[0] === 2 && a.dims.length === b.dims.length) result.batchMajor.add(name);
  }
  // row sizes for the memory budget and the figures: every float tensor that starts with the
  // batch at batch 1 (a tensor that is not batch-major only makes the budget safer)
  for (const name of names) {
    const a = one[name]!;
    if (float(a.type) && a.dims[0] === 1 && a.dims.length > 0) {
      result.activationShapes.set(name, a.dims.slice(1));
      result.activationTypes.set(name, onnxType(a.type));
    }
  }
}

/** Relative difference up to which a row computed in a batch of 2 counts as the same row computed alone. */
const SAME_ROW = 1e-4;

/**
 * A folded site's masks are drawn per image over its k rows, so those rows must be the image's own,
 * in one block (image-major, as windowed attention writes batch x windows). Checked on the graph with
 * every site fed a fixed value (so nothing random runs): the folded tensors of two distinct images at
 * batch 2 against each image alone. Anything else is refused, saying what was found.
 */
async function checkFoldedOrder(
  model: OnnxGraph,
  sites: StochasticSite[],
  probe: ProbeResult,
  io: ModelIo,
  options: { file: string; batchName: string; externalDataFolder?: string },
): Promise<void> {
  const { file, batchName, externalDataFolder } = options;
  const folded = sites.map((site, k) => ({ site, k, fold: probe.siteFolds[k]! })).filter((f) => f.fold > 1);
  const watched = [...new Set(folded.map((f) => f.site.input))];
  const rewritten = exposeTensors(rewriteSitesAsInputs(model, sites, probe.siteTypes), watched, {
    name: io.inputName,
    dims: [batchName, ...io.inputDims.slice(1)],
  });
  const session = await createOrThrow(
    rewritten.encode(),
    { provider: 'cpu', deviceId: 0, threads: 1, optimization: 'disabled', ...(externalDataFolder && { externalDataFolder }) },
    file,
  );
  try {
    const imageSize = io.inputDims.slice(1).reduce((a, b) => a * b, 1);
    // two images that differ everywhere, in the range of normalised pixels
    const image = (phase: number) => Float32Array.from({ length: imageSize }, (_, i) => Math.sin(0.37 * i + phase) * 2);
    const a = image(0);
    const b = image(1.3);
    const run = async (images: Float32Array[]) => {
      const n = images.length;
      const data = new Float32Array(n * imageSize);
      images.forEach((img, i) => data.set(img, i * imageSize));
      const feeds: Record<string, HostTensor> = { [io.inputName]: { data, dims: [n, ...io.inputDims.slice(1)] } };
      sites.forEach((site, k) => {
        const shape = probe.siteShapes[k]!;
        const fold = probe.siteFolds[k]!;
        const dims = fold > 1 ? [n * fold, ...shape.slice(1)] : [n, ...shape];
        // a mask that keeps everything; a random op's numbers fixed at 0.5
        feeds[siteInputName(site, k)] = { data: new Float32Array(dims.reduce((x, y) => x * y, 1)).fill(site.op === 'Dropout' ? 1 : 0.5), dims };
      });
      return session.run(feeds, watched);
    };
    const [alone, other, both] = [await run([a]), await run([b]), await run([a, b])];
    const same = (x: Float32Array, y: Float32Array) => x.length === y.length && x.every((v, i) => Math.abs(v - y[i]!) <= SAME_ROW * (1 + Math.abs(y[i]!)));
    for (const { site, fold } of folded) {
      const first = alone[site.input]!.data;
      const second = other[site.input]!.data;
      const joint = both[site.input]!.data;
      if (same(joint.subarray(0, first.length), first) && same(joint.subarray(first.length), second)) continue;
      const shape = both[site.input]!.dims;
      throw new ModelError(
        `${file}: ${site.op} ${site.nodeName} drops a tensor of shape [${shape.join(', ')}] at batch 2 whose first dimension holds ${fold} rows per image, but not each image's rows in one block (image-major, as batch x windows): the batch is folded in another order, and mc-dropout, which keys each image's masks to its own rows, cannot feed it. Export with the batch outermost, or with a fixed batch of 1.`,
        'E_FOLDED_ORDER',
      );
    }
  } finally {
    await session.release();
  }
}

/**
 * Inferred dims at a batch size, or undefined where onnxruntime could not tell them all: an
 * unknown dim, a name other than the batch's, or no dims at all (unknown rank; a scalar looks the
 * same, and a run tells them apart).
 */
export function concreteDims(dims: readonly (number | string)[], batchName: string | undefined, batch: number): number[] | undefined {
  if (dims.length === 0) return undefined;
  const out: number[] = [];
  for (const d of dims) {
    if (typeof d === 'number' && Number.isInteger(d) && d >= 0) out.push(d);
    else if (batchName !== undefined && d === batchName) out.push(batch);
    else return undefined;
  }
  return out;
}

/** Elements up to which a tensor counts as small: shapes, indices, scalars; the split walks back through these. */
const SMALL_TENSOR = 4096;

/**
 * The tensors the batch-2 probe must see: the sites' tensors, every tensor after a stochastic site
 * (rows that see each other), and the trunk tensors the part after the sites reads, with, behind
 * each small one (a Shape, a Gather of it, a Concat ...), what its producers read: the split may
 * pull such producers after the cut and then needs to know whether their inputs are batch-major.
 */
function batchTwoNames(model: OnnxGraph, sites: readonly StochasticSite[], one: Readonly<Record<string, { dims: readonly number[] }>>): string[] {
  const nodes = model.nodes();
  const initializers = model.initializerNames();
  const producer = new Map<string, GraphNode>();
  for (const node of nodes) for (const o of node.outputs) producer.set(o, node);
  // by index: exporters may leave nodes unnamed (the site's name is then made up)
  const siteNodes = new Set(sites.flatMap((s) => s.nodeIndices));
  const tainted = new Set<string>(sites.flatMap((s) => [s.drawn, s.output]));
  const after: GraphNode[] = [];
  for (const [index, node] of nodes.entries()) {
    if (siteNodes.has(index) || node.reads.some((t) => tainted.has(t))) {
      after.push(node);
      for (const o of node.outputs) tainted.add(o);
    }
  }
  const wanted = new Set(tainted);
  const queue = after.flatMap((node) => node.reads).filter((t) => !tainted.has(t) && !initializers.has(t));
  while (queue.length > 0) {
    const t = queue.pop()!;
    if (wanted.has(t)) continue;
    wanted.add(t);
    const dims = one[t]?.dims;
    const small = !dims || dims.reduce((a, b) => a * b, 1) <= SMALL_TENSOR;
    if (small) for (const input of producer.get(t)?.reads ?? []) if (!initializers.has(input)) queue.push(input);
  }
  return [...wanted];
}

/**
 * Shapes onnxruntime's shape inference gives the named tensors, without running the model: dims as
 * numbers or the names of symbolic dims (e.g. 'batch'); a tensor it cannot tell is left out.
 */
export async function inferredShapes(
  model: OnnxGraph,
  names: readonly string[],
  file: string,
  externalDataFolder?: string,
): Promise<Map<string, readonly (number | string)[]>> {
  const session = await createOrThrow(
    exposeTensors(model, names).encode(),
    { provider: 'cpu', deviceId: 0, threads: 1, optimization: 'disabled', prepacking: false, ...(externalDataFolder && { externalDataFolder }) },
    file,
  );
  try {
    const shapes = new Map<string, readonly (number | string)[]>();
    for (const [name, { dims }] of session.outputShapes) if (names.includes(name) && dims.length > 0) shapes.set(name, dims);
    return shapes;
  } finally {
    await session.release();
  }
}
