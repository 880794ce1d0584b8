import { stringify } from 'csv-stringify/sync';
import { readRunRows } from '../run/read-run.js';
import { select, type Acquisition } from '../select/rank.js';
import { EXIT } from './exit-codes.js';

export interface SelectCliOptions {
  by: Acquisition;
  count: number;
  seed: number;
  perClassQuota?: boolean;
  format: 'lines' | 'nul' | 'csv';
}

/** `mc-dropout select RUN`: the paths to label next, best first, on stdout. */
export function runSelect(run: string, options: SelectCliOptions): number {
  const { rows, errors } = readRunRows(run);
  const picks = select(rows, options.by, options.count, { seed: options.seed, perClassQuota: options.perClassQuota ?? false });
  if (options.format === 'csv') {
    process.stdout.write(stringify([['rank', 'path', 'label', options.by], ...picks.map((p, i) => [String(i + 1), p.row.path, p.row.label, p.score.toFixed(6)])]));
  } else {
    const end = options.format === 'nul' ? '\0' : '\n';
    process.stdout.write(picks.map((p) => `${p.row.path}${end}`).join(''));
  }
  process.stderr.write(`mc-dropout: selected ${picks.length} of ${rows.length} images by ${options.by}${errors ? ` (${errors} error rows left out)` : ''}\n`);
  return EXIT.ok;
}
