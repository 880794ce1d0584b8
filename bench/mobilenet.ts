/**
 * A MobileNetV2-size classifier (224x224, 3.5M parameters, inverted residual blocks, BatchNorm
 * folded into conv biases) with random weights, built as ONNX for the benchmark: speed does not
 * depend on the weights' values. Dropout only before the classifier, or also inside the trunk.
 */
import { DataType, encodeModel, type NodeProto, type TensorProto } from '../src/model/onnx.js';

export interface MobileNetOptions {
  /** Live Dropout(0.2) before the classifier (always), and Dropout(0.1) after these stages too. */
  trunkDropoutAfterStages?: number[];
  /**
   * Stochastic depth on every residual branch, as timm's DropPath exports with torch.export:
   * RandomUniformLike([B,1,1,1]) < keep -> Cast -> Div(keep) -> Mul(branch); the drop rate grows
   * linearly to this value over the blocks, as timm's drop_path_rate.
   */
  dropPathRate?: number;
  /** How the stochastic depth is spelled, as exporters write it (default 'less'); see DROP_PATH_SPELLINGS. */
  dropPathSpelling?: DropPathSpelling;
  /** Seed of the random weights: members of a deep ensemble differ only in it (default 12345). */
  weightSeed?: number;
}

/** Every spelling of a per-sample drop decision that exporters write, by what writes it. */
export const DROP_PATH_SPELLINGS = {
  less: 'timm bernoulli_ / torchvision StochasticDepth, torch.export: RandomUniformLike < keep -> Cast -> Div',
  'dropout-ones': 'F.dropout on ones, torch 1.13 TorchScript: ConstantOfShape(1) -> Dropout(training_mode) -> Mul',
  'less-full': 'torch.bernoulli(full(keep)), torch 1.13 TorchScript: RandomUniformLike < ConstantOfShape(keep) -> Cast -> Div',
  bernoulli: 'torch.bernoulli(full(keep)), torch.export: Bernoulli(Expand(keep)) -> Div',
  floor: 'Hugging Face, floor(keep + rand): RandomUniformLike -> Add(keep) -> Floor -> Div',
  greater: 'rand >= rate: GreaterOrEqual(RandomUniformLike, rate) -> Cast -> Div',
} as const;
export type DropPathSpelling = keyof typeof DROP_PATH_SPELLINGS;

// (expansion t, channels c, repeats n, stride s), as in the MobileNetV2 paper
const STAGES: [number, number, number, number][] = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

