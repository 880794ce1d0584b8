/** The list of an ensemble's members: one ONNX path per line. */
import path from 'node:path';
import { param, UsageError } from '../errors.js';
import { readLines } from './lines.js';

/**
 * The members of an ensemble, one ONNX path per line (`#` comments and blank lines skipped; `-`
 * reads stdin). A relative path is read from the list's own folder, so a list travels with its models.
 */
export function readMemberList(file: string): string[] {
  const lines = readLines(file, 'the list of members', 'give a text file with one ONNX path per line');
  // a model or an image given as the list reads as bytes that are not text
  const bad = lines.findIndex((l) => l.includes('\0') || l.includes('\uFFFD'));
  if (bad >= 0)
    throw new UsageError(
      `The list of members ${file} is not UTF-8 text (line ${bad + 1} of its non-empty lines): give a text file with one ONNX path per line${file.endsWith('.onnx') ? `, or the model itself with ${param('model')}` : ''}`,
    );
  const folder = file === '-' ? '.' : path.dirname(file);
  return lines.filter((l) => !l.startsWith('#')).map((l) => (path.isAbsolute(l) ? l : path.join(folder, l)));
}
