/**
 * npm run bench: speed of Monte Carlo dropout against one deterministic pass, on this machine, in
 * one run (ratios, not absolute numbers, are what compares across noisy shared machines).
 * Writes bench/results/latest.json and prints tables; a full run also writes docs/benchmarks.md and
 * the figures other pages quote from it (bench/doc-figures.ts). Inference-only and end-to-end are separate.
 * One section alone: `npm run bench -- --photos`, `--random-ops`, `--adaptive`, `--mc-graph`, `--ensemble`, `--startup`, `--drop-path` or `--segmentation`
 * (`--quick` for fewer rounds); these print their tables and write nothing.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import path from 'node:path';
import { buildMobileNetV2 } from './mobilenet.js';
import { ROOT, printed, say, work, quick } from './harness.js';
import { inference } from './suites/inference.js';
import { randomOps, printRandomOps } from './suites/random-ops.js';
import { preprocessing } from './suites/preprocessing.js';
import { endToEnd } from './suites/end-to-end.js';
import { TIMM_DROPPATH, TV_HEAD_RANDOM, MNV2_HEAD, MNV2_DROPPATH, endToEndPhotos, printPhotos } from './suites/photos.js';
import { adaptive, adaptiveRounds, printAdaptiveRounds, printAdaptive } from './suites/adaptive.js';
import { mcGraphBench, printMcGraph } from './suites/mc-graph.js';
import { browserImagesPerSecond } from './suites/browser.js';
import { ensembles, printEnsembles } from './suites/ensemble.js';
import { startup, printStartup } from './suites/startup.js';
import { segmentation, printSegmentation } from './suites/segmentation.js';
import { dropPathSpellings, printDropPath } from './suites/drop-path.js';
import {
  BUNDLED_64,
  BUNDLED_1,
  MOBILENET_HEAD,
  MOBILENET_TRUNK,
  targets,
  ensembleTargets,
  startupTargets,
  segmentationTargets,
  dropPathTargets,
  type Target,
} from './targets.js';
import { writeDocFigures } from './doc-figures.js';

/** The MC graph rows: the bundled model, MobileNetV2 with head dropout, and timm's DropPath layout. */
async function mcGraphRows(mobilenet: string) {
  return [
    await mcGraphBench('bundled fashion-mnist 32x32', path.join(ROOT, 'models', 'fashion-mnist-mc.onnx'), 64),
    await mcGraphBench('MobileNetV2 224x224, head dropout', mobilenet, 8),
    await mcGraphBench('timm EfficientNet-B0 layout, DropPath, 64x64', path.join(ROOT, 'fixtures', 'modern', 'effnet_droppath.onnx'), 16),
  ];
}

function printTargets(goals: readonly Target[]): void {
  say('\nTargets (issues #7, #12, #14, #36, #37 and #38)');
  say('| target | measured | met |\n|---|---|---|');
  for (const g of goals) say(`| ${g.target} | ${g.measured} | ${g.met ? 'yes' : 'no'} |`);
}

