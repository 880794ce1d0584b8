/** Start-up (#38): one image end to end, process start included, against the floor's one image; and `--version`. */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { writePhotos } from '../photos.js';
import { ROOT, say, BIN, work, quick, sleep, runCli, DEFAULT_ENV } from '../harness.js';

const STARTUP_FLOOR = 'floor: plain onnxruntime + sharp, one image, T=1';
const STARTUP_FLOOR_QUIET = 'floor, ORT_DISABLE_TELEMETRY=1 (as mc-dropout runs onnxruntime)';
export const STARTUP_PREDICT = 'mc-dropout predict, one image, MC T=10';
const STARTUP_NO_CACHE = 'mc-dropout predict, one image, MC T=10, --no-cache (probes the model each start)';
const STARTUP_VERSION = 'mc-dropout --version';
const STARTUP_NODE = 'node alone (an empty script)';
const ROUNDS = quick ? 5 : 11;
/** How far above the floor's one image mc-dropout's may start, finish and exit (#38). */
export const STARTUP_BUDGET_MS = 50;

export interface StartupRow {
  run: string;
  /** Median wall milliseconds, process start to exit. */
  ms: number;
  /** Milliseconds above the floor's median in the same rounds (negative: below). */
  vsFloorMs: number;
  /** Wall time relative to the floor's. */
  vsFloor: number;
}

/**
 * Whole processes on one 640x480 JPEG with the MobileNetV2-size model (head dropout): the floor
 * script (bench/floor.ts; also with onnxruntime's telemetry off, as mc-dropout runs it) and
 * mc-dropout predict, plus `mc-dropout --version` and node on an empty script, taking turns round
 * after round with a pause before each (median of 11; of 5 with --quick).
 */
export async function startup(model: string): Promise<StartupRow[]> {
  const folder = await writePhotos(path.join(work, 'startup-one'), 1, 640, 480);
  const empty = path.join(work, 'empty.js');
  writeFileSync(empty, '');
  const out = path.join(work, 'startup-out.csv');
  const floorScript = path.join(ROOT, 'dist', 'bench', 'floor.js');
  const runs: [string, () => Promise<{ seconds: number }>][] = [
    [STARTUP_FLOOR, () => runCli([model, folder, out], floorScript)],
    [STARTUP_FLOOR_QUIET, () => runCli([model, folder, out], floorScript, { ...DEFAULT_ENV, ORT_DISABLE_TELEMETRY: '1' })],
    [STARTUP_PREDICT, () => runCli(['predict', folder, '-m', model, '--device', 'cpu', '--seed', '1', '-q', '-o', out])],
    [STARTUP_NO_CACHE, () => runCli(['predict', folder, '-m', model, '--device', 'cpu', '--seed', '1', '-q', '-o', out, '--no-cache'])],
    [STARTUP_VERSION, () => runCli(['--version'], BIN)],
    [STARTUP_NODE, () => runCli([], empty)],
  ];
  const samples = new Map<string, number[]>(runs.map(([run]) => [run, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [run, start] of runs) {
      // the other sessions' onnxruntime threads stop spinning before each process
      await sleep(50);
      samples.get(run)!.push((await start()).seconds * 1000);
    }
  }
  const median = (list: number[]) => [...list].sort((a, b) => a - b)[list.length >> 1]!;
  const floor = median(samples.get(STARTUP_FLOOR)!);
  return runs.map(([run]) => {
    const ms = median(samples.get(run)!);
    return { run, ms, vsFloorMs: ms - floor, vsFloor: ms / floor };
  });
}

export function printStartup(rows: readonly StartupRow[]): void {
  say(`\nStart-up (one 640x480 JPEG, MobileNetV2-size, head dropout; whole processes, alternating, median of ${ROUNDS})`);
  say('| run | ms | vs the floor |\n|---|---|---|');
  for (const r of rows) say(`| ${r.run} | ${r.ms.toFixed(0)} | ${r.vsFloorMs >= 0 ? '+' : ''}${r.vsFloorMs.toFixed(0)} ms (${r.vsFloor.toFixed(2)}x) |`);
}
