/**
 * The calibration file: written by `calibrate`, read by predict and evaluate. One reader checks
 * every field, that the thresholds follow from the scores it keeps, and (format 2) that the content
 * still matches the digest calibrate wrote, so a damaged or hand-edited file is refused, never
 * applied with other numbers.
 *
 * Format 2 (this release) writes infinite thresholds as "Infinity" (JSON has no Infinity; format 1
 * wrote null), keeps the class of each calibration score (the per-class coverage curve needs it)
 * and a SHA-256 of its content, and spells its keys in snake_case like every JSON file mc-dropout
 * writes (format 1 wrote camelCase: `kReg`, `perClass`, a camelCase `preprocess`). Format 1 files
 * are still read.
 */
import { conformalQuantile, CONFORMAL_SCORES } from '../conformal/sets.js';
import { UsageError } from '../errors.js';
import { createHash } from 'node:crypto';
import { readInputBytes, withoutBom, type InputFileRole } from '../io/read-file.js';
import {
  sha256Hex,
  contentSha256,
  array,
  boolean,
  checkedAs,
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
import { MAX_SEED } from '../engine/masks.js';
import { CALIBRATION_FORMAT, type Calibration } from './calibration.js';
import { TEMPERATURE_RANGE } from './temperature.js';

/** The format calibrate wrote before infinite thresholds, per-score classes and the digest were kept. */
export const CALIBRATION_FORMAT_1 = 'mc-dropout calibration 1';

const ROLE: InputFileRole = { what: 'the calibration', expected: 'give the file calibrate wrote, or rerun calibrate' };

const finite = number();
const threshold = number({ nonFinite: true });
const seedCheck = number({ integer: true, min: 0, max: MAX_SEED });

/**
 * The file's keys that are not one word, as the file spells them (snake_case, like every JSON file
 * mc-dropout writes) for each field of Calibration: at the top and in `conformal`. Format 1 wrote
 * Calibration's own camelCase keys. Applied to those two objects by name, never to data.
 */
const FILE_KEYS: Record<string, string> = {
  dropoutRates: 'dropout_rates',
  kReg: 'k_reg',
  classConditional: 'class_conditional',
  scoreClasses: 'score_classes',
  perClass: 'per_class',
};
const FORMAT_1_KEYS: Record<string, string> = Object.fromEntries(Object.entries(FILE_KEYS).map(([format1, file]) => [file, format1]));

/** An object's keys renamed by `table` (others kept), in their order. */
function renamed(value: object, table: Record<string, string>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).map(([key, v]) => [table[key] ?? key, v]));
}

const conformalShape = {
  alpha: number({ above: 0, below: 1 }),
  score: literal(...CONFORMAL_SCORES),
  lambda: number({ min: 0 }),
  k_reg: number({ integer: true, min: 0 }),
  randomized: boolean,
  seed: seedCheck,
  class_conditional: boolean,
  // format 1 wrote an infinite threshold as null
  threshold: nullable(threshold),
  scores: array(finite),
  score_classes: optional(array(number({ integer: true, min: 0 }))),
  per_class: array(nullable(threshold)),
  counts: array(number({ integer: true, min: 0 })),
};

const fileShape = {
  format: literal(CALIBRATION_FORMAT, CALIBRATION_FORMAT_1),
  model: object({
    sha256: sha256Hex,
    classes: number({ integer: true, min: 1 }),
    labels: array(string()),
  }),
  // the record's snake_case keys; format 1's camelCase ones are read too
  preprocess: preprocessCheck,
  passes: number({ integer: true, min: 1, max: 100_000 }),
  seed: seedCheck,
  dropout_rates: optional(array(number({ min: 0, below: 1 }))),
  images: number({ integer: true, min: 1 }),
  // the range calibrate searches
  temperature: number({ min: TEMPERATURE_RANGE[0], max: TEMPERATURE_RANGE[1] }),
  before: object({ nll: number({ min: 0 }), ece: number({ min: 0, max: 1 }) }),
  after: object({ nll: number({ min: 0 }), ece: number({ min: 0, max: 1 }) }),
  conformal: object(conformalShape),
  sha256: optional(sha256Hex),
};
const fileCheck = object(fileShape);
/** Format 1's fields under its camelCase keys, so a message names the field as that file spells it. */
const format1Check = object({
  ...renamed(fileShape, FORMAT_1_KEYS),
  conformal: object(renamed(conformalShape, FORMAT_1_KEYS) as Record<string, Check<unknown>>),
}) as Check<unknown>;

