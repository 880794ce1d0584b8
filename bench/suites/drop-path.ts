/**
 * Stochastic depth in every spelling exporters write (#38, point 2): the MobileNetV2-size model with
 * DropPath on every residual, spelled each way (bench/mobilenet.ts DROP_PATH_SPELLINGS). In
 * process: MC T=10 with prefix sharing against without it. End to end: MC T=10 against the floor
 * on the same 48 JPEGs.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { McModel } from '../../src/engine/mc-model.js';
import { buildMobileNetV2, DROP_PATH_SPELLINGS, type DropPathSpelling } from '../mobilenet.js';
import { writePhotos } from '../photos.js';
import { ROOT, say, work, quick, runCli, testImages, timeMethods } from '../harness.js';

/** What the end-to-end rows must reach: MC T=10 at this share of the floor's images/s (#38). */
export const DROP_PATH_FLOOR_SHARE = 0.5;

export interface DropPathRow {
  spelling: DropPathSpelling;
  /** What writes it. */
  exporter: string;
  /** Sites whose decision prefix sharing groups passes by (of the model's 10 DropPaths). */
  sharedSites: number;
  /** In process, B=8: seconds of MC T=10 without prefix sharing over seconds with it. */
  sharingSpeedup: number;
  /** End to end, 48 JPEGs 640x480: images/s of MC T=10, and relative to the floor's. */
  imagesPerSecond: number;
  vsFloor: number;
}

export async function dropPathSpellings(): Promise<DropPathRow[]> {
  const photos = await writePhotos(path.join(work, 'photos-640'), 48, 640, 480);
  const floorScript = path.join(ROOT, 'dist', 'bench', 'floor.js');
  const out = path.join(work, 'droppath-out.csv');
  const rows: DropPathRow[] = [];
  for (const spelling of Object.keys(DROP_PATH_SPELLINGS) as DropPathSpelling[]) {
    const file = path.join(work, `mobilenetv2-droppath-${spelling}.onnx`);
    writeFileSync(file, buildMobileNetV2({ dropPathRate: 0.2, dropPathSpelling: spelling }));
    const shared = await McModel.load(file, { device: 'cpu', idleThreadsSpin: false });
    const plain = await McModel.load(file, { device: 'cpu', idleThreadsSpin: false, prefixSharing: 'off' });
    const images = testImages(shared, 8);
    const [withSharing, without] = await timeMethods([
      { method: 'shared', passes: 10, run: () => shared.predict(images, { passes: 10, seed: 1 }) },
      { method: 'plain', passes: 10, run: () => plain.predict(images, { passes: 10, seed: 1 }) },
    ]);
    const sharedSites = shared.plan.sharedSites.length;
    await shared.dispose();
    await plain.dispose();
    const floor: number[] = [];
    const ours: number[] = [];
    for (let round = 0; round < (quick ? 1 : 3); round++) {
      floor.push((await runCli([file, photos, out], floorScript)).seconds);
      ours.push((await runCli(['predict', photos, '-m', file, '--device', 'cpu', '--seed', '1', '-q', '-o', out, '-t', '10'])).seconds);
    }
    const median = (list: number[]) => [...list].sort((a, b) => a - b)[list.length >> 1]!;
    rows.push({
      spelling,
      exporter: DROP_PATH_SPELLINGS[spelling],
      sharedSites,
      sharingSpeedup: without! / withSharing!,
      imagesPerSecond: 48 / median(ours),
      vsFloor: median(floor) / median(ours),
    });
  }
  return rows;
}

export function printDropPath(rows: readonly DropPathRow[]): void {
  say('\nStochastic depth as each exporter spells it (MobileNetV2-size, DropPath on all 10 residuals, rate up to 0.2; MC T=10)');
  say(
    '| spelling | sites sharing prefixes | prefix sharing speed-up, in process (B=8) | 48 JPEGs 640x480 end to end, images/s | vs floor |\n|---|---|---|---|---|',
  );
  for (const r of rows)
    say(`| ${r.exporter} | ${r.sharedSites} of 10 | ${r.sharingSpeedup.toFixed(2)}x | ${r.imagesPerSecond.toFixed(1)} | ${r.vsFloor.toFixed(2)}x |`);
}
