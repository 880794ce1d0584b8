/**
 * The calibration file: written by `calibrate`, read by predict and evaluate. One reader checks
 * every field, that the thresholds follow from the scores it keeps, and (format 2) that the content
 * still matches the digest calibrate wrote, so a damaged or hand-edited file is refused, never
 * applied with other numbers.
 *
 * Format 2 (this release) writes infinite thresholds as "Infinity" (JSON has no Infinity; format 1
 * wrote null), keeps the class of each calibration score (the per-class coverage curve needs it)
 * and a SHA-256 of its content. Format 1 files are still read.
 */
import { conformalQuantile, CONFORMAL_SCORES } from '../conformal/sets.js';
import { UsageError } from '../errors.js';
import { readInputText, type InputFileRole } from '../io/read-file.js';
import {
  contentSha256,
  array,
  boolean,
  checkedAs,
  either,
  literal,
  nullable,
  number,
  object,
  optional,
  parseJsonOf,
  string,
  jsonWithNonFinite,
  type Check,
} from '../io/schema.js';
import { preprocessCheck, preprocessRecord } from '../preprocess/record.js';
import { CALIBRATION_FORMAT, type Calibration } from './calibration.js';

/** The format calibrate wrote before infinite thresholds, per-score classes and the digest were kept. */
export const CALIBRATION_FORMAT_1 = 'mc-dropout calibration 1';

const ROLE: InputFileRole = { what: 'the calibration', expected: 'give the file calibrate wrote, or rerun calibrate' };

const finite = number();
const threshold = number({ nonFinite: true });

const fileCheck = object({
  format: literal(CALIBRATION_FORMAT, CALIBRATION_FORMAT_1),
  model: object({
    sha256: string({ pattern: /^[0-9a-f]{64}$/, what: 'a SHA-256 (64 hex digits)' }),
    classes: number({ integer: true, min: 1 }),
    labels: array(string()),
  }),
  preprocess: preprocessCheck,
  passes: number({ integer: true, min: 1 }),
  seed: number({ integer: true, min: 0 }),
  dropoutRates: optional(array(number({ min: 0, below: 1 }))),
  images: number({ integer: true, min: 1 }),
  temperature: number({ above: 0 }),
  before: object({ nll: finite, ece: finite }),
  after: object({ nll: finite, ece: finite }),
  conformal: object({
    alpha: number({ above: 0, below: 1 }),
    score: literal(...CONFORMAL_SCORES),
    lambda: number({ min: 0 }),
    kReg: number({ integer: true, min: 0 }),
    randomized: boolean,
    seed: number({ integer: true, min: 0 }),
    classConditional: boolean,
    // format 1 wrote an infinite threshold as null
    threshold: either(threshold, nullable(threshold), 'a number or "Infinity"') as Check<number | null>,
    scores: array(finite),
    scoreClasses: optional(array(number({ integer: true, min: 0 }))),
    perClass: array(nullable(threshold)),
    counts: array(number({ integer: true, min: 0 })),
  }),
  sha256: optional(string({ pattern: /^[0-9a-f]{64}$/, what: 'a SHA-256 (64 hex digits)' })),
});

/** The calibration as calibrate writes it: the tool and version first, infinite thresholds as "Infinity", the digest of the rest last. */
export function calibrationJson(calibration: Calibration, tool: { version: string }): string {
  const content = { tool: 'mc-dropout', version: tool.version, ...calibration, preprocess: preprocessRecord(calibration.preprocess) };
  return `${jsonWithNonFinite({ ...content, sha256: contentSha256(content) }, 2)}\n`;
}

/** Reads a calibration file (`-` is standard input): every field checked, the thresholds against the scores, the digest against the content. */
export function readCalibration(file: string): Calibration {
  return parseCalibration(readInputText(file, ROLE), file);
}

