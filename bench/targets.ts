/** The targets of issues #7, #12, #14, #36, #37 and #38, read off one run's figures. */
import { SEQUENTIAL, REPLICATED, TRUNK_REUSE, type InferenceRow } from './suites/inference.js';
import { RANDOM_OPS_SEEDED, RANDOM_OPS_DEFAULT, type RandomOpRow } from './suites/random-ops.js';
import type { EndToEndRow } from './suites/end-to-end.js';
import {
  TIMM_DROPPATH,
  TV_HEAD_RANDOM,
  type PhotoRow,
  OURS_MC,
  OURS_FAST,
  FLOOR_EXACT,
  OURS_HUGE,
  OURS_CROP,
  PHOTOS_640,
  PHOTOS_12MP,
  MNV2_HEAD,
  MNV2_DROPPATH,
  MEMORY_BUDGET_MIB,
} from './suites/photos.js';
import { ENSEMBLE_PHOTOS, THREE_MEMBERS, FIVE_MEMBERS, ONE_MEMBER_FLIP, type EnsembleRow } from './suites/ensemble.js';
import { STARTUP_BUDGET_MS, STARTUP_PREDICT, type StartupRow } from './suites/startup.js';
import { SEG_COST_BUDGET, SEG_MEMORY_BUDGET_MIB, type SegmentationRow } from './suites/segmentation.js';
import { DROP_PATH_FLOOR_SHARE, type DropPathRow } from './suites/drop-path.js';

export const BUNDLED_64 = 'bundled fashion-mnist 32x32 (B=64)';
export const BUNDLED_1 = 'bundled fashion-mnist 32x32 (B=1)';
export const MOBILENET_HEAD = 'MobileNetV2 224x224, head dropout (B=8)';
export const MOBILENET_TRUNK = 'MobileNetV2 224x224, trunk + head dropout (B=8)';

export interface Target {
  target: string;
  measured: string;
  met: boolean;
}

