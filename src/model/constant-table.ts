import { DataType, tensorValues, type GraphProto, type NodeProto, type TensorProto } from './onnx.js';

/** Values of graph tensors whose value is fixed: initializers and Constant node outputs. */
export class ConstantTable {
  private readonly tensors = new Map<string, TensorProto>();
  private readonly producers = new Map<string, NodeProto>();

  constructor(graph: GraphProto) {
    const inputs = new Set((graph.input ?? []).map((i) => i.name));
    for (const init of graph.initializer ?? []) {
      // an initializer that is also a graph input can be overridden at run time: not constant
      if (init.name && !inputs.has(init.name)) this.tensors.set(init.name, init);
    }
    for (const node of graph.node ?? []) {
      for (const output of node.output ?? []) if (output) this.producers.set(output, node);
      if (node.opType !== 'Constant' || !node.output?.[0]) continue;
      const value = node.attribute?.find((a) => a.name === 'value')?.t;
      if (value) this.tensors.set(node.output[0], value);
      const valueFloat = node.attribute?.find((a) => a.name === 'value_float');
      if (valueFloat?.f !== undefined && valueFloat.f !== null) {
        this.tensors.set(node.output[0], { dataType: 1, floatData: [valueFloat.f] });
      }
    }
  }

  /** Whether the tensor's value is fixed. */
  has(name: string): boolean {
    return this.tensors.has(name);
  }

  /** The constant tensor of that name, or undefined when the name is empty or not constant. */
  tensor(name: string | null | undefined): TensorProto | undefined {
    return name ? this.tensors.get(name) : undefined;
  }

  /** Scalar value of a constant tensor, or undefined when the name is empty or not constant. */
  scalar(name: string | null | undefined): number | undefined {
    if (!name) return undefined;
    const tensor = this.tensors.get(name);
    if (!tensor) return undefined;
    const values = tensorValues(tensor);
    return values && values.length === 1 ? values[0] : undefined;
  }

  /**
   * The one value every element of a tensor holds, with its ONNX type: a constant with one value, or
   * ConstantOfShape / Expand of one (torch writes full(shape, keep) so); undefined otherwise.
   */
  fill(name: string | null | undefined): { value: number; dataType: number } | undefined {
    if (!name) return undefined;
    const constant = this.tensors.get(name);
    if (constant) {
      const value = this.scalar(name);
      return value === undefined ? undefined : { value, dataType: constant.dataType ?? 0 };
    }
    const producer = this.producers.get(name);
    if (!producer || (producer.domain && producer.domain !== 'ai.onnx')) return undefined;
    if (producer.opType === 'Expand') return this.fill(producer.input?.[0]);
    if (producer.opType !== 'ConstantOfShape') return undefined;
    const value = producer.attribute?.find((a) => a.name === 'value')?.t;
    // no value attribute: float32 zeros
    if (!value) return { value: 0, dataType: DataType.FLOAT };
    const values = tensorValues(value);
    return values && values.length === 1 ? { value: values[0]!, dataType: value.dataType ?? 0 } : undefined;
  }
}
