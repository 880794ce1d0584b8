import { InvalidArgumentError } from 'commander';
import { MAX_SEED } from '../engine/masks.js';
import { describeError } from '../errors.js';
import { parseColor } from '../preprocess/spec.js';

/** Option parsers for commander: each throws InvalidArgumentError saying what was expected. */

export function integer(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\s*-?\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]`;
      throw new InvalidArgumentError(`Expected an integer ${range} but received '${value}'.`);
    }
    return n;
  };
}

export const seed = integer(0, MAX_SEED);

export function fraction(lowOpen: boolean, high: number, highOpen: boolean) {
  return (value: string): number => {
    const n = Number(value);
    const okLow = lowOpen ? n > 0 : n >= 0;
    const okHigh = highOpen ? n < high : n <= high;
    if (value.trim() === '' || !Number.isFinite(n) || !okLow || !okHigh) {
      throw new InvalidArgumentError(`Expected a number in ${lowOpen ? '(' : '['}0, ${high}${highOpen ? ')' : ']'} but received '${value}'.`);
    }
    return n;
  };
}

/** A repeatable option's values, in order. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** `TENSOR:RATE`, repeatable (collected into a list). The rate follows the last colon: TensorFlow names hold colons ('dense/BiasAdd:0'). */
export function injection(value: string, previous: { tensor: string; rate: number }[] = []): { tensor: string; rate: number }[] {
  const colon = value.lastIndexOf(':');
  if (colon <= 0) throw new InvalidArgumentError(`Expected TENSOR:RATE (e.g. head_input:0.2) but received '${value}'.`);
  const rate = fraction(false, 1, true)(value.slice(colon + 1));
  return [...previous, { tensor: value.slice(0, colon), rate }];
}

export function choice<T extends string>(allowed: readonly T[]) {
  return (value: string): T => {
    if (!(allowed as readonly string[]).includes(value)) {
      throw new InvalidArgumentError(`Expected one of ${allowed.join(', ')} but received '${value}'.`);
    }
    return value as T;
  };
}

export function size(value: string): { height: number; width: number } {
  const match = /^(\d+)x(\d+)$/i.exec(value.trim());
  if (!match || Number(match[1]) < 1 || Number(match[2]) < 1) {
    throw new InvalidArgumentError(`Expected HxW with positive integers, e.g. 224x224, but received '${value}'.`);
  }
  return { height: Number(match[1]), width: Number(match[2]) };
}

export function triple(value: string): number[] {
  const parts = value.split(',').map((p) => Number(p.trim()));
  if (parts.length !== 3 || parts.some((p) => !Number.isFinite(p))) {
    throw new InvalidArgumentError(`Expected three comma-separated numbers (R,G,B) but received '${value}'.`);
  }
  return parts;
}

export function color(value: string): [number, number, number] {
  try {
    return parseColor(value);
  } catch (error) {
    throw new InvalidArgumentError(describeError(error));
  }
}

/** --times: an integer in [1, 100000], or 'auto' (adaptive T). */
export function timesOrAuto(value: string): number | 'auto' {
  return value.trim() === 'auto' ? 'auto' : integer(1, 100000)(value);
}
