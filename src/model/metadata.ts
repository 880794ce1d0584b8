import { ModelError } from '../errors.js';
import { protoOf, type OnnxGraph } from './graph.js';

/** Keys of our self-describing model format, stored in ONNX metadata_props (see README). */
export const METADATA_PREFIX = 'mc_dropout.';

export type Layout = 'NCHW' | 'NHWC';
/** Channel order of the model's input: RGB (PyTorch) or BGR (Caffe-style exports). */
export type ChannelOrder = 'RGB' | 'BGR';
/** How an image reaches the input size: stretch, center-crop (torchvision's Resize + CenterCrop) or pad (letterbox). */
export type ResizeMode = 'stretch' | 'center-crop' | 'pad';
/** Resampling kernel of the resize, as PIL names them. */
export type Interpolation = 'bilinear' | 'bicubic' | 'nearest' | 'lanczos3';

/** Preprocessing and labeling facts a model may carry; every field optional. */
export interface ModelMetadata {
  labels?: string[];
  mean?: number[];
  std?: number[];
  inputSize?: { height: number; width: number };
  layout?: Layout;
  channelOrder?: ChannelOrder;
  resize?: ResizeMode;
  interpolation?: Interpolation;
  cropFraction?: number;
  dropoutRates?: number[];
}

/** Parses the mc_dropout.* metadata_props of a model; a malformed value is a ModelError naming the key. */
export function readMetadata(graph: OnnxGraph, file: string): ModelMetadata {
  const props = new Map<string, string>();
  for (const entry of protoOf(graph).metadataProps ?? []) {
    if (entry.key?.startsWith(METADATA_PREFIX)) props.set(entry.key.slice(METADATA_PREFIX.length), entry.value ?? '');
  }
  const fail = (key: string, expected: string): never => {
    throw new ModelError(`${file}: metadata '${METADATA_PREFIX}${key}' should be ${expected} but is '${props.get(key)}'`);
  };
  const json = (key: string): unknown => {
    try {
      return JSON.parse(props.get(key)!);
    } catch {
      return fail(key, 'JSON');
    }
  };
  const numbers = (key: string, length?: number): number[] | undefined => {
    if (!props.has(key)) return undefined;
    const value = json(key);
    if (!Array.isArray(value) || !value.every((v) => typeof v === 'number' && Number.isFinite(v)) || (length !== undefined && value.length !== length)) {
      return fail(key, `a JSON array of ${length ?? 'some'} numbers`);
    }
    return value as number[];
  };
  const choice = <T extends string>(key: string, allowed: readonly T[]): T | undefined => {
    if (!props.has(key)) return undefined;
    const value = props.get(key)!;
    return (allowed as readonly string[]).includes(value) ? (value as T) : fail(key, `one of ${allowed.join(', ')}`);
  };

  const meta: ModelMetadata = {};
  if (props.has('labels')) {
    const labels = json('labels');
    if (!Array.isArray(labels) || !labels.every((l) => typeof l === 'string')) fail('labels', 'a JSON array of strings');
    meta.labels = labels as string[];
  }
  const mean = numbers('mean', 3);
  if (mean) meta.mean = mean;
  const std = numbers('std', 3);
  if (std) meta.std = std;
  if (props.has('input_size')) {
    const match = /^(\d+)x(\d+)$/.exec(props.get('input_size')!);
    if (!match) fail('input_size', 'HxW, e.g. 224x224');
    meta.inputSize = { height: Number(match![1]), width: Number(match![2]) };
  }
  const layout = choice('layout', ['NCHW', 'NHWC'] as const);
  if (layout) meta.layout = layout;
  const channelOrder = choice('channel_order', ['RGB', 'BGR'] as const);
  if (channelOrder) meta.channelOrder = channelOrder;
  const resize = choice('resize', ['stretch', 'center-crop', 'pad'] as const);
  if (resize) meta.resize = resize;
  const interpolation = choice('interpolation', ['bilinear', 'bicubic', 'nearest', 'lanczos3'] as const);
  if (interpolation) meta.interpolation = interpolation;
  if (props.has('crop_fraction')) {
    const value = Number(props.get('crop_fraction'));
    if (!(value > 0 && value <= 1)) fail('crop_fraction', 'a number in (0, 1]');
    meta.cropFraction = value;
  }
  const rates = numbers('dropout_rates');
  if (rates) meta.dropoutRates = rates;
  return meta;
}
