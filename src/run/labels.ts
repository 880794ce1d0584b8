/** A run's class labels: a labels file, else the model's metadata, else class indices. */
import { UsageError } from '../errors.js';
import { readLabels } from '../io/lines.js';

/** The labels of a labels file (one per line), which must name every class of the model. */
export function labelsFor(file: string, classes: number, warn: (m: string) => void): string[] {
  const labels = readLabels(file);
  if (labels.length !== classes) throw new UsageError(`The labels file ${file} has ${labels.length} labels but the model has ${classes} classes`);
  warnDuplicateLabels(labels, file, warn);
  return labels;
}

/** The labels the model's metadata lists, when they name every class; else class indices, with a warning if they do not fit. */
export function labelsFromModel(labels: string[] | undefined, classes: number, model: string, warn: (m: string) => void): string[] {
  if (labels && labels.length === classes) {
    warnDuplicateLabels(labels, model, warn);
    return labels;
  }
  if (labels) warn(`${model} lists ${labels.length} labels for ${classes} classes; printing class indices (give a labels file)`);
  return Array.from({ length: classes }, (_, i) => String(i));
}

/**
 * Duplicate label names are legitimate (ImageNet has two "crane"s) but a row's label no longer
 * names one class: said once, with the classes; class_index stays exact.
 */
function warnDuplicateLabels(labels: readonly string[], source: string, warn: (m: string) => void): void {
  const classes = new Map<string, number[]>();
  labels.forEach((label, i) => classes.set(label, [...(classes.get(label) ?? []), i]));
  const repeated = [...classes].filter(([, indices]) => indices.length > 1);
  if (repeated.length === 0) return;
  const shown = repeated
    .slice(0, 5)
    .map(([label, indices]) => `${JSON.stringify(label)} (classes ${indices.join(', ')})`)
    .join(', ');
  warn(
    `${source} gives ${repeated.length} label name${repeated.length > 1 ? 's' : ''} to more than one class: ${shown}${repeated.length > 5 ? ', ...' : ''}; the label column cannot tell them apart, class_index does`,
  );
}
