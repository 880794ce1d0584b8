import { createHash, type Hash } from 'node:crypto';
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import path from 'node:path';
import { ModelError } from '../errors.js';
import { kindOf } from '../io/read-file.js';
import { protoOf, type OnnxGraph } from './graph.js';
import { DataLocation, externalEntries, isExternal, type ModelProto, type NodeProto, type TensorProto } from './onnx.js';

/**
 * Weights in external files, as PyTorch's dynamo exporter writes them (`model.onnx` +
 * `model.onnx.data`): each tensor names a `location` relative to the model's folder.
 */

/** Every tensor whose bytes live in an external file: initializers and Constant values, graph and functions. */
export function externalTensors(model: ModelProto): TensorProto[] {
  const out: TensorProto[] = [];
  const nodeLists = [model.graph?.node ?? [], ...(model.functions ?? []).map((f) => f.node ?? [])];
  for (const tensor of model.graph?.initializer ?? []) if (isExternal(tensor)) out.push(tensor);
  for (const nodes of nodeLists) {
    for (const node of nodes) for (const a of node.attribute ?? []) if (a.t && isExternal(a.t)) out.push(a.t);
  }
  return out;
}

/** The distinct external files a model reads, as written in the model (relative paths), sorted. */
export function externalLocations(model: ModelProto): string[] {
  const locations = new Set(externalTensors(model).map((t) => externalEntries(t).get('location') ?? ''));
  return [...locations].sort();
}

/**
 * Checks that every external file lies in the model's folder (no absolute path, no `..`), exists,
 * is a regular file and is not empty; throws a ModelError naming the file and the fix.
 */
export function checkExternalFiles(locations: string[], folder: string, file: string): void {
  for (const location of locations) {
    const resolved = path.resolve(folder, location);
    const inside = path.relative(folder, resolved);
    if (location === '' || path.isAbsolute(location) || inside.startsWith('..')) {
      throw new ModelError(
        `${file} stores weights at '${location}', outside its own folder; re-export it, or keep its data file beside it with a relative name`,
      );
    }
    let info;
    try {
      info = statSync(resolved);
    } catch {
      throw new ModelError(
        `${file} keeps its weights in ${resolved}, which is missing. Copy ${location} into ${folder} beside the model (PyTorch writes it next to the .onnx file).`,
      );
    }
    // a folder, a FIFO or a device in its place would fail, or never end, when its bytes are hashed
    const kind = kindOf(info);
    if (kind) throw new ModelError(`${file} keeps its weights in ${resolved}, which is ${kind}; copy the data file there again`);
    if (info.size === 0) throw new ModelError(`${file} keeps its weights in ${resolved}, which is empty; copy the data file again`);
  }
}

/** SHA-256 of the model file's bytes followed by each external file's name and bytes, in sorted order. */
export function modelDigest(bytes: Uint8Array, folder: string, locations: string[]): string {
  return finishModelDigest(createHash('sha256').update(bytes), folder, locations);
}

/** modelDigest of a file whose bytes `hash` has taken in already (readHashing): the external files' names and bytes go after them. */
export function finishModelDigest(hash: Hash, folder: string, locations: string[]): string {
  const chunk = Buffer.alloc(4 * 1024 * 1024);
  for (const location of locations) {
    hash.update(`\0${location}\0`);
    const fd = openSync(path.resolve(folder, location), 'r');
    try {
      for (let n = readSync(fd, chunk); n > 0; n = readSync(fd, chunk)) hash.update(chunk.subarray(0, n));
    } finally {
      closeSync(fd);
    }
  }
  return hash.digest('hex');
}

/** Total size in bytes of the external files. */
export function externalBytes(folder: string, locations: string[]): number {
  return locations.reduce((sum, location) => sum + statSync(path.resolve(folder, location)).size, 0);
}

