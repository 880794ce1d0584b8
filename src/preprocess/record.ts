/**
 * The preprocessing as the files mc-dropout writes record it (a run's settings and metadata, a
 * passes file's `.run.json`, a calibration): the fields of PreprocessSpec under snake_case keys,
 * like every other key of those files. Earlier releases wrote the camelCase keys of PreprocessSpec
 * (and `colourProfile`); the reader takes both for one release, so their files still read.
 */
import { array, literal, number, object, optional, type Check } from '../io/schema.js';
import type { PreprocessSpec } from './spec.js';

/** A preprocessing read back from a file: every field that changes the tensor; the pixel limit may be absent. */
export type RecordedPreprocess = Omit<PreprocessSpec, 'pixelLimit'> & { pixelLimit?: number };

/** The keys that differ between PreprocessSpec and the record (the others are one word, the same in both). */
const RECORD_KEYS = {
  channelOrder: 'channel_order',
  cropFraction: 'crop_fraction',
  pixelLimit: 'pixel_limit',
  resizeEngine: 'resize_engine',
  colorProfile: 'color_profile',
} as const;

/** The keys earlier releases wrote in their place (camelCase, and the British `colourProfile`), read for one release. */
const EARLIER_KEYS: Record<string, string> = {
  channelOrder: 'channel_order',
  cropFraction: 'crop_fraction',
  pixelLimit: 'pixel_limit',
  resizeEngine: 'resize_engine',
  colourProfile: 'color_profile',
};

type SpecKey = keyof RecordedPreprocess;
const recordKey = (key: string): string => (RECORD_KEYS as Record<string, string>)[key] ?? key;
const specKeyOf: Record<string, SpecKey> = Object.fromEntries(Object.entries(RECORD_KEYS).map(([spec, record]) => [record, spec as SpecKey]));

/** A preprocessing as a file records it: PreprocessSpec's fields in its order, under snake_case keys. */
export function preprocessRecord(spec: RecordedPreprocess): Record<string, unknown> {
  return Object.fromEntries(Object.entries(spec).map(([key, value]) => [recordKey(key), value]));
}

/**
 * An earlier release's record (camelCase keys) with today's keys, in the same order; a record of
 * this release, or anything that is not an object, as it is. Used where a record is compared
 * whole (a resume's settings) rather than read field by field.
 */
export function upgradedPreprocessRecord(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  return Object.fromEntries(Object.entries(value).map(([key, v]) => [EARLIER_KEYS[key] ?? key, v]));
}

const SHAPE = {
  height: number({ integer: true, min: 1 }),
  width: number({ integer: true, min: 1 }),
  layout: literal('NCHW', 'NHWC'),
  channel_order: literal('RGB', 'BGR'),
  mean: array(number(), { length: 3 }),
  std: array(number({ above: 0 }), { length: 3 }),
  resize: literal('stretch', 'center-crop', 'pad'),
  interpolation: literal('bilinear', 'bicubic', 'nearest', 'lanczos3'),
  crop_fraction: number({ above: 0, max: 1 }),
  alpha: literal('remove', 'flatten'),
  background: array(number({ integer: true, min: 0, max: 255 }), { length: 3 }),
  pixel_limit: optional(number({ integer: true, min: 1 })),
  resize_engine: literal('exact', 'fast'),
  color_profile: literal('ignore', 'convert'),
};
const recordCheck = object(SHAPE);
const earlierRecordOf: Record<string, string> = Object.fromEntries(Object.entries(EARLIER_KEYS).map(([earlier, record]) => [record, earlier]));
const earlierCheck = object(Object.fromEntries(Object.entries(SHAPE).map(([key, check]) => [earlierRecordOf[key] ?? key, check])));

/**
 * The check of a preprocessing recorded in a file, read back as PreprocessSpec's fields: today's
 * snake_case record, or an earlier release's camelCase one (a message names the field as the file
 * spells it).
 */
export const preprocessCheck: Check<RecordedPreprocess> = (value, at) => {
  const earlier = typeof value === 'object' && value !== null && Object.keys(EARLIER_KEYS).some((key) => key in value);
  const checked: Record<string, unknown> = earlier ? (upgradedPreprocessRecord(earlierCheck(value, at)) as Record<string, unknown>) : recordCheck(value, at);
  return Object.fromEntries(Object.entries(checked).map(([key, v]) => [specKeyOf[key] ?? key, v])) as RecordedPreprocess;
};
