/** Adaptive T against a fixed T: passes saved and the time it takes. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { McModel } from '../../src/engine/mc-model.js';
import { outcomeOf } from '../../src/evaluate/evaluation.js';
import { metricsOf } from '../../src/evaluate/metrics.js';
import { ROOT, say, work, quick, timeMethods, testImages, runCli } from '../harness.js';

export interface AdaptiveRow {
  run: string;
  seconds: number;
  meanPasses: number;
  /** Share of images whose top-1 label equals the T=100 run's. */
  agreement: number;
  /** Mean over images and classes of |mean probability - T=100's|. */
  meanAbsProbabilityDifference: number;
  meanAbsEntropyDifference: number;
  meanAbsMutualInformationDifference: number;
  /** On the 50 labeled samples (fixtures/samples.csv). */
  accuracy: number;
  nll: number;
  ece: number;
}

/**
 * Adaptive T against T=100 with the same seed, the bundled model on the fixture images (the
 * samples and the odd cases): passes used, top-1 agreement, entropy difference, wall time
 * (the real CLI, median of 3 alternating runs).
 */
export async function adaptive(): Promise<AdaptiveRow[]> {
  const inputs = [path.join(ROOT, 'fixtures', 'samples'), path.join(ROOT, 'fixtures', 'odd')];
  const runs: [string, string[]][] = [
    ['T=100', ['-t', '100']],
    ['--times auto', ['--times', 'auto']],
    ['--times auto --tolerance 0.08', ['--times', 'auto', '--tolerance', '0.08']],
  ];
  const seconds = new Map<string, number[]>(runs.map(([name]) => [name, []]));
  const outputs = new Map<string, string>();
  for (let round = 0; round < (quick ? 1 : 3); round++) {
    for (const [name, flags] of runs) {
      const out = path.join(work, `adaptive-${seconds.get(name)!.length}-${name.replace(/\W+/g, '_')}.jsonl`);
      seconds
        .get(name)!
        .push(
          (await runCli(['predict', ...inputs, ...flags, '--seed', '1', '--device', 'cpu', '-q', '-k', '1', '-f', 'jsonl', '--per-class', '-o', out])).seconds,
        );
      outputs.set(name, out);
    }
  }
  type Row = { path: string; class_index: number; entropy: number; mutual_information: number; passes?: number; mean: number[] };
  const read = (file: string) =>
    readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Row)
      .filter((r) => r.mean);
  const reference = read(outputs.get('T=100')!);
  const truth = new Map(
    parse<{ file: string; class_index: string }>(readFileSync(path.join(ROOT, 'fixtures', 'samples.csv'), 'utf8'), { columns: true }).map((r) => [
      path.join(ROOT, 'fixtures', r.file),
      Number(r.class_index),
    ]),
  );
  return runs.map(([name]) => {
    const rows = read(outputs.get(name)!);
    const n = rows.length;
    const times = [...seconds.get(name)!].sort((a, b) => a - b);
    const labeled = rows.flatMap((r) => {
      const label = truth.get(r.path);
      return label === undefined ? [] : [outcomeOf(r.mean, r.mean.length, label)];
    });
    const metrics = metricsOf(labeled);
    const mad = (f: (r: Row) => number) => rows.reduce((a, r, i) => a + Math.abs(f(r) - f(reference[i]!)), 0) / n;
    return {
      run: name,
      seconds: times[times.length >> 1]!,
      meanPasses: name === 'T=100' ? 100 : rows.reduce((a, r) => a + Number(r.passes), 0) / n,
      agreement: rows.filter((r, i) => r.class_index === reference[i]!.class_index).length / n,
      meanAbsProbabilityDifference:
        rows.reduce((a, r, i) => a + r.mean.reduce((x, m, c) => x + Math.abs(m - reference[i]!.mean[c]!), 0) / r.mean.length, 0) / n,
      meanAbsEntropyDifference: mad((r) => r.entropy),
      meanAbsMutualInformationDifference: mad((r) => r.mutual_information),
      accuracy: metrics.accuracy,
      nll: metrics.nll,
      ece: metrics.calibration.ece,
    };
  });
}

export interface AdaptiveRoundsRow {
  model: string;
  /** Seconds per batch: the default (trunk once, head per round) and the trunk again each round. */
  trunkOnce: number;
  trunkPerRound: number;
}

/**
 * Adaptive rounds with trunk reuse: the default runs the trunk once per image and the head per
 * round; before, each round ran the whole split graph again (what rounds of predict({ firstPass })
 * cost). Every image runs all 4 rounds (tolerance 0), B = 16, the same passes either way (checked).
 */
export async function adaptiveRounds(file: string): Promise<AdaptiveRoundsRow> {
  const model = await McModel.load(file, { device: 'cpu' });
  try {
    const images = testImages(model, 16);
    const rule = { minPasses: 8, maxPasses: 32, tolerance: 0, z: 3 };
    const perRound = async () => {
      const rounds = [];
      for (let done = 0; done < rule.maxPasses; done += rule.minPasses)
        rounds.push(await model.predict(images, { passes: rule.minPasses, seed: 1, firstPass: done }));
      return rounds;
    };
    const once = await model.predict(images, { passes: 0, seed: 1, adaptive: rule });
    const rounds = await perRound();
    const classes = model.info.classes;
    once.forEach((probs, i) =>
      rounds.forEach((round, r) => {
        const mine = probs.subarray(r * rule.minPasses * classes, (r + 1) * rule.minPasses * classes);
        if (mine.some((v, j) => Math.abs(v - round[i]![j]!) > 1e-6))
          throw new Error(`adaptive rounds differ from the per-round passes (image ${i}, round ${r})`);
      }),
    );
    const [trunkOnce, trunkPerRound] = await timeMethods(
      [
        { method: 'trunk once', passes: 32, run: () => model.predict(images, { passes: 0, seed: 1, adaptive: rule }) },
        { method: 'trunk per round', passes: 32, run: perRound },
      ],
      quick ? 2 : 3,
    );
    return { model: 'MobileNetV2 224x224, head dropout', trunkOnce: trunkOnce!, trunkPerRound: trunkPerRound! };
  } finally {
    await model.dispose();
  }
}

export function printAdaptiveRounds(row: AdaptiveRoundsRow): void {
  say(
    `\nAdaptive rounds with trunk reuse (${row.model}, 16 images, 4 rounds of 8 passes): trunk once ${row.trunkOnce.toFixed(3)} s, trunk per round ${row.trunkPerRound.toFixed(3)} s (${(row.trunkPerRound / row.trunkOnce).toFixed(2)}x)`,
  );
}

export function printAdaptive(rows: AdaptiveRow[]): void {
  say('\nAdaptive T against T=100 (bundled model, fixture images, --seed 1; the real CLI, median of 3)');
  say(
    '| run | mean passes | passes vs T=100 | top-1 agreement | mean abs difference: probabilities / entropy / MI | accuracy / NLL / ECE (50 labeled) | seconds |\n|---|---|---|---|---|---|---|',
  );
  for (const r of rows) {
    say(
      `| ${r.run} | ${r.meanPasses.toFixed(1)} | ${(100 / r.meanPasses).toFixed(1)}x fewer | ${(100 * r.agreement).toFixed(1)}% | ${r.meanAbsProbabilityDifference.toFixed(5)} / ${r.meanAbsEntropyDifference.toFixed(4)} / ${r.meanAbsMutualInformationDifference.toFixed(4)} | ${(100 * r.accuracy).toFixed(1)}% / ${r.nll.toFixed(4)} / ${r.ece.toFixed(4)} | ${r.seconds.toFixed(2)} |`,
    );
  }
}
