/** End to end on the bundled model: files in, CSV out, process start included. */
import path from 'node:path';
import { work, quick, runCli, imageFolder } from '../harness.js';

export interface EndToEndRow {
  run: string;
  imagesPerSecond: number;
  peakRssMiB: number;
  costVsDeterministic?: number;
}

/**
 * The CLI on folders of PNGs: deterministic and MC T=10 take turns (median of 3 each); then peak
 * RSS at two folder sizes, 8x apart. Over the first ~10,000 images RSS rises by about 15 MiB while
 * the native allocator's per-thread arenas fill (the JS heap stays at 47 MiB), then stays flat.
 */
export async function endToEnd(): Promise<EndToEndRow[]> {
  const n = quick ? 200 : 500;
  const [mid, large] = quick ? [1000, 4000] : [4000, 32000];
  const small = imageFolder(n);
  const common = ['--device', 'cpu', '--seed', '1', '-q', '-o', path.join(work, 'out.csv')];
  const det: { seconds: number; peakRssMiB: number }[] = [];
  const mc: { seconds: number; peakRssMiB: number }[] = [];
  for (let round = 0; round < 3; round++) {
    det.push(await runCli(['predict', small, '--deterministic', ...common]));
    mc.push(await runCli(['predict', small, '-t', '10', ...common]));
  }
  const median = (runs: { seconds: number; peakRssMiB: number }[]) => [...runs].sort((a, b) => a.seconds - b.seconds)[1]!;
  const rows: EndToEndRow[] = [
    { run: `bundled model, ${n} PNGs, deterministic`, imagesPerSecond: n / median(det).seconds, peakRssMiB: median(det).peakRssMiB },
    {
      run: `bundled model, ${n} PNGs, MC T=10`,
      imagesPerSecond: n / median(mc).seconds,
      peakRssMiB: median(mc).peakRssMiB,
      costVsDeterministic: median(mc).seconds / median(det).seconds,
    },
  ];
  for (const count of [mid, large]) {
    const run = await runCli(['predict', imageFolder(count), '-t', '10', ...common]);
    rows.push({ run: `bundled model, ${count} PNGs, MC T=10`, imagesPerSecond: count / run.seconds, peakRssMiB: run.peakRssMiB });
  }
  return rows;
}