/** A calibration from its JSON text (`file` names it in messages): see readCalibration. */
export function parseCalibration(text: string, file: string): Calibration {
  const parsed: Record<string, unknown> = parseJsonOf(text, file, ROLE, object({}));
  if (parsed.format !== CALIBRATION_FORMAT && parsed.format !== CALIBRATION_FORMAT_1)
    throw new UsageError(
      `${file} is not a calibration this version reads (format ${JSON.stringify(parsed.format ?? null)}, expected "${CALIBRATION_FORMAT}"); rerun calibrate`,
    );
  const raw = checkedAs(parsed, file, ROLE, fileCheck);
  const bad = (why: string): never => {
    throw new UsageError(`Cannot use the calibration ${file}: ${why}; rerun calibrate`);
  };
  if (raw.format === CALIBRATION_FORMAT) {
    if (raw.sha256 === undefined) bad('it has no "sha256" of its content, which calibrate writes');
    if (raw.conformal.scoreClasses === undefined) bad('it has no "conformal.scoreClasses", which calibrate writes');
  }
  const { model, conformal: c } = raw;
  if (model.labels.length !== model.classes) bad(`"model.labels" lists ${model.labels.length} labels for ${model.classes} classes`);
  if (c.scores.length !== raw.images) bad(`"conformal.scores" holds ${c.scores.length} scores for ${raw.images} images`);
  if (c.scores.some((s, i) => i > 0 && s < c.scores[i - 1]!)) bad('"conformal.scores" is not in ascending order');
  if (c.counts.length !== model.classes) bad(`"conformal.counts" has ${c.counts.length} entries for ${model.classes} classes`);
  if (c.perClass.length !== model.classes) bad(`"conformal.perClass" has ${c.perClass.length} entries for ${model.classes} classes`);
  if (c.counts.reduce((a, b) => a + b, 0) !== raw.images) bad(`"conformal.counts" adds up to another number than the ${raw.images} images`);
  if (raw.format === CALIBRATION_FORMAT && c.threshold === null) bad('"conformal.threshold" is null (this format writes "Infinity")');
  const thresholdNow = c.threshold ?? Infinity;
  if (thresholdNow !== conformalQuantile(c.scores, c.alpha)) bad('"conformal.threshold" is not the conformal quantile of its scores at its alpha');
  const byClass = scoresByClass(c.scores, c.scoreClasses, model.classes, bad);
  const perClass = c.perClass.map((t, k) => {
    const value = t ?? Infinity;
    if (byClass) {
      if (byClass[k]!.length !== c.counts[k]) bad(`"conformal.counts[${k}]" disagrees with "conformal.scoreClasses"`);
      if (value !== conformalQuantile(byClass[k]!, c.alpha))
        bad(`"conformal.perClass[${k}]" is not the conformal quantile of class ${k}'s scores at its alpha`);
    } else if (
      Number.isFinite(value) !== Number.isFinite(conformalQuantile(new Array<number>(c.counts[k]!).fill(0), c.alpha)) ||
      (Number.isFinite(value) && !c.scores.includes(value))
    ) {
      // format 1 kept no class per score: a class's threshold must be one of the scores, infinite exactly when its count is too small
      bad(`"conformal.perClass[${k}]" does not fit class ${k}'s ${c.counts[k]} scores at its alpha`);
    }
    return value;
  });
  // last: a file whose every field holds what it should may still have been edited by hand
  if (raw.format === CALIBRATION_FORMAT) {
    // the digest is of the file's content as written (the record's keys, not the ones read back)
    if (contentSha256(parsed) !== raw.sha256) bad('its content no longer matches its "sha256": the file was changed after calibrate wrote it');
  }
  return {
    format: CALIBRATION_FORMAT,
    model: { sha256: model.sha256, classes: model.classes, labels: model.labels },
    preprocess: raw.preprocess,
    passes: raw.passes,
    seed: raw.seed,
    ...(raw.dropoutRates && { dropoutRates: raw.dropoutRates }),
    images: raw.images,
    temperature: raw.temperature,
    before: { nll: raw.before.nll, ece: raw.before.ece },
    after: { nll: raw.after.nll, ece: raw.after.ece },
    conformal: {
      alpha: c.alpha,
      score: c.score,
      lambda: c.lambda,
      kReg: c.kReg,
      randomized: c.randomized,
      seed: c.seed,
      classConditional: c.classConditional,
      threshold: thresholdNow,
      scores: c.scores,
      ...(c.scoreClasses && { scoreClasses: c.scoreClasses }),
      perClass,
      counts: c.counts,
    },
  };
}

function scoresByClass(scores: readonly number[], classes: readonly number[] | undefined, count: number, bad: (why: string) => never): number[][] | undefined {
  if (classes === undefined) return undefined;
  if (classes.length !== scores.length) bad(`"conformal.scoreClasses" holds ${classes.length} classes for ${scores.length} scores`);
  const out: number[][] = Array.from({ length: count }, () => []);
  classes.forEach((k, i) => {
    if (k >= count) bad(`"conformal.scoreClasses[${i}]" is ${k}, not a class below ${count}`);
    out[k]!.push(scores[i]!);
  });
  return out;
}
