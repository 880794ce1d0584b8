/**
 * Synthetic photos for the end-to-end bench: smooth color fields, encoded as
 * JPEG at quality 90, like camera output (sizes in bytes close to real photos of that size).
 *   writePhotos(folder, count, width, height)
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';

export async function writePhotos(folder: string, count: number, width: number, height: number): Promise<string> {
  mkdirSync(folder, { recursive: true });
  for (let i = 0; i < count; i++) {
    const small = Buffer.alloc(64 * 48 * 3);
    let state = 1 + i * 7919;
    for (let p = 0; p < small.length; p++) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      small[p] = state >>> 24;
    }
    await sharp(small, { raw: { width: 64, height: 48, channels: 3 } })
      .resize(width, height, { kernel: 'cubic' })
      .blur(0.8)
      .jpeg({ quality: 90 })
      .toFile(path.join(folder, `photo-${String(i).padStart(4, '0')}.jpg`));
  }
  return folder;
}
