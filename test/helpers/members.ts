/** Ensemble members for tests: the shipped ones (models/members/), and a member without dropout made from one of them. */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { decodeModel, encodeModel } from '../../src/model/onnx.js';
import { ROOT } from './cli.js';

/** The bundled model and the four members trained beside it (models/README.md, "Ensemble members"), relative to the repository root. */
export const MEMBERS = [
  'models/fashion-mnist-mc.onnx',
  'models/members/fashion-mnist-seed1.onnx',
  'models/members/fashion-mnist-seed2.onnx',
  'models/members/fashion-mnist-seed3.onnx',
  'models/members/fashion-mnist-seed4.onnx',
] as const;

/** `source` with every Dropout node removed (its readers read its input): a plain deep-ensemble member, written to `file`. */
export function withoutDropout(source: string, file: string): string {
  const model = decodeModel(readFileSync(path.resolve(ROOT, source)));
  const graph = model.graph!;
  const nodes = graph.node ?? [];
  for (const node of nodes.filter((n) => n.opType === 'Dropout')) {
    for (const reader of nodes) reader.input = (reader.input ?? []).map((name) => (name === node.output![0] ? node.input![0]! : name));
  }
  graph.node = nodes.filter((n) => n.opType !== 'Dropout');
  writeFileSync(file, encodeModel(model));
  return file;
}
