import { mergeShards } from '../run/merge.js';
import { EXIT } from './exit-codes.js';

/** `mc-dropout merge -o OUT`: joins the shards of OUT; exit 0, or 1 when some rows are error rows. */
export function runMerge(options: { output: string; meta?: string }, version: string): number {
  const outcome = mergeShards({ output: options.output, ...(options.meta !== undefined && { meta: options.meta }), version });
  process.stderr.write(
    `mc-dropout: merged ${outcome.shards} shards into ${options.output}: ${outcome.rows} rows, ${outcome.ok} ok, ${outcome.failed} failed\n`,
  );
  return outcome.failed > 0 ? EXIT.partial : EXIT.ok;
}
