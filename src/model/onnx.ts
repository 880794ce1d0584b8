/**
 * The only module that imports the protobuf library. The schema is the onnx 1.23.1 release's
 * onnx.proto (IR 14: functions with attributes and overloads, node and graph metadata_props, every
 * current type), compiled by schema/generate.mjs into the decoders and encoders protobufjs would
 * generate from it at run time, so a decode and re-encode loses no field of any model up to IR 14.
 */
import protobufMinimal from 'protobufjs/minimal.js';
import { fromHalfBits } from '../model/half.js';
import { buildModelCodec, type ModelCodec } from './schema/onnx-codec.js';
import {
  AttributeProtoAttributeType,
  TensorProtoDataLocation,
  TensorProtoDataType,
  type AttributeProto,
  type FunctionProto,
  type Int64,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from './schema/onnx-schema.js';

export type { AttributeProto, FunctionProto, GraphProto, ModelProto, NodeProto, TensorProto, ValueInfoProto };

export const DataType = TensorProtoDataType;
export const AttributeType = AttributeProtoAttributeType;
export const DataLocation = TensorProtoDataLocation;

let modelCodec: ModelCodec | undefined;
/**
 * The ModelProto codec, built on first use. It needs only protobufjs/minimal: loading the whole
 * library and building the codecs from the schema by reflection took 30-40 ms of each start (#38).
 * The import is static so that the CLI's bundle carries protobufjs/minimal in the chunk of the
 * commands that read models, where it loads faster than from its files in node_modules
 * (docs/performance.md): in the bundle a command that reads no model (--version, merge, select)
 * loads neither; the unbundled library loads it with this module.
 */
function modelType(): ModelCodec {
  return (modelCodec ??= buildModelCodec(protobufMinimal));
}
const dataTypeNames = new Map(Object.entries(DataType).map(([name, value]) => [value as number, name]));

/** Name of an ONNX element type (FLOAT, INT64, ...), or `type N` for an unknown one. */
export function dataTypeName(elemType: number): string {
  return dataTypeNames.get(elemType) ?? `type ${elemType}`;
}

/** Decodes ONNX bytes; throws protobuf's own error on a file that is not a ModelProto. */
export function decodeModel(bytes: Uint8Array): ModelProto {
  return modelType().decode(bytes) as ModelProto;
}

export function encodeModel(model: ModelProto): Uint8Array {
  return modelType().encode(model).finish();
}

/** An int64 field as a number: protobufjs decodes them as Long ({ low, high }), we write numbers. */
export function toNumber(value: Int64 | null | undefined): number {
  if (value === null || value === undefined) return 0;
  if (typeof value === 'number') return value;
  return value.unsigned ? (value.high >>> 0) * 0x100000000 + (value.low >>> 0) : value.high * 0x100000000 + (value.low >>> 0);
}

/**
 * A copy whose top-level graph lists and nodes can be rewritten without touching the caller's
 * model. Tensors (weights), functions and subgraphs are shared, never copied: rewrites replace
 * them, they never modify them in place.
 */
export function cloneModel(model: ModelProto): ModelProto {
  const graph = model.graph ?? {};
  return {
    ...model,
    opsetImport: [...(model.opsetImport ?? [])],
    metadataProps: [...(model.metadataProps ?? [])],
    functions: [...(model.functions ?? [])],
    graph: {
      ...graph,
      node: (graph.node ?? []).map((node) => ({ ...node, input: [...(node.input ?? [])], output: [...(node.output ?? [])] })),
      initializer: [...(graph.initializer ?? [])],
      input: [...(graph.input ?? [])],
      output: [...(graph.output ?? [])],
      valueInfo: [...(graph.valueInfo ?? [])],
    },
  };
}

/** Whether a tensor's bytes live in an external file (`location`, `offset`, `length` entries). */
export function isExternal(tensor: TensorProto): boolean {
  return tensor.dataLocation === DataLocation.EXTERNAL;
}

/** The external_data entries of a tensor as a map (location, offset, length, checksum). */
export function externalEntries(tensor: TensorProto): Map<string, string> {
  return new Map((tensor.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
}

/** The default-domain opset the model imports (ai.onnx). */
export function defaultOpset(model: ModelProto): number {
  for (const entry of model.opsetImport ?? []) {
    if (!entry.domain || entry.domain === 'ai.onnx') return toNumber(entry.version);
  }
  return 0;
}

/** Shape of a value info: numbers for fixed dims, strings for named dims, null for unknown ones. */
export function shapeOf(info: ValueInfoProto): (number | string | null)[] | undefined {
  const shape = info.type?.tensorType?.shape;
  if (!shape) return undefined;
  return (shape.dim ?? []).map((d) => {
    if (d.dimParam) return d.dimParam;
    if (d.dimValue !== null && d.dimValue !== undefined) {
      const n = toNumber(d.dimValue);
      return n > 0 ? n : null;
    }
    return null;
  });
}

export function elemTypeOf(info: ValueInfoProto): number {
  return info.type?.tensorType?.elemType ?? 0;
}

/** Tensor value info with a rank and named dims (dims given as numbers or names). */
export function tensorValueInfo(name: string, elemType: number, dims: (number | string)[]): ValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/** Float values of a constant tensor (float, double, int and bool kinds), or undefined. */
export function tensorValues(tensor: TensorProto): number[] | undefined {
  const type = tensor.dataType ?? 0;
  const raw = tensor.rawData && tensor.rawData.length > 0 ? tensor.rawData : undefined;
  if (raw) {
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const out: number[] = [];
    const read: Record<number, [number, (o: number) => number]> = {
      [DataType.FLOAT]: [4, (o) => view.getFloat32(o, true)],
      [DataType.DOUBLE]: [8, (o) => view.getFloat64(o, true)],
      [DataType.FLOAT16]: [2, (o) => fromHalfBits(view.getUint16(o, true))],
      [DataType.BOOL]: [1, (o) => view.getUint8(o)],
      [DataType.INT32]: [4, (o) => view.getInt32(o, true)],
      [DataType.INT64]: [8, (o) => Number(view.getBigInt64(o, true))],
    };
    const reader = read[type];
    if (!reader) return undefined;
    for (let o = 0; o + reader[0] <= raw.byteLength; o += reader[0]) out.push(reader[1](o));
    return out;
  }
  if (tensor.floatData && tensor.floatData.length > 0) return [...tensor.floatData];
  if (tensor.doubleData && tensor.doubleData.length > 0) return [...tensor.doubleData];
  if (tensor.int32Data && tensor.int32Data.length > 0) {
    return type === DataType.FLOAT16 ? tensor.int32Data.map(fromHalfBits) : [...tensor.int32Data];
  }
  if (tensor.int64Data && tensor.int64Data.length > 0) return tensor.int64Data.map((v) => toNumber(v));
  return [];
}

/** Dims of the tensor a Constant node yields, from its attribute; undefined for another node or a sparse value. */
export function constantDims(node: NodeProto): number[] | undefined {
  if (node.opType !== 'Constant' || (node.domain && node.domain !== 'ai.onnx')) return undefined;
  const attribute = node.attribute?.[0];
  switch (attribute?.name) {
    case 'value':
      return attribute.t ? (attribute.t.dims ?? []).map(toNumber) : undefined;
    case 'value_float':
    case 'value_int':
    case 'value_string':
      return [];
    case 'value_floats':
      return [attribute.floats?.length ?? 0];
    case 'value_ints':
      return [attribute.ints?.length ?? 0];
    case 'value_strings':
      return [attribute.strings?.length ?? 0];
    default:
      return undefined;
  }
}

/** Float attribute of a node, or the fallback. */
export function attributeFloat(node: NodeProto, name: string, fallback: number): number {
  const attribute = node.attribute?.find((a) => a.name === name);
  return attribute?.f ?? fallback;
}

/** Int attribute of a node, or the fallback. */
export function attributeInt(node: NodeProto, name: string, fallback: number): number {
  const attribute = node.attribute?.find((a) => a.name === name);
  return attribute && attribute.i !== null && attribute.i !== undefined ? toNumber(attribute.i) : fallback;
}

/** Tensors a node reads: its inputs and, for If/Loop/Scan, every name its subgraphs read. */
export function tensorsRead(node: NodeProto): string[] {
  const names = (node.input ?? []).filter((t) => t);
  for (const attribute of node.attribute ?? []) {
    for (const graph of [attribute.g, ...(attribute.graphs ?? [])]) for (const inner of graph?.node ?? []) names.push(...tensorsRead(inner));
  }
  return names;
}
