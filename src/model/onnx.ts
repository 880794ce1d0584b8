/**
 * The only module that imports the ONNX protobuf binding. onnx-proto carries the ONNX 1.10 schema
 * (IR 8): decoding a newer model skips fields that schema lacks (e.g. IR 10 node metadata), so a
 * rewritten copy (in memory, or written by `convert`) loses them; the graph's ops, tensors and
 * model metadata_props are all in IR 8 and survive.
 */
import onnxProto from 'onnx-proto';
import { fromHalfBits } from '../engine/half.js';

export const onnx = onnxProto.onnx;
export type ModelProto = onnxProto.onnx.ModelProto;
export type GraphProto = onnxProto.onnx.IGraphProto;
export type NodeProto = onnxProto.onnx.INodeProto;
export type TensorProto = onnxProto.onnx.ITensorProto;
export type ValueInfoProto = onnxProto.onnx.IValueInfoProto;
export type AttributeProto = onnxProto.onnx.IAttributeProto;

export const DataType = onnxProto.onnx.TensorProto.DataType;
export const AttributeType = onnxProto.onnx.AttributeProto.AttributeType;

/** Decodes ONNX bytes; throws protobuf's own error on a file that is not a ModelProto. */
export function decodeModel(bytes: Uint8Array): ModelProto {
  return onnx.ModelProto.decode(bytes);
}

export function encodeModel(model: ModelProto): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

/** int64 fields arrive as Long objects or numbers depending on protobufjs' setup. */
export function toNumber(value: number | { toNumber(): number } | null | undefined): number {
  if (value === null || value === undefined) return 0;
  return typeof value === 'number' ? value : value.toNumber();
}

/** Deep copy, so that rewrites never touch the caller's model. */
export function cloneModel(model: ModelProto): ModelProto {
  return decodeModel(encodeModel(model));
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
