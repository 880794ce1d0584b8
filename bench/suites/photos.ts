/** End to end on photos (640x480 and 12 MP JPEGs) against a floor of plain onnxruntime + sharp. */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { writePhotos } from '../photos.js';
import { ROOT, say, BIN, work, quick, DEFAULT_ENV, HUGE_PAGES_ENV, runCli } from '../harness.js';

export const TIMM_DROPPATH = 'timm EfficientNet-B0 layout, DropPath, 64x64 (B=16)';
export const TV_HEAD_RANDOM = 'torchvision MobileNetV3-Small, head Dropout as RandomUniformLike, 64x64 (B=16)';
export interface PhotoRow {
  model: string;
  photos: string;
  run: string;
  imagesPerSecond: number;
  peakRssMiB: number;
  /** images/s relative to the floor's on the same model and photos. */
  vsFloor: number;
}

export const FLOOR = 'floor: plain onnxruntime + sharp, T=1';
export const OURS_DET = 'mc-dropout --deterministic';
export const OURS_MC = 'mc-dropout -t 10';
export const OURS_FAST = 'mc-dropout -t 10 --resize-engine fast';
export const FLOOR_EXACT = 'PIL-exact floor: the floor script with a full-size decode and the PIL-exact resize (--exact), T=1';
export const FLOOR_HUGE = 'floor, GLIBC_TUNABLES=glibc.malloc.hugetlb=1';
export const OURS_HUGE = 'mc-dropout -t 10, GLIBC_TUNABLES=glibc.malloc.hugetlb=1 (vs the floor with it too)';
export const OURS_CROP = "mc-dropout -t 10 --resize center-crop (torchvision's Resize(256) + CenterCrop(224), PIL-exact)";
export const PHOTOS_640 = '48 JPEGs 640x480';
export const PHOTOS_12MP = '24 JPEGs 4032x3024 (12 MP)';
export const MNV2_HEAD = 'MobileNetV2-size, head dropout';
export const MNV2_DROPPATH = 'MobileNetV2-size, DropPath on every residual (stochastic depth)';
/** Peak RSS every end-to-end row must stay under. */
export const MEMORY_BUDGET_MIB = 1024;

/**
 * Files in, CSV out, process start included, on photos: the floor script (bench/floor.ts), our
 * deterministic run and MC T=10, alternating, median of 3 (1 with --quick); peak RSS per row.
 */
export async function endToEndPhotos(models: Record<string, string>): Promise<PhotoRow[]> {
  const photos: Record<string, string> = {
    [PHOTOS_640]: await writePhotos(path.join(work, 'photos-640'), 48, 640, 480),
    [PHOTOS_12MP]: await writePhotos(path.join(work, 'photos-12mp'), 24, 4032, 3024),
  };
  const cases: { model: string; photos: string; runs: string[] }[] = [
    { model: MNV2_HEAD, photos: PHOTOS_640, runs: [FLOOR, OURS_DET, OURS_MC] },
    { model: MNV2_DROPPATH, photos: PHOTOS_640, runs: [FLOOR, OURS_DET, OURS_MC] },
    { model: MNV2_HEAD, photos: PHOTOS_12MP, runs: [FLOOR, FLOOR_EXACT, OURS_MC, OURS_FAST, OURS_CROP, FLOOR_HUGE, OURS_HUGE] },
  ];
  const floor = path.join(ROOT, 'dist', 'bench', 'floor.js');
  const out = path.join(work, 'photos-out.csv');
  const rows: PhotoRow[] = [];
  for (const c of cases) {
    const folder = photos[c.photos]!;
    const count = readdirSync(folder).length;
    const samples = new Map<string, { seconds: number; peakRssMiB: number }[]>(c.runs.map((r) => [r, []]));
    for (let round = 0; round < (quick ? 1 : 3); round++) {
      for (const run of c.runs) {
        const common = ['predict', folder, '-m', models[c.model]!, '--device', 'cpu', '--seed', '1', '-q', '-o', out];
        const env = run === FLOOR_HUGE || run === OURS_HUGE ? HUGE_PAGES_ENV : DEFAULT_ENV;
        const result =
          run === FLOOR || run === FLOOR_HUGE || run === FLOOR_EXACT
            ? await runCli([models[c.model]!, folder, out, ...(run === FLOOR_EXACT ? ['--exact'] : [])], floor, env)
            : await runCli(
                [
                  ...common,
                  ...(run === OURS_DET ? ['--deterministic'] : ['-t', '10']),
                  ...(run === OURS_FAST ? ['--resize-engine', 'fast'] : []),
                  ...(run === OURS_CROP ? ['--resize', 'center-crop'] : []),
                ],
                BIN,
                env,
              );
        samples.get(run)!.push(result);
      }
    }
    const median = (list: { seconds: number; peakRssMiB: number }[]) => [...list].sort((a, b) => a.seconds - b.seconds)[list.length >> 1]!;
    for (const run of c.runs) {
      const m = median(samples.get(run)!);
      const floorSeconds = median(samples.get(run === FLOOR_HUGE || run === OURS_HUGE ? FLOOR_HUGE : FLOOR)!).seconds;
      rows.push({ model: c.model, photos: c.photos, run, imagesPerSecond: count / m.seconds, peakRssMiB: m.peakRssMiB, vsFloor: floorSeconds / m.seconds });
    }
  }
  return rows;
}

export function printPhotos(rows: PhotoRow[]): void {
  say('\nEnd to end on photos (files -> CSV, process start included; median of 3, alternating)');
  say('| model | photos | run | images/s | vs floor | peak RSS MiB |\n|---|---|---|---|---|---|');
  for (const r of rows)
    say(`| ${r.model} | ${r.photos} | ${r.run} | ${r.imagesPerSecond.toFixed(1)} | ${r.vsFloor.toFixed(2)}x | ${r.peakRssMiB.toFixed(0)} |`);
}
