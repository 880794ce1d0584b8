/**
 * One image's map files, each written whole or not at all (a temp file renamed into place), before
 * its row: a killed run never leaves a half map under its final name, and --resume redoes an image
 * whose row is missing. The files, per stem (docs/segmentation.md):
 *   <stem>.label.png       class index per pixel (8-bit indexed PNG with the palette; 16-bit grey above 256 classes)
 *   <stem>.confidence.png  max mean probability x 65535 (16-bit grey)
 *   <stem>.entropy.png     predictive entropy / ln(classes) x 65535 (16-bit grey)
 *   <stem>.mi.png          mutual information / ln(classes) x 65535 (16-bit grey)
 *   <stem>.maps.npy        float32 [3, H, W]: confidence, entropy, mutual information (nats)
 *   <stem>.probs.npy       float32 [classes, H, W] mean probabilities (perClass only)
 *   <stem>.overlay.png     the image with the label colours blended in (overlay only)
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomicSync } from '../../io/durable.js';
import { npyFloat32 } from '../../io/npy.js';
import { encodePng } from '../../io/png.js';
import type { PixelMaps } from '../../segmentation/maps.js';
import { overlay } from '../../segmentation/palette.js';

/** What to write besides the label, uncertainty and .npy maps. */
export interface MapFileOptions {
  /** RGB per class, for the label PNG and the overlay (classes <= 256). */
  palette: Uint8Array;
  perClass: boolean;
}

/** Writes one image's maps under `folder`; `pixels` (RGB at the maps' size) adds the overlay. Returns the names written, relative to `folder`. */
export function writeMapFiles(folder: string, stem: string, maps: PixelMaps, options: MapFileOptions, pixels?: Uint8Array): string[] {
  const { width, height, classes } = maps;
  const written: string[] = [];
  const write = (suffix: string, content: Uint8Array) => {
    const name = `${stem}.${suffix}`;
    const file = path.join(folder, ...name.split('/'));
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileAtomicSync(file, content);
    written.push(name);
  };
  const indexed = classes <= 256;
  write(
    'label.png',
    indexed
      ? encodePng({ kind: 'indexed8', width, height, data: Uint8Array.from(maps.label), palette: options.palette.subarray(0, classes * 3) })
      : encodePng({ kind: 'gray16', width, height, data: maps.label }),
  );
  const logC = Math.log(classes);
  write('confidence.png', encodePng({ kind: 'gray16', width, height, data: scaled(maps.confidence, 1) }));
  write('entropy.png', encodePng({ kind: 'gray16', width, height, data: scaled(maps.entropy, logC) }));
  write('mi.png', encodePng({ kind: 'gray16', width, height, data: scaled(maps.mutualInformation, logC) }));
  const stacked = new Float32Array(3 * width * height);
  stacked.set(maps.confidence, 0);
  stacked.set(maps.entropy, width * height);
  stacked.set(maps.mutualInformation, 2 * width * height);
  write('maps.npy', npyFloat32(stacked, [3, height, width]));
  if (options.perClass) write('probs.npy', npyFloat32(maps.meanProbs, [classes, height, width]));
  if (pixels && indexed) write('overlay.png', encodePng({ kind: 'rgb8', width, height, data: overlay(pixels, maps.label, options.palette) }));
  return written;
}

/** Values in [0, top] as 16-bit levels: round(v / top x 65535), clamped. */
function scaled(values: Float32Array, top: number): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = Math.min(65535, Math.max(0, Math.round((values[i]! / top) * 65535)));
  return out;
}