/** The targets of issues #7 and #12, read off this run's figures. */
export function targets(inference: InferenceRow[], e2e: EndToEndRow[], random: RandomOpRow[], photos: PhotoRow[]): Target[] {
  const cost = (model: string, method: string, passes: number) =>
    inference.find((r) => r.model === model && r.method === method && r.passes === passes)!.costVsDeterministic;
  const out: Target[] = [];
  const mobilenet = cost(MOBILENET_HEAD, TRUNK_REUSE, 10);
  out.push({ target: 'MobileNetV2 head dropout: MC T=10 <= 1.3x one deterministic pass', measured: `${mobilenet.toFixed(2)}x`, met: mobilenet <= 1.3 });
  for (const model of [BUNDLED_64, BUNDLED_1]) {
    const sequential = cost(model, SEQUENTIAL, 10);
    for (const method of [REPLICATED, TRUNK_REUSE]) {
      const speedup = sequential / cost(model, method, 10);
      out.push({ target: `${model}: ${method} >= 2x faster than T sequential runs, T=10`, measured: `${speedup.toFixed(2)}x faster`, met: speedup >= 2 });
    }
  }
  const endToEndCost = e2e[1]!.costVsDeterministic!;
  out.push({ target: 'bundled model end to end, MC T=10 <= 1.5x the deterministic run', measured: `${endToEndCost.toFixed(2)}x`, met: endToEndCost <= 1.5 });
  // 10%: room for the allocator's noise; memory kept per image would grow with the 8x more images
  const growth = e2e[3]!.peakRssMiB / e2e[2]!.peakRssMiB;
  out.push({
    target: 'peak RSS does not grow with the number of images (8x more images)',
    measured: `${e2e[2]!.peakRssMiB.toFixed(0)} -> ${e2e[3]!.peakRssMiB.toFixed(0)} MiB`,
    met: growth < 1.1,
  });
  const droppath = random.find((r) => r.model === TIMM_DROPPATH && r.method === RANDOM_OPS_SEEDED)!;
  out.push({
    target: 'timm DropPath: seeded random-op sites <= 1.1x plain onnxruntime running its own random ops (T=10, same batch)',
    measured: `${droppath.costVsPlain.toFixed(2)}x`,
    met: droppath.costVsPlain <= 1.1,
  });
  const head = random.find((r) => r.model === TV_HEAD_RANDOM && r.method === RANDOM_OPS_DEFAULT)!;
  out.push({
    target: 'trunk reuse applies to a model whose only random op sits in the head',
    measured: `${head.trunkReuse ? 'applies' : 'does not apply'}, ${head.costVsPlain.toFixed(2)}x plain`,
    met: head.trunkReuse,
  });
  // issue #14, end to end
  const photo = (model: string, set: string, run: string) => photos.find((r) => r.model === model && r.photos === set && r.run === run)!;
  const mc640 = photo(MNV2_HEAD, PHOTOS_640, OURS_MC);
  out.push({
    target: "MobileNetV2 head dropout, 640x480 JPEGs: MC T=10 >= 0.85x the floor's images/s",
    measured: `${mc640.vsFloor.toFixed(2)}x (${mc640.imagesPerSecond.toFixed(1)} images/s)`,
    met: mc640.vsFloor >= 0.85,
  });
  const exact = photo(MNV2_HEAD, PHOTOS_12MP, OURS_MC);
  const exactFloor = photo(MNV2_HEAD, PHOTOS_12MP, FLOOR_EXACT);
  out.push({
    target: '12 MP JPEGs, PIL-exact default: MC T=10 >= 0.5x the floor',
    measured: `${exact.vsFloor.toFixed(2)}x; the PIL-exact floor itself (T=1, no MC) ${exactFloor.vsFloor.toFixed(2)}x, mc-dropout ${(exact.vsFloor / exactFloor.vsFloor).toFixed(2)}x of it`,
    met: exact.vsFloor >= 0.5,
  });
  const crop = photo(MNV2_HEAD, PHOTOS_12MP, OURS_CROP);
  out.push({
    target: '12 MP JPEGs, PIL-exact with a center crop (the usual torchvision / timm eval transform): MC T=10 >= 0.5x the floor',
    measured: `${crop.vsFloor.toFixed(2)}x`,
    met: crop.vsFloor >= 0.5,
  });
  const huge = photo(MNV2_HEAD, PHOTOS_12MP, OURS_HUGE);
  out.push({
    target: '12 MP JPEGs, PIL-exact, both with GLIBC_TUNABLES=glibc.malloc.hugetlb=1: MC T=10 >= 0.5x the floor',
    measured: `${huge.vsFloor.toFixed(2)}x`,
    met: huge.vsFloor >= 0.5,
  });
  const fast = photo(MNV2_HEAD, PHOTOS_12MP, OURS_FAST);
  out.push({ target: '12 MP JPEGs, --resize-engine fast: MC T=10 >= 0.9x the floor', measured: `${fast.vsFloor.toFixed(2)}x`, met: fast.vsFloor >= 0.9 });
  const dp = photo(MNV2_DROPPATH, PHOTOS_640, OURS_MC);
  out.push({
    target: "stochastic depth everywhere, MC T=10 >= 2x the issue's 5.3 images/s (EfficientNet-B0 there; MobileNetV2-size with DropPath here)",
    measured: `${dp.imagesPerSecond.toFixed(1)} images/s`,
    met: dp.imagesPerSecond >= 10.6,
  });
  const worst = photos.reduce((a, r) => (r.peakRssMiB > a.peakRssMiB ? r : a));
  out.push({
    target: `peak RSS under ${MEMORY_BUDGET_MIB} MiB on every end-to-end photo row`,
    measured: `at most ${worst.peakRssMiB.toFixed(0)} MiB (${worst.run}, ${worst.photos})`,
    met: worst.peakRssMiB < MEMORY_BUDGET_MIB,
  });
  return out;
}

