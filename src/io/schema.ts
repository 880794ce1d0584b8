/**
 * Checks of the JSON files mc-dropout reads back (calibrations, a passes file's run record, shard
 * metadata, evaluations): each check takes a parsed value and the field's path, and returns it
 * typed or throws a SchemaMismatch naming the field, what it should be and what it is. `readJsonFile`
 * turns a mismatch into a UsageError naming the file and the fix.
 *
 * JSON has no Infinity or NaN: fields that may hold them are written as the strings "Infinity",
 * "-Infinity" and "NaN" (`jsonWithNonFinite`) and read back by `extendedNumber`.
 */
import { createHash } from 'node:crypto';
import { UsageError } from '../errors.js';
import { readInputText, type InputFileRole } from './read-file.js';

/** A field that does not hold what its file kind says: its path (`conformal.threshold`), what it should be, what it holds. */
class SchemaMismatch extends Error {
  constructor(
    readonly at: string,
    readonly expected: string,
    readonly received: string,
  ) {
    super(`${at ? `the field "${at}"` : 'the file'} must be ${expected} but is ${received}`);
  }
}

/** A check: the value as its type, or a SchemaMismatch. `at` is the field's path. */
export type Check<T> = (value: unknown, at: string) => T;

/** A short picture of a value for a message: `null`, `"abc"`, `an object`, `an array of 3`, a number. */
function shown(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'object') return 'an object';
  return typeof value === 'number' || typeof value === 'boolean' ? String(value) : typeof value;
}

function field(at: string, key: string | number): string {
  return typeof key === 'number' ? `${at}[${key}]` : at ? `${at}.${key}` : key;
}

/** A number: finite unless `nonFinite` (then also the strings "Infinity", "-Infinity", "NaN"), in [min, max], an integer if asked. */
export function number(options: { min?: number; max?: number; above?: number; below?: number; integer?: boolean; nonFinite?: boolean } = {}): Check<number> {
  const parts = [options.integer ? 'an integer' : 'a number'];
  if (options.min !== undefined) parts.push(`>= ${options.min}`);
  if (options.above !== undefined) parts.push(`> ${options.above}`);
  if (options.max !== undefined) parts.push(`<= ${options.max}`);
  if (options.below !== undefined) parts.push(`< ${options.below}`);
  if (options.nonFinite) parts.push('or "Infinity"');
  const expected = parts.join(' ');
  return (value, at) => {
    const n = options.nonFinite ? extendedNumber(value) : typeof value === 'number' && Number.isFinite(value) ? value : undefined;
    if (n === undefined || Number.isNaN(n)) throw new SchemaMismatch(at, expected, shown(value));
    const out =
      (options.integer && !Number.isInteger(n)) ||
      (options.min !== undefined && n < options.min) ||
      (options.max !== undefined && n > options.max) ||
      (options.above !== undefined && !(n > options.above)) ||
      (options.below !== undefined && !(n < options.below));
    if (out) throw new SchemaMismatch(at, expected, shown(value));
    return n;
  };
}

/** A JSON number, or one of the strings "Infinity", "-Infinity", "NaN" that jsonWithNonFinite writes; undefined otherwise. */
function extendedNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (value === 'Infinity') return Infinity;
  if (value === '-Infinity') return -Infinity;
  if (value === 'NaN') return NaN;
  return undefined;
}

/** JSON text in which Infinity, -Infinity and NaN are the strings extendedNumber reads (JSON.stringify would write null). */
export function jsonWithNonFinite(value: unknown, indent?: number): string {
  return JSON.stringify(value, (_, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), indent);
}

/** A string, non-empty if asked, matching `pattern` if given (`what` says it in messages). */
export function string(options: { nonEmpty?: boolean; pattern?: RegExp; what?: string } = {}): Check<string> {
  const expected = options.what ?? (options.nonEmpty ? 'a non-empty string' : 'a string');
  return (value, at) => {
    if (typeof value !== 'string' || (options.nonEmpty && value === '') || (options.pattern && !options.pattern.test(value)))
      throw new SchemaMismatch(at, expected, shown(value));
    return value;
  };
}

/** A SHA-256 as the files mc-dropout writes record it: 64 lowercase hex digits. */
export const sha256Hex: Check<string> = string({ pattern: /^[0-9a-f]{64}$/, what: 'a SHA-256 (64 hex digits)' });

export const boolean: Check<boolean> = (value, at) => {
  if (typeof value !== 'boolean') throw new SchemaMismatch(at, 'true or false', shown(value));
  return value;
};

