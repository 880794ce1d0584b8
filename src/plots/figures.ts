/** An evaluation report's figures: rendered to SVG, and written as SVG and PNG files. */
import { mkdirSync } from 'node:fs';
import { writeFileAtomicSync } from '../io/durable.js';
import path from 'node:path';
import { UsageError } from '../errors.js';
import { svgToPng } from '../preprocess/decode.js';
import type { EvaluationReport } from '../run/evaluate/file.js';
import { calibratedReliabilitySpec, coverageSpec, evaluationFigures, oodHistogramSpec, oodRocSpec, setSizeSpec } from './specs.js';

/** One evaluation figure: its file name, title and SVG text. */
export interface RenderedFigure {
  name: string;
  title: string;
  svg: string;
}

/** Every figure of the report as SVG; none when no image has a true class. */
export async function renderEvaluationFigures(report: EvaluationReport): Promise<RenderedFigure[]> {
  if (!report.numbers) return [];
  const labeled = report.images
    .filter((im) => im.truth !== null)
    .map((im) => ({ correct: im.predicted === im.truth, entropy: im.entropy, mutualInformation: im.mutual_information }));
  const figures = evaluationFigures(report.numbers, report.labels, labeled);
  if (report.calibration) {
    figures.push(
      {
        name: 'calibrated-reliability',
        title: 'Reliability before and after calibration',
        spec: calibratedReliabilitySpec(report.numbers, report.calibration.metrics, report.calibration.temperature),
      },
      { name: 'set-sizes', title: 'Prediction-set sizes', spec: setSizeSpec(report.calibration.sets, report.calibration.alpha) },
    );
    if (report.calibration.byAlpha.length > 0) {
      figures.push({ name: 'coverage', title: 'Coverage against alpha', spec: coverageSpec(report.calibration.byAlpha, report.calibration.alpha) });
    }
  }
  if (report.ood && report.ood.curves.length > 0) {
    figures.push(
      { name: 'ood-roc', title: 'Out-of-distribution ROC', spec: oodRocSpec(report.ood.curves, report.ood.scores) },
      { name: 'ood-scores', title: 'Scores of in-distribution and OOD images', spec: oodHistogramSpec(report.ood.curves) },
    );
  }
  // vega loads here, not when the library does (about 0.3 s)
  const { renderSvg } = await import('./render.js');
  return Promise.all(figures.map(async (f) => ({ name: f.name, title: f.title, svg: await renderSvg(f.spec) })));
}

/** Writes NAME.svg and NAME.png (2x) per figure into `folder` (made if missing); returns the files written. */
export async function writeFigures(figures: readonly RenderedFigure[], folder: string): Promise<string[]> {
  try {
    mkdirSync(folder, { recursive: true });
  } catch (error) {
    throw new UsageError(`Cannot make the plots folder ${folder} (${error instanceof Error ? error.message : String(error)})`, { cause: error });
  }
  const written: string[] = [];
  for (const figure of figures) {
    const svgFile = path.join(folder, `${figure.name}.svg`);
    const pngFile = path.join(folder, `${figure.name}.png`);
    writeFileAtomicSync(svgFile, figure.svg);
    writeFileAtomicSync(pngFile, await svgToPng(figure.svg));
    written.push(svgFile, pngFile);
  }
  return written;
}