export function buildMobileNetV2(options: MobileNetOptions = {}): Uint8Array {
  const nodes: NodeProto[] = [];
  const initializers: TensorProto[] = [];
  let state = options.weightSeed ?? 12345;
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
  const ints = (key: string, values: number[]) => ({ name: key, type: 7, ints: values });
  initializers.push(
    { name: 'clip_min', dataType: DataType.FLOAT, dims: [], floatData: [0] },
    { name: 'clip_max', dataType: DataType.FLOAT, dims: [], floatData: [6] },
  );

  const conv = (input: string, cin: number, cout: number, kernel: number, stride: number, group: number, relu6: boolean): string => {
    const w = name('w');
    const b = name('b');
    const fanIn = (cin / group) * kernel * kernel;
    initializers.push({ name: w, dataType: DataType.FLOAT, dims: [cout, cin / group, kernel, kernel], rawData: random(cout * fanIn, Math.sqrt(3 / fanIn)) });
    initializers.push({ name: b, dataType: DataType.FLOAT, dims: [cout], rawData: random(cout, 0.01) });
    const out = name('conv');
    const pad = (kernel - 1) / 2;
    nodes.push({
      opType: 'Conv',
      input: [input, w, b],
      output: [out],
      attribute: [
        ints('kernel_shape', [kernel, kernel]),
        ints('strides', [stride, stride]),
        ints('pads', [pad, pad, pad, pad]),
        { name: 'group', type: 2, i: group },
      ],
    });
    if (!relu6) return out;
    const clipped = name('relu6');
    nodes.push({ opType: 'Clip', input: [out, 'clip_min', 'clip_max'], output: [clipped] });
    return clipped;
  };
  let dropouts = 0;
  const dropout = (input: string, rate: number): string => {
    const ratio = `ratio_${dropouts}`;
    initializers.push({ name: ratio, dataType: DataType.FLOAT, dims: [], floatData: [rate] });
    const out = `dropout_${dropouts++}`;
    nodes.push({ opType: 'Dropout', input: [input, ratio, 'training'], output: [out] });
    return out;
  };
  initializers.push({ name: 'training', dataType: DataType.BOOL, dims: [], int32Data: [1] });
  let residuals = 0;
  initializers.push(
    { name: 'zero_index', dataType: DataType.INT64, dims: [1], int64Data: [0] },
    { name: 'ones3', dataType: DataType.INT64, dims: [3], int64Data: [1, 1, 1] },
  );
  const spelling = options.dropPathSpelling ?? 'less';
  const dropPath = (branch: string, rate: number): string => {
    const keep = name('keep');
    const dropRate = name('rate');
    initializers.push(
      { name: keep, dataType: DataType.FLOAT, dims: [], floatData: [1 - rate] },
      { name: dropRate, dataType: DataType.FLOAT, dims: [], floatData: [rate] },
    );
    const [shape, batch, target, filled, u, kept, mask, scaled, out] = ['shape', 'batch', 'target', 'filled', 'u', 'kept', 'mask', 'scaled', 'droppath'].map(
      name,
    );
    const fill = (value: number) => ({
      opType: 'ConstantOfShape',
      input: [target!],
      output: [filled!],
      attribute: [{ name: 'value', type: 4, t: { dataType: DataType.FLOAT, dims: [1], floatData: [value] } }],
    });
    const castDiv = (decision: string): NodeProto[] => [
      { opType: 'Cast', input: [decision], output: [mask!], attribute: [{ name: 'to', type: 2, i: DataType.FLOAT }] },
      { opType: 'Div', input: [mask!, keep], output: [scaled!] },
    ];
    nodes.push(
      { opType: 'Shape', input: [branch], output: [shape!] },
      { opType: 'Gather', input: [shape!, 'zero_index'], output: [batch!], attribute: [{ name: 'axis', type: 2, i: 0 }] },
      { opType: 'Concat', input: [batch!, 'ones3'], output: [target!], attribute: [{ name: 'axis', type: 2, i: 0 }] },
    );
    if (spelling === 'less' || spelling === 'greater') {
      nodes.push(
        fill(0),
        { opType: 'RandomUniformLike', input: [filled!], output: [u!] },
        spelling === 'less' ? { opType: 'Less', input: [u!, keep], output: [kept!] } : { opType: 'GreaterOrEqual', input: [u!, dropRate], output: [kept!] },
        ...castDiv(kept!),
      );
    } else if (spelling === 'less-full') {
      nodes.push(
        fill(1 - rate),
        { opType: 'RandomUniformLike', input: [filled!], output: [u!] },
        { opType: 'Less', input: [u!, filled!], output: [kept!] },
        ...castDiv(kept!),
      );
    } else if (spelling === 'bernoulli') {
      nodes.push(
        { opType: 'Expand', input: [keep, target!], output: [filled!] },
        { opType: 'Bernoulli', input: [filled!], output: [mask!] },
        { opType: 'Div', input: [mask!, keep], output: [scaled!] },
      );
    } else if (spelling === 'floor') {
      nodes.push(
        fill(0),
        { opType: 'RandomUniformLike', input: [filled!], output: [u!] },
        { opType: 'Add', input: [keep, u!], output: [kept!] },
        { opType: 'Floor', input: [kept!], output: [mask!] },
        { opType: 'Div', input: [mask!, keep], output: [scaled!] },
      );
    } else {
      nodes.push(fill(1), { opType: 'Dropout', input: [filled!, dropRate, 'training'], output: [scaled!] });
    }
    nodes.push({ opType: 'Mul', input: [branch, scaled!], output: [out!] });
    return out!;
  };

  let x = conv('input', 3, 32, 3, 2, 1, true);
  let channels = 32;
  STAGES.forEach(([t, c, n, s], stage) => {
    for (let i = 0; i < n; i++) {
      const stride = i === 0 ? s : 1;
      const hidden = channels * t;
      let y = t === 1 ? x : conv(x, channels, hidden, 1, 1, 1, true);
      y = conv(y, hidden, hidden, 3, stride, hidden, true);
      y = conv(y, hidden, c, 1, 1, 1, false);
      if (stride === 1 && channels === c) {
        if (options.dropPathRate) y = dropPath(y, (options.dropPathRate * (residuals++ + 1)) / 10);
        const sum = name('add');
        nodes.push({ opType: 'Add', input: [x, y], output: [sum] });
        y = sum;
      }
      x = y;
      channels = c;
    }
    if (options.trunkDropoutAfterStages?.includes(stage)) x = dropout(x, 0.1);
  });
  x = conv(x, channels, 1280, 1, 1, 1, true);
  nodes.push({ opType: 'GlobalAveragePool', input: [x], output: ['gap'] });
  nodes.push({ opType: 'Flatten', input: ['gap'], output: ['features'], attribute: [{ name: 'axis', type: 2, i: 1 }] });
  const dropped = dropout('features', 0.2);
  initializers.push({ name: 'fc_w', dataType: DataType.FLOAT, dims: [1000, 1280], rawData: random(1280 * 1000, Math.sqrt(3 / 1280)) });
  initializers.push({ name: 'fc_b', dataType: DataType.FLOAT, dims: [1000], rawData: random(1000, 0.01) });
  nodes.push({ opType: 'Gemm', input: [dropped, 'fc_w', 'fc_b'], output: ['logits'], attribute: [{ name: 'transB', type: 2, i: 1 }] });

  const dims = (list: (number | string)[]) => ({ dim: list.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) });
  return encodeModel({
    irVersion: 8,
    producerName: 'mc-dropout-bench',
    // Bernoulli is opset 15
    opsetImport: [{ domain: '', version: spelling === 'bernoulli' ? 15 : 13 }],
    graph: {
      name: 'mobilenet_v2_random',
      node: nodes,
      initializer: initializers,
      input: [{ name: 'input', type: { tensorType: { elemType: DataType.FLOAT, shape: dims(['N', 3, 224, 224]) } } }],
      output: [{ name: 'logits', type: { tensorType: { elemType: DataType.FLOAT, shape: dims(['N', 1000]) } } }],
    },
  });
}
