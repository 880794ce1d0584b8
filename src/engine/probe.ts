import { describeError, ModelError } from '../errors.js';
import type { ModelIo } from '../model/io.js';
import { DataType, encodeModel, type ModelProto } from '../model/onnx.js';
import { exposeTensors } from '../model/rewrite.js';
import type { StochasticSite } from '../model/sites.js';
import { activationNames } from '../model/split.js';
import type { HostTensor } from './runtime.js';
import { createOrThrow } from './sessions.js';

export interface ProbeResult {
  /** Per-row shape of the tensor each chosen site masks. */
  siteShapes: number[][];
  /** ONNX element type of the tensor each chosen site masks (its mask must match). */
  siteTypes: number[];
  /** Float tensors whose first dim is the batch (seen at batch 1 and batch 2). */
  batchMajor: Set<string>;
  /** Per-row shapes of the batch-major activations. */
  activationShapes: Map<string, number[]>;
  /** ONNX element type (FLOAT or FLOAT16) of each batch-major activation. */
  activationTypes: Map<string, number>;
  /** Floating-point tensors (float32, float16, double) whose element count does not double from batch 1 to 2: they mix rows. */
  notPerRow: Set<string>;
}

/**
 * Runs the original graph on zero images with its intermediate tensors exposed, to learn each
 * site's row shape and, with `withActivations` (dynamic batch only), which activations are
 * batch-major: seen at batch 1 and 2, for trunk reuse, rows that see each other, and random ops
 * whose draws must follow the batch.
 */
export async function probeModel(model: ModelProto, sites: StochasticSite[], io: ModelIo, withActivations: boolean, file: string, externalDataFolder?: string): Promise<ProbeResult> {
  const result: ProbeResult = { siteShapes: [], siteTypes: [], batchMajor: new Set(), activationShapes: new Map(), activationTypes: new Map(), notPerRow: new Set() };
  const onnxType = (type: string) => (type === 'float16' ? DataType.FLOAT16 : DataType.FLOAT);
  if (sites.length === 0) return result;
  const staticBatch = io.inputDims[0]! > 0 ? io.inputDims[0]! : 0;
  const names = [...new Set([...sites.map((s) => s.drawn), ...(withActivations ? activationNames(model) : [])])].filter((n) => n !== io.inputName);
  const imageRow = io.inputDims.slice(1);
  const zeros = (batch: number): HostTensor => ({ data: new Float32Array(batch * imageRow.reduce((a, b) => a * b, 1)), dims: [batch, ...imageRow] });
  const session = await createOrThrow(encodeModel(exposeTensors(model, names)), { provider: 'cpu', deviceId: 0, threads: 0, ...(externalDataFolder && { externalDataFolder }) }, file);
  try {
    const one = await session.shapes({ [io.inputName]: zeros(staticBatch || 1) }, names);
    const two = withActivations ? await session.shapes({ [io.inputName]: zeros(2) }, names) : undefined;
    const batch = staticBatch || 1;
    result.siteShapes = sites.map((site) => {
      const shape = site.drawn === io.inputName ? [batch, ...imageRow] : one[site.drawn]!.dims;
      const followsBatch = shape[0] === batch && (!two || site.op === 'Dropout' || two[site.drawn]!.dims[0] === 2);
      if (!followsBatch && site.op !== 'Dropout') {
        throw new ModelError(`${file}: ${site.op} ${site.nodeName} draws a tensor of shape [${shape.join(', ')}] whose first dimension does not follow the batch, so the images of one run would share its numbers. Export the layer with rand_like / bernoulli_ on a per-sample tensor (as torch and timm do), or with a fixed batch of 1.`);
      }
      if (!followsBatch) {
        throw new ModelError(`${file}: cannot find the batch dimension of the tensor ${site.nodeName} drops (shape [${shape.join(', ')}])`);
      }
      return shape.slice(1);
    });
    result.siteTypes = sites.map((site) => {
      if (site.op === 'Bernoulli') return DataType.FLOAT; // cast to the type of p in the graph
      const type = site.drawn === io.inputName ? 'float32' : one[site.drawn]!.type;
      if (type !== 'float32' && type !== 'float16') {
        throw new ModelError(`${file}: ${site.op} ${site.nodeName} yields ${type}; mc-dropout draws float32 or float16 numbers`);
      }
      return onnxType(type);
    });
    if (two) {
      for (const name of names) {
        const a = one[name]!;
        const b = two[name]!;
        const count = (dims: readonly number[]) => dims.reduce((x, y) => x * y, 1);
        if ((a.type === 'float32' || a.type === 'float16' || a.type === 'float64') && count(b.dims) !== 2 * count(a.dims)) result.notPerRow.add(name);
        if ((a.type === 'float32' || a.type === 'float16') && a.dims[0] === 1 && b.dims[0] === 2 && a.dims.length === b.dims.length) {
          result.batchMajor.add(name);
          result.activationShapes.set(name, a.dims.slice(1));
          result.activationTypes.set(name, onnxType(a.type));
        }
      }
    }
    return result;
  } catch (error) {
    if (error instanceof ModelError) throw error;
    throw new ModelError(`${file}: onnxruntime cannot run the model (${describeError(error)})`, 'E_MODEL', { cause: error });
  } finally {
    await session.release();
  }
}

