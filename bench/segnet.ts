/**
 * Segmentation models for the bench (issue #37): a backbone of strided 3x3 convs with ReLU
 * (3 -> 32 -> 64 -> 128 -> 256 channels) and FCN's or DeepLab's head, then a bilinear Resize back
 * to the input's size (half_pixel, as PyTorch's align_corners=False exports), built as ONNX with
 * random seeded weights: speed and memory do not depend on the weights' values.
 *   FCN:     backbone to 1/8 -> Conv3x3 256->64 -> ReLU -> Dropout(0.1) -> Conv1x1 -> classes
 *   DeepLab: backbone to 1/16 -> ASPP (1x1 and 3x3 at dilations 6, 12, 18, 256 each; concat; 1x1
 *            to 256) -> ReLU -> Dropout(0.5) -> Conv3x3 256->256 -> ReLU -> Conv1x1 -> classes
 * Input [N, 3, size, size], output [N, classes, size, size]; BatchNorm folded into conv biases.
 */
import { AttributeType, DataType, encodeModel, type NodeProto, type TensorProto } from '../src/model/onnx.js';

export type SegHead = 'fcn' | 'deeplab';

export interface SegNet {
  bytes: Uint8Array;
  /** Multiply-accumulates per image: before the first dropout (run once per image with trunk reuse) and after it (run once per pass). */
  macs: { trunk: number; head: number };
}

/** resize false: the map at the head's resolution (1/8 or 1/16), to tell the full-size Resize's share of the passes. */
export function buildSegNet(head: SegHead, options: { size?: number; classes?: number; resize?: boolean; weightSeed?: number } = {}): SegNet {
  const { size = 512, classes = 21, resize = true, weightSeed = 12345 } = options;
  const nodes: NodeProto[] = [];
  const initializers: TensorProto[] = [];
  const macs = { trunk: 0, head: 0 };
  let afterDropout = false;
  let state = weightSeed;
  // weights as raw little-endian bytes, like real exports (protobuf float arrays are slow to encode)
  const random = (n: number, scale: number) => {
    const values = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      values[i] = (state / 2 ** 32 - 0.5) * 2 * scale;
    }
    return new Uint8Array(values.buffer);
  };
  let id = 0;
  const name = (prefix: string) => `${prefix}_${id++}`;
  const ints = (key: string, values: number[]) => ({ name: key, type: AttributeType.INTS, ints: values });
  const text = (key: string, value: string) => ({ name: key, type: AttributeType.STRING, s: new TextEncoder().encode(value) });

  /** A conv (+ ReLU) on a map of side `side`; returns the output's name and side. */
  const conv = (
    input: string,
    side: number,
    cin: number,
    cout: number,
    kernel: number,
    options: { stride?: number; dilation?: number; relu?: boolean } = {},
  ) => {
    const { stride = 1, dilation = 1, relu = true } = options;
    const w = name('w');
    const b = name('b');
    const fanIn = cin * kernel * kernel;
    // He-uniform, so activations keep their scale through the ReLUs
    initializers.push({ name: w, dataType: DataType.FLOAT, dims: [cout, cin, kernel, kernel], rawData: random(cout * fanIn, Math.sqrt(6 / fanIn)) });
    initializers.push({ name: b, dataType: DataType.FLOAT, dims: [cout], rawData: random(cout, 0.01) });
    const out = name('conv');
    const pad = ((kernel - 1) / 2) * dilation;
    nodes.push({
      opType: 'Conv',
      input: [input, w, b],
      output: [out],
      attribute: [
        ints('kernel_shape', [kernel, kernel]),
        ints('strides', [stride, stride]),
        ints('dilations', [dilation, dilation]),
        ints('pads', [pad, pad, pad, pad]),
      ],
    });
    const outSide = Math.ceil(side / stride);
    macs[afterDropout ? 'head' : 'trunk'] += outSide * outSide * cout * fanIn;
    if (!relu) return { name: out, side: outSide };
    const activated = name('relu');
    nodes.push({ opType: 'Relu', input: [out], output: [activated] });
    return { name: activated, side: outSide };
  };
  const dropout = (input: string, rate: number) => {
    initializers.push(
      { name: 'ratio', dataType: DataType.FLOAT, dims: [], floatData: [rate] },
      { name: 'training', dataType: DataType.BOOL, dims: [], int32Data: [1] },
    );
    nodes.push({ opType: 'Dropout', input: [input, 'ratio', 'training'], output: ['dropped'] });
    afterDropout = true;
    return 'dropped';
  };

  let x = conv('input', size, 3, 32, 3, { stride: 2 });
  x = conv(x.name, x.side, 32, 64, 3, { stride: 2 });
  x = conv(x.name, x.side, 64, 128, 3, { stride: 2 });
  // FCN keeps 1/8 (torchvision's dilated backbone), DeepLab goes to 1/16 (its MobileNet variant)
  x = conv(x.name, x.side, 128, 256, 3, { stride: head === 'fcn' ? 1 : 2 });
  let scores: { name: string; side: number };
  if (head === 'fcn') {
    const hidden = conv(x.name, x.side, 256, 64, 3);
    scores = conv(dropout(hidden.name, 0.1), hidden.side, 64, classes, 1, { relu: false });
  } else {
    const branches = [conv(x.name, x.side, 256, 256, 1), ...[6, 12, 18].map((dilation) => conv(x.name, x.side, 256, 256, 3, { dilation }))];
    nodes.push({ opType: 'Concat', input: branches.map((b) => b.name), output: ['aspp'], attribute: [{ name: 'axis', type: AttributeType.INT, i: 1 }] });
    const projected = conv('aspp', x.side, 256 * branches.length, 256, 1);
    const refined = conv(dropout(projected.name, 0.5), projected.side, 256, 256, 3);
    scores = conv(refined.name, refined.side, 256, classes, 1, { relu: false });
  }
  if (resize) {
    const factor = size / scores.side;
    initializers.push({ name: 'scales', dataType: DataType.FLOAT, dims: [4], floatData: [1, 1, factor, factor] });
    nodes.push({
      opType: 'Resize',
      input: [scores.name, '', 'scales'],
      output: ['logits'],
      attribute: [text('mode', 'linear'), text('coordinate_transformation_mode', 'half_pixel')],
    });
  } else nodes.push({ opType: 'Identity', input: [scores.name], output: ['logits'] });
  const side = resize ? size : scores.side;

  const dims = (list: (number | string)[]) => ({ dim: list.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) });
  const bytes = encodeModel({
    irVersion: 8,
    producerName: 'mc-dropout-bench',
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: `${head}_random`,
      node: nodes,
      initializer: initializers,
      input: [{ name: 'input', type: { tensorType: { elemType: DataType.FLOAT, shape: dims(['N', 3, size, size]) } } }],
      output: [{ name: 'logits', type: { tensorType: { elemType: DataType.FLOAT, shape: dims(['N', classes, side, side]) } } }],
    },
  });
  return { bytes, macs };
}
