/** Deep ensembles and test-time views end to end (#36): files in, CSV out, process start included. */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildMobileNetV2 } from '../mobilenet.js';
import { writePhotos } from '../photos.js';
import { say, work, quick, runCli } from '../harness.js';

// --quick: fewer photos, not fewer rounds (single rounds' ratios moved by up to 0.8x between runs on this shared machine)
const COUNT = quick ? 48 : 144;
export const ENSEMBLE_PHOTOS = `${COUNT} JPEGs 640x480`;
const ONE_MEMBER = '1 member, MC T=10';
export const THREE_MEMBERS = '3 members, MC T=10';
export const FIVE_MEMBERS = '5 members, MC T=10';
export const ONE_MEMBER_FLIP = '1 member, MC T=10, --tta flip';

export interface EnsembleRow {
  run: string;
  photos: string;
  imagesPerSecond: number;
  /** The highest of the rounds: the memory target holds for every run, not the median one. */
  peakRssMiB: number;
  /** Wall seconds relative to one member's MC run on the same photos, in the same rounds. */
  costVsOneMember: number;
}

/**
 * MobileNetV2-size members with head dropout (the photos suite's model; each member another weight
 * seed, written to the bench's work folder) on 640x480 JPEGs: one member, three, five, and one
 * member with a mirrored view, all MC T=10, taking turns round after round (median of 3); wall
 * time against one member's, and peak RSS.
 */
export async function ensembles(): Promise<EnsembleRow[]> {
  const folder = await writePhotos(path.join(work, 'ensemble-640'), COUNT, 640, 480);
  const members = Array.from({ length: 5 }, (_, m) => {
    const file = path.join(work, `mobilenetv2-head-dropout-member-${m}.onnx`);
    writeFileSync(file, buildMobileNetV2({ weightSeed: 12345 + m }));
    return file;
  });
  const modelArgs = (n: number) => members.slice(0, n).flatMap((file) => ['-m', file]);
  const runs: [string, string[]][] = [
    [ONE_MEMBER, modelArgs(1)],
    [THREE_MEMBERS, modelArgs(3)],
    [FIVE_MEMBERS, modelArgs(5)],
    [ONE_MEMBER_FLIP, [...modelArgs(1), '--tta', 'flip']],
  ];
  const common = ['-t', '10', '--device', 'cpu', '--seed', '1', '-q', '-o', path.join(work, 'ensemble-out.csv')];
  const samples = new Map<string, { seconds: number; peakRssMiB: number }[]>(runs.map(([run]) => [run, []]));
  for (let round = 0; round < 3; round++) {
    for (const [run, args] of runs) samples.get(run)!.push(await runCli(['predict', folder, ...args, ...common]));
  }
  const median = (list: { seconds: number; peakRssMiB: number }[]) => [...list].sort((a, b) => a.seconds - b.seconds)[list.length >> 1]!;
  const one = median(samples.get(ONE_MEMBER)!).seconds;
  return runs.map(([run]) => {
    const list = samples.get(run)!;
    const seconds = median(list).seconds;
    const peakRssMiB = Math.max(...list.map((s) => s.peakRssMiB));
    return { run, photos: ENSEMBLE_PHOTOS, imagesPerSecond: COUNT / seconds, peakRssMiB, costVsOneMember: seconds / one };
  });
}

export function printEnsembles(rows: readonly EnsembleRow[]): void {
  say(
    '\nDeep ensembles and test-time views (MobileNetV2-size members, head dropout; files -> CSV, process start included; median of 3, alternating; peak RSS the highest of the 3)',
  );
  say('| run | photos | images/s | cost vs 1 member | peak RSS MiB |\n|---|---|---|---|---|');
  for (const r of rows) say(`| ${r.run} | ${r.photos} | ${r.imagesPerSecond.toFixed(1)} | ${r.costVsOneMember.toFixed(2)}x | ${r.peakRssMiB.toFixed(0)} |`);
}