/** The bytes of one external tensor, read from its file (offset and length as the model states them). */
export function readExternalTensor(tensor: TensorProto, folder: string): Uint8Array {
  const entries = externalEntries(tensor);
  const file = path.resolve(folder, entries.get('location') ?? '');
  const offset = Number(entries.get('offset') ?? 0);
  const fd = openSync(file, 'r');
  try {
    const length = entries.has('length') ? Number(entries.get('length')) : statSync(file).size - offset;
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const n = readSync(fd, out, done, length - done, offset + done);
      if (n === 0)
        throw new ModelError(
          `${file} ends before the ${length} bytes of ${tensor.name} at offset ${offset}: the data file is truncated or belongs to another export`,
        );
      done += n;
    }
    return out;
  } finally {
    closeSync(fd);
  }
}

/**
 * A copy of the model whose large embedded initializers point at their own bytes inside the model
 * file (an external reference to the file itself, at the offset where protobuf stored them), so
 * that onnxruntime reads the weights from the file and mc-dropout keeps no copy of them: peak
 * memory stays near onnxruntime's one copy. `fileBytes` is the buffer the model was decoded from
 * (protobufjs decodes bytes fields as views into it); tensors not in it are left embedded, and
 * small ones are copied so the file's buffer can be freed.
 */
export function referenceEmbeddedWeights(model: ModelProto, fileBytes: Uint8Array, fileName: string, minBytes = 4096): ModelProto {
  const initializers = (model.graph?.initializer ?? []).map((tensor): TensorProto => {
    const raw = tensor.rawData;
    if (!raw || raw.buffer !== fileBytes.buffer) return tensor;
    // a small tensor gets its own copy, so that no view keeps the file's buffer alive
    if (raw.byteLength < minBytes) return { ...tensor, rawData: raw.slice() };
    const offset = raw.byteOffset - fileBytes.byteOffset;
    if (offset < 0 || offset + raw.byteLength > fileBytes.byteLength) return tensor;
    const { rawData: _, ...rest } = tensor;
    return {
      ...rest,
      dataLocation: DataLocation.EXTERNAL,
      externalData: [
        { key: 'location', value: fileName },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(raw.byteLength) },
      ],
    };
  });
  // Constant values are small: copied, for the same reason
  const own = (t: TensorProto): TensorProto => (t.rawData && t.rawData.buffer === fileBytes.buffer ? { ...t, rawData: t.rawData.slice() } : t);
  const nodes = (model.graph?.node ?? []).map((node) =>
    node.attribute?.some((a) => a.t) ? { ...node, attribute: node.attribute.map((a) => (a.t ? { ...a, t: own(a.t) } : a)) } : node,
  );
  return { ...model, graph: { ...model.graph, initializer: initializers, node: nodes } };
}

/**
 * Points every external tensor of `graph` (convert's own copy: its lists are replaced, its tensors
 * copied where changed, never changed in place) at its file by absolute path, resolved against the
 * model's `folder`: an ensemble's graph holds members from several folders, and writeModelFile reads
 * each tensor's bytes from where it says.
 */
export function anchorExternalData(graph: OnnxGraph, folder: string): void {
  const model = protoOf(graph);
  const anchored = (tensor: TensorProto): TensorProto =>
    isExternal(tensor)
      ? { ...tensor, externalData: (tensor.externalData ?? []).map((e) => (e.key === 'location' ? { ...e, value: path.resolve(folder, e.value ?? '') } : e)) }
      : tensor;
  const nodes = (list: NodeProto[] | null | undefined) =>
    (list ?? []).map((node) =>
      node.attribute?.some((a) => a.t) ? { ...node, attribute: node.attribute.map((a) => (a.t ? { ...a, t: anchored(a.t) } : a)) } : node,
    );
  if (!model.graph) return;
  model.graph.initializer = (model.graph.initializer ?? []).map(anchored);
  model.graph.node = nodes(model.graph.node);
  model.functions = (model.functions ?? []).map((fn) => ({ ...fn, node: nodes(fn.node) }));
}
