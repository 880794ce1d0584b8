/** Preprocessing alone: decode and resize throughput on the samples. */
import path from 'node:path';
import sharp from 'sharp';
import { loadImageTensor } from '../../src/preprocess/decode.js';
import { resolvePreprocess } from '../../src/preprocess/spec.js';
import { work, time } from '../harness.js';

export async function preprocessing(): Promise<{ target: string; imagesPerSecond: number }[]> {
  const jpeg = path.join(work, 'photo-640x480.jpg');
  const noise = Buffer.alloc(640 * 480 * 3);
  for (let i = 0; i < noise.length; i++) noise[i] = (i * 2654435761) >>> 24;
  await sharp(noise, { raw: { width: 640, height: 480, channels: 3 } })
    .blur(2)
    .jpeg({ quality: 90 })
    .toFile(jpeg);
  const out = [];
  for (const size of [224, 32]) {
    const spec = resolvePreprocess({ height: size, width: size, layout: 'NCHW', metadata: {} });
    const count = 64;
    const seconds = await time(async () => {
      let next = 0;
      const worker = async () => {
        while (next++ < count) await loadImageTensor(jpeg, spec);
      };
      await Promise.all([worker(), worker(), worker(), worker()]);
    });
    out.push({ target: `640x480 JPEG -> ${size}x${size} tensor`, imagesPerSecond: count / seconds });
  }
  return out;
}
