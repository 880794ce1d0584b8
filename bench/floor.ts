/**
 * The floor for end-to-end speed: what a user's plain script does with onnxruntime-node and sharp,
 * files in, CSV out. sharp decodes and resizes (fill, libvips' own linear kernel, JPEG shrink-on-load),
 * the graph runs once per batch at full optimization (its Dropout removed by the optimizer), and the
 * argmax goes to a CSV. No MC, no PIL-exact resizing, no seeding: the least work any tool can do.
 * With --exact it decodes at full size and resizes with mc-dropout's PIL-exact resampler instead:
 * the least work any PIL-exact tool can do, the bound of mc-dropout's default path on large photos.
 *   node dist/bench/floor.js MODEL.onnx FOLDER OUT.csv [HxW] [batch] [--exact]
 */
import { readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import ort from 'onnxruntime-node';
import sharp from 'sharp';
import { resizeRgb } from '../src/preprocess/resample.js';

const exact = process.argv.includes('--exact');
const [model, folder, out, size = '224x224', batchText = '16'] = process.argv.slice(2).filter((a) => a !== '--exact');
const [height, width] = size.split('x').map(Number) as [number, number];
const batch = Number(batchText);
const mean = [0.485, 0.456, 0.406];
const std = [0.229, 0.224, 0.225];
const session = await ort.InferenceSession.create(model!, { graphOptimizationLevel: 'all', extra: { session: { intra_op: { allow_spinning: '0' } } } });
const files = readdirSync(folder!)
  .sort()
  .map((f) => path.join(folder!, f));
const plane = height * width;

async function pixels(file: string): Promise<Uint8Array> {
  if (!exact) return sharp(file).rotate().removeAlpha().resize(width, height, { fit: 'fill' }).toColorspace('srgb').raw().toBuffer();
  const { data, info } = await sharp(file).rotate().removeAlpha().toColorspace('srgb').raw().toBuffer({ resolveWithObject: true });
  return resizeRgb(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), info.width, info.height, width, height, 'bilinear');
}

async function tensor(file: string): Promise<Float32Array> {
  const rgb = await pixels(file);
  const x = new Float32Array(plane * 3);
  for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) x[c * plane + p] = (rgb[p * 3 + c]! / 255 - mean[c]!) / std[c]!;
  return x;
}

const lines = ['path,class_index,confidence'];
let next = files.length > 0 ? Promise.all(files.slice(0, batch).map(tensor)) : undefined;
for (let start = 0; start < files.length; start += batch) {
  const images = await next!;
  next = start + batch < files.length ? Promise.all(files.slice(start + batch, start + 2 * batch).map(tensor)) : undefined;
  const input = new Float32Array(images.length * plane * 3);
  images.forEach((x, i) => input.set(x, i * plane * 3));
  const result = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', input, [images.length, 3, height, width]) });
  const logits = result[session.outputNames[0]!]!.data as Float32Array;
  const classes = logits.length / images.length;
  images.forEach((_, i) => {
    const row = logits.subarray(i * classes, (i + 1) * classes);
    let best = 0;
    for (let c = 1; c < classes; c++) if (row[c]! > row[best]!) best = c;
    const max = row[best]!;
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += Math.exp(row[c]! - max);
    lines.push(`${files[start + i]},${best},${(1 / sum).toFixed(6)}`);
  });
}
writeFileSync(out!, `${lines.join('\n')}\n`);