/** The calibration as calibrate writes it: the tool and version first, snake_case keys, infinite thresholds as "Infinity", the digest of the rest last. */
export function calibrationJson(calibration: Calibration, tool: { version: string }): string {
  const content = renamed(
    {
      tool: 'mc-dropout',
      version: tool.version,
      ...calibration,
      preprocess: preprocessRecord(calibration.preprocess),
      conformal: renamed(calibration.conformal, FILE_KEYS),
    },
    FILE_KEYS,
  );
  return `${jsonWithNonFinite({ ...content, sha256: contentSha256(content) }, 2)}\n`;
}

/** Reads a calibration file (`-` is standard input): every field checked, the thresholds against the scores, the digest against the content. */
export function readCalibration(file: string): Calibration {
  return readCalibrationFile(file).calibration;
}

/** A calibration file read once: the calibration, and the SHA-256 of the bytes read (what a run records of it; `-` cannot be read twice). */
export function readCalibrationFile(file: string): { calibration: Calibration; sha256: string } {
  const bytes = readInputBytes(file, ROLE);
  return {
    calibration: parseCalibration(withoutBom(bytes.toString('utf8')), file),
    sha256: createHash('sha256').update(bytes).digest('hex'),
  };
}

/** A calibration from its JSON text (`file` names it in messages): see readCalibration. Format 1 files (camelCase keys) are read too. */
export function parseCalibration(text: string, file: string): Calibration {
  const parsed: Record<string, unknown> = parseJsonOf(text, file, ROLE, object({}));
  if (parsed.format !== CALIBRATION_FORMAT && parsed.format !== CALIBRATION_FORMAT_1)
    throw new UsageError(
      `${file} is not a calibration this version reads (format ${JSON.stringify(parsed.format ?? null)}, expected "${CALIBRATION_FORMAT}"); rerun calibrate`,
    );
  const format1 = parsed.format === CALIBRATION_FORMAT_1;
  const raw = format1 ? fromFormat1(checkedAs(parsed, file, ROLE, format1Check)) : checkedAs(parsed, file, ROLE, fileCheck);
  /** A field's name as this file spells it (`conformal.per_class`, or format 1's `conformal.perClass`). */
  const f = (name: string) => (format1 ? name.replace(/[a-z_]+/g, (key) => FORMAT_1_KEYS[key] ?? key) : name);
  const bad = (why: string): never => {
    throw new UsageError(`Cannot use the calibration ${file}: ${why}; rerun calibrate`);
  };
  if (!format1) {
    if (raw.sha256 === undefined) bad('it has no "sha256" of its content, which calibrate writes');
    if (raw.conformal.score_classes === undefined) bad('it has no "conformal.score_classes", which calibrate writes');
  }
  const { model, conformal: c } = raw;
  if (model.labels.length !== model.classes) bad(`"model.labels" lists ${model.labels.length} labels for ${model.classes} classes`);
  if (c.scores.length !== raw.images) bad(`"conformal.scores" holds ${c.scores.length} scores for ${raw.images} images`);
  if (c.scores.some((s, i) => i > 0 && s < c.scores[i - 1]!)) bad('"conformal.scores" is not in ascending order');
  if (c.counts.length !== model.classes) bad(`"conformal.counts" has ${c.counts.length} entries for ${model.classes} classes`);
  if (c.per_class.length !== model.classes) bad(`"${f('conformal.per_class')}" has ${c.per_class.length} entries for ${model.classes} classes`);
  if (c.counts.reduce((a, b) => a + b, 0) !== raw.images) bad(`"conformal.counts" adds up to another number than the ${raw.images} images`);
  if (!format1 && c.threshold === null) bad('"conformal.threshold" is null (this format writes "Infinity")');
  const thresholdNow = c.threshold ?? Infinity;
  if (thresholdNow !== conformalQuantile(c.scores, c.alpha)) bad('"conformal.threshold" is not the conformal quantile of its scores at its alpha');
  const byClass = scoresByClass(c.scores, c.score_classes, model.classes, bad);
  const perClass = c.per_class.map((t, k) => {
    const value = t ?? Infinity;
    if (byClass) {
      if (byClass[k]!.length !== c.counts[k]) bad(`"conformal.counts[${k}]" disagrees with "conformal.score_classes"`);
      if (value !== conformalQuantile(byClass[k]!, c.alpha))
        bad(`"${f('conformal.per_class')}[${k}]" is not the conformal quantile of class ${k}'s scores at its alpha`);
    } else if (
      Number.isFinite(value) !== Number.isFinite(conformalQuantile(new Array<number>(c.counts[k]!).fill(0), c.alpha)) ||
      (Number.isFinite(value) && !c.scores.includes(value))
    ) {
      // format 1 kept no class per score: a class's threshold must be one of the scores, infinite exactly when its count is too small
      bad(`"${f('conformal.per_class')}[${k}]" does not fit class ${k}'s ${c.counts[k]} scores at its alpha`);
    }
    return value;
  });
  // last: a file whose every field holds what it should may still have been edited by hand (the digest is of the file's content as written)
  // a digest present is checked whatever the format says (format 1 wrote none: one there was added by hand)
  if (raw.sha256 !== undefined && contentSha256(parsed) !== raw.sha256)
    bad('its content no longer matches its "sha256": the file was changed after calibrate wrote it');
  return {
    format: format1 ? CALIBRATION_FORMAT_1 : CALIBRATION_FORMAT,
    model: { sha256: model.sha256, classes: model.classes, labels: model.labels },
    preprocess: raw.preprocess,
    passes: raw.passes,
    seed: raw.seed,
    ...(raw.dropout_rates && { dropoutRates: raw.dropout_rates }),
    images: raw.images,
    temperature: raw.temperature,
    before: { nll: raw.before.nll, ece: raw.before.ece },
    after: { nll: raw.after.nll, ece: raw.after.ece },
    conformal: {
      alpha: c.alpha,
      score: c.score,
      lambda: c.lambda,
      kReg: c.k_reg,
      randomized: c.randomized,
      seed: c.seed,
      classConditional: c.class_conditional,
      threshold: thresholdNow,
      scores: c.scores,
      ...(c.score_classes && { scoreClasses: c.score_classes }),
      perClass,
      counts: c.counts,
    },
  };
}

/** A format 1 file, checked under its own keys, with this format's keys (format 1 kept no `score_classes`). */
function fromFormat1(checked: unknown): ReturnType<typeof fileCheck> {
  const { conformal, ...rest } = checked as Record<string, unknown> & { conformal: object };
  return { ...renamed(rest, FILE_KEYS), conformal: renamed(conformal, FILE_KEYS) } as ReturnType<typeof fileCheck>;
}

function scoresByClass(scores: readonly number[], classes: readonly number[] | undefined, count: number, bad: (why: string) => never): number[][] | undefined {
  if (classes === undefined) return undefined;
  if (classes.length !== scores.length) bad(`"conformal.score_classes" holds ${classes.length} classes for ${scores.length} scores`);
  const out: number[][] = Array.from({ length: count }, () => []);
  classes.forEach((k, i) => {
    if (k >= count) bad(`"conformal.score_classes[${i}]" is ${k}, not a class below ${count}`);
    out[k]!.push(scores[i]!);
  });
  return out;
}
