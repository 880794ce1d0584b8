/**
 * The 10,000 Fashion-MNIST test images from Debian's dataset-fashion-mnist, written as 8-bit
 * grayscale PNGs in halves: even indices to ROOT/cal/<class>/, odd to ROOT/test/<class>/, named by
 * their index, as fixtures/evaluate/export_test_set.py --halves writes them.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import sharp from 'sharp';

export const FASHION_MNIST = '/usr/share/datasets/fashion-mnist';
const FOLDERS = ['t-shirt-top', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'ankle-boot'];

/** Why the data cannot be read here, or undefined when they can. */
export function fashionMnistMissing(): string | undefined {
  const files = ['t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'].map((f) => path.join(FASHION_MNIST, f));
  return files.every(existsSync) ? undefined : `no ${files[0]} (apt-get install dataset-fashion-mnist)`;
}

function idx(name: string): { dims: number[]; data: Buffer } {
  const raw = gunzipSync(readFileSync(path.join(FASHION_MNIST, name)));
  const dims = Array.from({ length: raw[3]! }, (_, i) => raw.readUInt32BE(4 + 4 * i));
  return { dims, data: raw.subarray(4 + 4 * dims.length) };
}

/** Writes the halves under `root`; returns how many images each holds. */
export async function exportHalves(root: string): Promise<{ cal: number; test: number }> {
  const { dims, data } = idx('t10k-images-idx3-ubyte.gz');
  const labels = idx('t10k-labels-idx1-ubyte.gz').data;
  const [count, height, width] = dims as [number, number, number];
  for (const half of ['cal', 'test']) for (const folder of FOLDERS) mkdirSync(path.join(root, half, folder), { recursive: true });
  const size = height * width;
  for (let start = 0; start < count; start += 64) {
    await Promise.all(
      Array.from({ length: Math.min(64, count - start) }, (_, k) => {
        const i = start + k;
        const file = path.join(root, i % 2 === 0 ? 'cal' : 'test', FOLDERS[labels[i]!]!, `${String(i).padStart(5, '0')}.png`);
        return sharp(data.subarray(i * size, (i + 1) * size), { raw: { width, height, channels: 1 } })
          .png()
          .toFile(file);
      }),
    );
  }
  return { cal: Math.ceil(count / 2), test: Math.floor(count / 2) };
}