/** One of the given values exactly. */
export function literal<const T extends readonly (string | number | boolean)[]>(...values: T): Check<T[number]> {
  const expected = values.length === 1 ? JSON.stringify(values[0]) : `one of ${values.map((v) => JSON.stringify(v)).join(', ')}`;
  return (value, at) => {
    if (!values.includes(value as T[number])) throw new SchemaMismatch(at, expected, shown(value));
    return value as T[number];
  };
}

/** An array whose every element passes `of`; of exactly `length` elements if given. */
export function array<T>(of: Check<T>, options: { length?: number; minLength?: number } = {}): Check<T[]> {
  return (value, at) => {
    if (!Array.isArray(value)) throw new SchemaMismatch(at, options.length !== undefined ? `an array of ${options.length}` : 'an array', shown(value));
    if (options.length !== undefined && value.length !== options.length) throw new SchemaMismatch(at, `an array of ${options.length}`, shown(value));
    if (options.minLength !== undefined && value.length < options.minLength)
      throw new SchemaMismatch(at, `an array of at least ${options.minLength}`, shown(value));
    return value.map((element, i) => of(element, field(at, i)));
  };
}

type Shape = Record<string, Check<unknown>>;
type Typed<S extends Shape> = { [K in keyof S]: ReturnType<S[K]> };

/** An object with these fields (others are kept as they are, unchecked); an `optional` field may be missing. */
export function object<S extends Shape>(shape: S): Check<Typed<S>> {
  return (value, at) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new SchemaMismatch(at, 'an object', shown(value));
    const record = value as Record<string, unknown>;
    const out: Record<string, unknown> = { ...record };
    for (const [key, check] of Object.entries(shape)) {
      const checked = check(record[key], field(at, key));
      if (checked === undefined) delete out[key];
      else out[key] = checked;
    }
    return out as Typed<S>;
  };
}

/** A field that may be missing (undefined); when present it must pass `check`. */
export function optional<T>(check: Check<T>): Check<T | undefined> {
  return (value, at) => (value === undefined ? undefined : check(value, at));
}

/** null, or a value that passes `check`. */
export function nullable<T>(check: Check<T>): Check<T | null> {
  return (value, at) => (value === null ? null : check(value, at));
}

/** The first of `checks` that passes; else a mismatch saying every form. */
export function either<A, B>(a: Check<A>, b: Check<B>, expected: string): Check<A | B> {
  return (value, at) => {
    try {
      return a(value, at);
    } catch (error) {
      if (!(error instanceof SchemaMismatch)) throw error;
    }
    try {
      return b(value, at);
    } catch (error) {
      if (!(error instanceof SchemaMismatch)) throw error;
      throw new SchemaMismatch(at, expected, shown(value));
    }
  };
}

/**
 * Parses JSON text of a file kind and checks it: a file that is not JSON, or whose field does not
 * hold what it should, is a UsageError naming the file, the field and the fix (`role.expected`).
 */
export function parseJsonOf<T>(text: string, file: string, role: InputFileRole, check: Check<T>): T {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`Cannot read ${role.what} ${file}: it is not JSON (${error instanceof Error ? error.message : String(error)}); ${role.expected}`);
  }
  return checkedAs(parsed, file, role, check);
}

/** A parsed value checked as a file kind: a mismatch is a UsageError naming the file, the field and the fix. */
export function checkedAs<T>(value: unknown, file: string, role: InputFileRole, check: Check<T>): T {
  try {
    return check(value, '');
  } catch (error) {
    if (error instanceof SchemaMismatch) throw new UsageError(`Cannot read ${role.what} ${file}: ${error.message}; ${role.expected}`);
    throw error;
  }
}

/** Reads a JSON file of a kind through the guarded open (regular file, bounded) and checks it (parseJsonOf). */
export function readJsonFile<T>(file: string, role: InputFileRole, check: Check<T>): T {
  return parseJsonOf(readInputText(file, role), file, role, check);
}

/**
 * SHA-256 of a file's content, every field but `sha256`, keys sorted and non-finite numbers as
 * jsonWithNonFinite writes them: reformatting the file (indentation, key order) does not change it,
 * any other edit does. The files mc-dropout writes to read back carry it as their `sha256`.
 */
export function contentSha256(content: object): string {
  const { sha256: _, ...rest } = content as Record<string, unknown>;
  return createHash('sha256').update(canonical(rest)).digest('hex');
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object')
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return jsonWithNonFinite(value);
}