async function main(): Promise<void> {
  console.error(`mc-dropout bench on ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'})${quick ? ', quick' : ''}`);
  if (process.argv.includes('--adaptive')) {
    printAdaptive(await adaptive());
    const file = path.join(work, 'mobilenetv2-head-dropout.onnx');
    writeFileSync(file, buildMobileNetV2());
    printAdaptiveRounds(await adaptiveRounds(file));
    return;
  }
  if (process.argv.includes('--photos')) {
    // only the end-to-end photo rows (npm run bench -- --photos): about three minutes
    const head = path.join(work, 'mobilenetv2-head-dropout.onnx');
    writeFileSync(head, buildMobileNetV2());
    const dropPathOnly = path.join(work, 'mobilenetv2-droppath.onnx');
    writeFileSync(dropPathOnly, buildMobileNetV2({ dropPathRate: 0.2 }));
    printPhotos(await endToEndPhotos({ [MNV2_HEAD]: head, [MNV2_DROPPATH]: dropPathOnly }));
    return;
  }
  if (process.argv.includes('--mc-graph')) {
    const head = path.join(work, 'mobilenetv2-head-dropout.onnx');
    writeFileSync(head, buildMobileNetV2());
    printMcGraph(await mcGraphRows(head), say, await browserImagesPerSecond());
    return;
  }
  if (process.argv.includes('--ensemble')) {
    // only the ensemble and test-time view rows (npm run bench -- --ensemble): about a minute
    const rows = await ensembles();
    printEnsembles(rows);
    printTargets(ensembleTargets(rows));
    return;
  }
  if (process.argv.includes('--startup')) {
    // only the start-up rows (npm run bench -- --startup): under a minute
    const head = path.join(work, 'mobilenetv2-head-dropout.onnx');
    writeFileSync(head, buildMobileNetV2());
    const rows = await startup(head);
    printStartup(rows);
    printTargets(startupTargets(rows));
    return;
  }
  if (process.argv.includes('--drop-path')) {
    // only the stochastic-depth spelling rows (npm run bench -- --drop-path): a few minutes
    const rows = await dropPathSpellings();
    printDropPath(rows);
    printTargets(dropPathTargets(rows));
    return;
  }
  if (process.argv.includes('--segmentation')) {
    // only the segmentation rows (npm run bench -- --segmentation): FCN- and DeepLab-shaped models at 512x512
    const rows = await segmentation();
    printSegmentation(rows);
    printTargets(segmentationTargets(rows));
    return;
  }
  if (process.argv.includes('--random-ops')) {
    // only the random-op rows (npm run bench -- --random-ops): a minute instead of fifteen
    printRandomOps([
      ...(await randomOps(TIMM_DROPPATH, path.join(ROOT, 'fixtures', 'modern', 'effnet_droppath.onnx'), 16)),
      ...(await randomOps(TV_HEAD_RANDOM, path.join(ROOT, 'fixtures', 'modern', 'mnv3_dropout.onnx'), 16)),
    ]);
    return;
  }
  const mobilenet = path.join(work, 'mobilenetv2-head-dropout.onnx');
  writeFileSync(mobilenet, buildMobileNetV2());
  const trunkDropout = path.join(work, 'mobilenetv2-trunk-dropout.onnx');
  writeFileSync(trunkDropout, buildMobileNetV2({ trunkDropoutAfterStages: [3, 5] }));
  const bundled = path.join(ROOT, 'models', 'fashion-mnist-mc.onnx');
  const dropPath = path.join(work, 'mobilenetv2-droppath.onnx');
  writeFileSync(dropPath, buildMobileNetV2({ dropPathRate: 0.2 }));
  const inferenceRows = [
    ...(await inference(BUNDLED_64, bundled, 64)),
    // one image at a time: where a session run's fixed cost is largest against its work
    ...(await inference(BUNDLED_1, bundled, 1)),
    ...(await inference(MOBILENET_HEAD, mobilenet, 8)),
    ...(await inference(MOBILENET_TRUNK, trunkDropout, 8)),
  ];
  const randomRows = [
    ...(await randomOps(TIMM_DROPPATH, path.join(ROOT, 'fixtures', 'modern', 'effnet_droppath.onnx'), 16)),
    ...(await randomOps(TV_HEAD_RANDOM, path.join(ROOT, 'fixtures', 'modern', 'mnv3_dropout.onnx'), 16)),
  ];
  const preprocess = await preprocessing();
  const e2e = await endToEnd();
  const photoRows = await endToEndPhotos({ [MNV2_HEAD]: mobilenet, [MNV2_DROPPATH]: dropPath });
  const dropPathRows = await dropPathSpellings();
  const ensembleRows = await ensembles();
  const startupRows = await startup(mobilenet);
  const segmentationRows = await segmentation();
  const graphRows = await mcGraphRows(mobilenet);
  const browserRate = await browserImagesPerSecond();
  const adaptiveRows = await adaptive();
  const roundsRow = await adaptiveRounds(mobilenet);
  const goals = targets(inferenceRows, e2e, randomRows, photoRows);
  goals.push({
    target: 'adaptive T with trunk reuse: the trunk runs once per image, not once per round (faster than recomputing it)',
    measured: `${(roundsRow.trunkPerRound / roundsRow.trunkOnce).toFixed(2)}x faster`,
    met: roundsRow.trunkPerRound > roundsRow.trunkOnce,
  });
  goals.push(...dropPathTargets(dropPathRows));
  goals.push(...ensembleTargets(ensembleRows));
  goals.push(...startupTargets(startupRows));
  goals.push(...segmentationTargets(segmentationRows));
  const results = {
    date: new Date().toISOString(),
    cores: cpus().length,
    cpu: cpus()[0]?.model,
    node: process.version,
    inference: inferenceRows,
    randomOps: randomRows,
    preprocess,
    endToEnd: e2e,
    photos: photoRows,
    dropPath: dropPathRows,
    ensembles: ensembleRows,
    startup: startupRows,
    segmentation: segmentationRows,
    adaptive: adaptiveRows,
    adaptiveRounds: roundsRow,
    mcGraph: graphRows,
    browserImagesPerSecond: browserRate ?? null,
    targets: goals,
  };
  mkdirSync(path.join(ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(path.join(ROOT, 'bench', 'results', 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);

  say('\nInference only (CPU; methods take turns, median of 5 rounds)');
  say('| model | method | T | images/s | cost vs 1 deterministic pass |\n|---|---|---|---|---|');
  for (const r of inferenceRows) say(`| ${r.model} | ${r.method} | ${r.passes} | ${r.imagesPerSecond.toFixed(1)} | ${r.costVsDeterministic.toFixed(2)}x |`);
  printRandomOps(randomRows);
  say('\nPreprocessing only (sharp, 4 images in flight)');
  say('| input | images/s |\n|---|---|');
  for (const p of preprocess) say(`| ${p.target} | ${p.imagesPerSecond.toFixed(1)} |`);
  say('\nEnd to end (files -> CSV, the real CLI, process start included; median of 3)');
  say('| run | images/s | peak RSS MiB | cost vs deterministic |\n|---|---|---|---|');
  for (const e of e2e)
    say(`| ${e.run} | ${e.imagesPerSecond.toFixed(1)} | ${e.peakRssMiB.toFixed(0)} | ${e.costVsDeterministic ? `${e.costVsDeterministic.toFixed(2)}x` : ''} |`);
  printPhotos(photoRows);
  printDropPath(dropPathRows);
  printEnsembles(ensembleRows);
  printStartup(startupRows);
  printSegmentation(segmentationRows);
  printAdaptive(adaptiveRows);
  printMcGraph(graphRows, say, browserRate);
  printAdaptiveRounds(roundsRow);
  printTargets(goals);
  const page = path.join(ROOT, 'docs', 'benchmarks.md');
  if (!quick && !process.argv.includes('--photos')) {
    writeFileSync(
      page,
      [
        '# Benchmarks',
        '',
        `Written by \`npm run bench\` (bench/bench.ts) on ${results.date.slice(0, 10)}: ${results.cores} cores (${results.cpu ?? 'unknown CPU'}), Node ${results.node}. Do not edit: rerun the bench. What the rows mean, and the notes on them: [performance.md](performance.md). Back to the [README](../README.md).`,
        ...printed,
        '',
      ].join('\n'),
    );
    // the figures other pages quote, from the page just written (bench/doc-figures.ts)
    const changed = writeDocFigures(ROOT);
    if (changed.length) console.log(`bench figures rewritten in ${changed.join(', ')}`);
  }
  console.log(`\nwritten to bench/results/latest.json${!quick && !process.argv.includes('--photos') ? ' and docs/benchmarks.md' : ''}`);
}

await main();
