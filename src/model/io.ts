import { ModelError, UsageError } from '../errors.js';
import type { Layout, ModelMetadata } from './metadata.js';
import { DataType, elemTypeOf, shapeOf, type ModelProto } from './onnx.js';

/** The image input and class-score output of a model, with layout and sizes resolved. */
export interface ModelIo {
  inputName: string;
  /** ONNX element type of the image input: float32 or float16 (converted at the session boundary). */
  inputType: number;
  outputName: string;
  inputDims: number[];
  layout: Layout;
  height: number;
  width: number;
  channels: number;
  classes: number;
  outputIsProbabilities: boolean;
}

/** The single image input and the class-score output, with layout and sizes resolved. */
export function describeIo(model: ModelProto, file: string, metadata: ModelMetadata, override?: { height: number; width: number }): ModelIo {
  const graph = model.graph!;
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name));
  const inputs = (graph.input ?? []).filter((i) => !initializers.has(i.name));
  if (inputs.length !== 1) {
    throw new ModelError(`${file}: expected one image input but the model has ${inputs.length} (${inputs.map((i) => i.name).join(', ')})`);
  }
  const input = inputs[0]!;
  const elemType = elemTypeOf(input);
  if (elemType !== 0 && elemType !== DataType.FLOAT && elemType !== DataType.FLOAT16) {
    throw new ModelError(`${file}: input '${input.name}' has element type ${elemType}; mc-dropout feeds float32 or float16 images`);
  }
  const shape = shapeOf(input);
  if (!shape || shape.length !== 4) {
    throw new ModelError(`${file}: expected a 4-D image input [N, C, H, W] or [N, H, W, C] but '${input.name}' has shape [${shape?.join(', ') ?? 'unknown'}]`);
  }
  const fixed = (d: number | string | null): number => (typeof d === 'number' ? d : -1);
  const dims = shape.map(fixed);
  const layout: Layout = metadata.layout ?? (dims[1] === 3 || dims[1] === 1 ? 'NCHW' : dims[3] === 3 || dims[3] === 1 ? 'NHWC' : 'NCHW');
  const [channels, h, w] = layout === 'NCHW' ? [dims[1]!, dims[2]!, dims[3]!] : [dims[3]!, dims[1]!, dims[2]!];
  if (channels !== 3) throw new ModelError(`${file}: expected 3 input channels (RGB) but input '${input.name}' has ${channels < 0 ? 'a dynamic count' : channels} in layout ${layout}`);
  const size = override ?? metadata.inputSize ?? (h > 0 && w > 0 ? { height: h, width: w } : undefined);
  if (!size) throw new UsageError(`${file}: the model's input height and width are dynamic; give them with --size HxW`);
  const inputDims = layout === 'NCHW' ? [dims[0]!, 3, size.height, size.width] : [dims[0]!, size.height, size.width, 3];

  const output = graph.output?.[0];
  const outShape = output ? shapeOf(output) : undefined;
  if (!output?.name || !outShape || outShape.length !== 2 || typeof outShape[1] !== 'number') {
    throw new ModelError(`${file}: expected a class-score output [N, classes] but the first output has shape [${outShape?.join(', ') ?? 'unknown'}]`);
  }
  if (outShape[1] < 2) {
    throw new ModelError(`${file}: the output '${output.name}' has ${outShape[1]} class, not a distribution over classes: a sigmoid output gives confidence 1 and entropy 0 for every image. Export the logits of both classes instead (e.g. torch.cat([-z, z], dim=1) for a binary logit z).`, 'E_NOT_A_DISTRIBUTION');
  }
  const producer = (graph.node ?? []).find((n) => n.output?.includes(output.name!));
  return {
    inputName: input.name!, inputType: elemType === DataType.FLOAT16 ? DataType.FLOAT16 : DataType.FLOAT, outputName: output.name, inputDims, layout,
    height: size.height, width: size.width, channels, classes: outShape[1],
    outputIsProbabilities: producer?.opType === 'Softmax',
  };
}

