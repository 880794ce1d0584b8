import path from 'node:path';
import { closeQuietly, openForWrite, syncAndClose, writeAll, writeFileAtomic } from '../io/durable.js';
import { externalTensors, readExternalTensor } from './external.js';
import { protoOf, type OnnxGraph } from './graph.js';
import { DataLocation, encodeModel, type ModelProto, type NodeProto, type TensorProto } from './onnx.js';

/** Protobuf caps a message at 2 GiB; below this a model's weights go inside the file. */
const EMBED_LIMIT_BYTES = 2 ** 31 - 64 * 1024 * 1024;

export interface WrittenModel {
  /** The weights are inside the .onnx file. */
  embedded: boolean;
  /** The data file written beside the output, when they are not. */
  dataFile: string | undefined;
}

/**
 * Writes `model` (whose external weights resolve against `sourceFolder`) to `output` so that it
 * loads from its own folder: weights embedded when the whole model stays under 2 GiB (one file to
 * move), else in one `<output>.data` file beside it. The .onnx appears atomically (temp + rename).
 * `check` runs on the written file by path before the rename (e.g. loading it in onnxruntime).
 * `embedLimit` (bytes of external weights) is the 2 GiB protobuf cap less room for the graph.
 */
export async function writeModelFile(
  graph: OnnxGraph,
  sourceFolder: string,
  output: string,
  check: (file: string) => Promise<void>,
  embedLimit = EMBED_LIMIT_BYTES,
): Promise<WrittenModel> {
  const model = protoOf(graph);
  const external = externalTensors(model);
  const externalSize = external.reduce((sum, t) => sum + Number(t.externalData?.find((e) => e.key === 'length')?.value ?? 0), 0);
  const dataName = `${path.basename(output)}.data`;
  const embedded = externalSize === 0 || externalSize < embedLimit;
  // tensors are replaced by copies pointing at their new home; the caller's model is not modified
  const replaced = new Map<TensorProto, TensorProto>();
  let dataFd: number | undefined;
  let offset = 0;
  const dataFile = path.join(path.dirname(output), dataName);
  try {
    if (!embedded) dataFd = openForWrite(dataFile, 'w');
    for (const tensor of external) {
      const bytes = readExternalTensor(tensor, sourceFolder);
      const { externalData: _, dataLocation: __, ...rest } = tensor;
      if (dataFd === undefined) {
        replaced.set(tensor, { ...rest, rawData: bytes });
      } else {
        writeAll(dataFd, bytes, dataFile, offset);
        replaced.set(tensor, {
          ...rest,
          dataLocation: DataLocation.EXTERNAL,
          externalData: [
            { key: 'location', value: dataName },
            { key: 'offset', value: String(offset) },
            { key: 'length', value: String(bytes.length) },
          ],
        });
        offset += bytes.length;
      }
    }
    if (dataFd !== undefined) syncAndClose(dataFd, dataFile);
    dataFd = undefined;
  } finally {
    if (dataFd !== undefined) closeQuietly(dataFd);
  }
  await writeFileAtomic(output, encodeModel(withTensors(model, replaced)), check);
  return { embedded, dataFile: embedded ? undefined : dataFile };
}

/** A copy of the model whose initializers and Constant values are swapped per `replaced`. */
function withTensors(model: ModelProto, replaced: ReadonlyMap<TensorProto, TensorProto>): ModelProto {
  if (replaced.size === 0) return model;
  const swap = (t: TensorProto) => replaced.get(t) ?? t;
  const nodes = (list: NodeProto[] | null | undefined) =>
    (list ?? []).map((node) =>
      node.attribute?.some((a) => a.t && replaced.has(a.t)) ? { ...node, attribute: node.attribute.map((a) => (a.t ? { ...a, t: swap(a.t) } : a)) } : node,
    );
  return {
    ...model,
    graph: { ...model.graph, initializer: (model.graph?.initializer ?? []).map(swap), node: nodes(model.graph?.node) },
    functions: (model.functions ?? []).map((f) => ({ ...f, node: nodes(f.node) })),
  };
}
