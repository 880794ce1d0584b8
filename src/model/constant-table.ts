import { tensorValues, type GraphProto, type TensorProto } from './onnx.js';

/** Values of graph tensors whose value is fixed: initializers and Constant node outputs. */
export class ConstantTable {
  private readonly tensors = new Map<string, TensorProto>();

  constructor(graph: GraphProto) {
    const inputs = new Set((graph.input ?? []).map((i) => i.name));
    for (const init of graph.initializer ?? []) {
      // an initializer that is also a graph input can be overridden at run time: not constant
      if (init.name && !inputs.has(init.name)) this.tensors.set(init.name, init);
    }
    for (const node of graph.node ?? []) {
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

  /** Scalar value of a constant tensor, or undefined when the name is empty or not constant. */
  scalar(name: string | null | undefined): number | undefined {
    if (!name) return undefined;
    const tensor = this.tensors.get(name);
    if (!tensor) return undefined;
    const values = tensorValues(tensor);
    return values && values.length === 1 ? values[0] : undefined;
  }
}
