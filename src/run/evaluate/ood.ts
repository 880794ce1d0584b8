/** Out-of-distribution images of an evaluation: checked before the model loads, scored beside the evaluated images. */
import { statSync } from 'node:fs';
import { param, unreadableReason, UsageError } from '../../errors.js';
import { fsPath } from '../../io/names.js';
import { IMAGE_EXTENSIONS, isImageFile, type WalkResult } from '../../io/walk.js';
import { oodCurves, oodTable, type LogitScores } from '../../ood/evaluation.js';
import type { McSummary } from '../../stats/aggregate.js';
import { gatherInputs } from '../inputs.js';
import type { EvaluationReport } from './file.js';

/**
 * The OOD images of `paths`: each path must be a folder or an image file, and together they must
 * hold at least one image; a UsageError names the path that is not (a missing OOD folder must not
 * pass as an evaluation without its OOD section).
 */
export async function gatherOodImages(paths: readonly string[], outputs: ReadonlyMap<string, string> | undefined): Promise<WalkResult> {
  const expected = `${param('ood')} takes folders of out-of-distribution images or image files (${IMAGE_EXTENSIONS.join(' ')})`;
  for (const given of paths) {
    let info;
    try {
      info = statSync(fsPath(given));
    } catch (error) {
      throw new UsageError(`Cannot read the out-of-distribution images ${given}: ${unreadableReason(error)}; ${expected}`);
    }
    if (info.isDirectory()) {
      // each folder on its own: an empty one beside a full one is still a mistake worth naming
      const { walked } = await gatherInputs([given], undefined, outputs, { allowEmpty: true });
      if (walked.files.length === 0) {
        const skipped = walked.skipped.length;
        throw new UsageError(`No out-of-distribution images in ${given}${skipped ? ` (${skipped} files without an image extension)` : ''}; ${expected}`);
      }
    } else if (!info.isFile()) throw new UsageError(`The out-of-distribution path ${given} is not a folder or a regular file; ${expected}`);
    else if (!isImageFile(given)) throw new UsageError(`The out-of-distribution path ${given} is not an image file or a folder; ${expected}`);
  }
  return (await gatherInputs(paths, undefined, outputs)).walked;
}

/** The scores of the evaluated (in-distribution) and the OOD images, MC and deterministic, with the logits' scores where the model has logits. */
export class OodScores {
  readonly id: McSummary[] = [];
  readonly idDeterministic: McSummary[] = [];
  readonly ood: McSummary[] = [];
  readonly oodDeterministic: McSummary[] = [];
  private readonly logits = { id: [] as LogitScores[], ood: [] as LogitScores[] };
  /** OOD images that failed to decode or run. */
  oodFailed = 0;

  add(side: 'id' | 'ood', summary: McSummary, deterministic: McSummary, logitScores: LogitScores | undefined): void {
    this[side].push(summary);
    (side === 'id' ? this.idDeterministic : this.oodDeterministic).push(deterministic);
    if (logitScores) this.logits[side].push(logitScores);
  }

  /** The report's OOD section: the metrics of each score and their curves; empty when no OOD (or no evaluated) image ran. */
  section(): NonNullable<EvaluationReport['ood']> {
    if (this.ood.length === 0 || this.id.length === 0) return { images: this.ood.length, failed: this.oodFailed, scores: [], curves: [] };
    // a model whose output is probabilities has no logits: no max-logit or energy rows
    const { logits } = this;
    const withLogits = logits.id.length > 0 && logits.id.length === this.id.length && logits.ood.length === this.ood.length ? logits : undefined;
    return {
      images: this.ood.length,
      failed: this.oodFailed,
      scores: oodTable(this.id, this.ood, { id: this.idDeterministic, ood: this.oodDeterministic }, withLogits),
      curves: oodCurves(this.id, this.ood, withLogits),
    };
  }
}