/** The targets of issue #36, point 7: an ensemble's and a mirrored view's cost end to end, and an ensemble's memory. */
export function ensembleTargets(rows: readonly EnsembleRow[]): Target[] {
  const row = (run: string) => rows.find((r) => r.run === run)!;
  const three = row(THREE_MEMBERS);
  const flip = row(ONE_MEMBER_FLIP);
  const five = row(FIVE_MEMBERS);
  return [
    {
      target: `3 MobileNetV2-size members, ${ENSEMBLE_PHOTOS}, end to end: MC T=10 <= 3.3x one member's MC T=10`,
      measured: `${three.costVsOneMember.toFixed(2)}x`,
      met: three.costVsOneMember <= 3.3,
    },
    {
      target: `one MobileNetV2-size member, ${ENSEMBLE_PHOTOS}, end to end: MC T=10 with --tta flip <= 2.1x without`,
      measured: `${flip.costVsOneMember.toFixed(2)}x`,
      met: flip.costVsOneMember <= 2.1,
    },
    {
      target: `5 MobileNetV2-size members, ${ENSEMBLE_PHOTOS}, MC T=10: peak RSS under ${MEMORY_BUDGET_MIB} MiB (the highest of 3 runs)`,
      measured: `${five.peakRssMiB.toFixed(0)} MiB`,
      met: five.peakRssMiB < MEMORY_BUDGET_MIB,
    },
  ];
}

/** #38: one image, process start to exit, within STARTUP_BUDGET_MS of the floor's one image. */
export function startupTargets(rows: readonly StartupRow[]): Target[] {
  const predict = rows.find((r) => r.run === STARTUP_PREDICT)!;
  return [
    {
      target: `MobileNetV2-size, one JPEG, whole process: mc-dropout predict (MC T=10) within ${STARTUP_BUDGET_MS} ms of the floor's one image`,
      measured: `${predict.vsFloorMs >= 0 ? '+' : ''}${predict.vsFloorMs.toFixed(0)} ms (${predict.vsFloor.toFixed(2)}x)`,
      met: predict.vsFloorMs <= STARTUP_BUDGET_MS,
    },
  ];
}

/** #37, point 4: a segmentation model's predict at 512x512, 21 classes, T=20: memory, and cost against one deterministic pass. */
export function segmentationTargets(rows: readonly SegmentationRow[]): Target[] {
  return [
    ...rows.map((r) => ({
      target: `${r.model}, 8 PNGs 512x512, 21 classes: peak RSS of predict at MC T=20 under ${SEG_MEMORY_BUDGET_MIB} MiB`,
      measured: `${r.peakRssMiB.toFixed(0)} MiB`,
      met: r.peakRssMiB < SEG_MEMORY_BUDGET_MIB,
    })),
    ...rows.map((r) => ({
      target: `${r.model}, same 8 PNGs, end to end: MC T=20 with trunk reuse <= ${SEG_COST_BUDGET}x --deterministic`,
      measured: `${r.costVsDeterministic.toFixed(2)}x`,
      met: r.costVsDeterministic <= SEG_COST_BUDGET,
    })),
  ];
}

/** #38, point 2: stochastic depth in each exporter's spelling shares prefixes and keeps MC T=10 near the floor. */
export function dropPathTargets(rows: readonly DropPathRow[]): Target[] {
  return rows.map((r) => ({
    target: `stochastic depth spelled ${r.spelling} (${r.exporter}), MobileNetV2-size, 48 JPEGs 640x480: MC T=10 >= ${DROP_PATH_FLOOR_SHARE}x the floor's images/s, every DropPath sharing prefixes`,
    measured: `${r.vsFloor.toFixed(2)}x, ${r.sharedSites} of 10 sharing`,
    met: r.vsFloor >= DROP_PATH_FLOOR_SHARE && r.sharedSites === 10,
  }));
}
