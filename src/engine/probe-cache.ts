/**
 * What the probe learned of a model, kept on disk so that a later load of the same model skips it
 * (a session build and, where shape inference leaves shapes unknown, runs at batch 1 and 2: 0.4 s of
 * a 0.6 s load for torch 1.13's EfficientNet-B0). An entry is keyed by the model's SHA-256 (its
 * external files included), the sites and input the probe saw, the format below and mc-dropout's
 * version, so an edited model, other sites or another mc-dropout never read an old entry. A missing,
 * unreadable or malformed entry is probed again and rewritten; a folder that cannot be written is
 * left alone. Deleting the folder is always safe.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { writeFileAtomicSync } from '../io/durable.js';
import type { ProbeResult } from './probe.js';

/** Bump when ProbeResult, or what the probe computes, changes meaning. */
const FORMAT = 1;

const VERSION = (() => {
  try {
    return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
})();

/** What a probe's findings depend on besides the model's bytes. */
export interface ProbeKey {
  /** SHA-256 of the model file and its external files (model/external.ts modelDigest). */
  sha256: string;
  /** Node indices of each chosen site. */
  sites: readonly (readonly number[])[];
  inputName: string;
  /** The image input's dims as the load resolved them (input size given or read). */
  inputDims: readonly number[];
  withActivations: boolean;
}

/** The file of the entry for `key` in `folder`. */
export function probeEntry(folder: string, key: ProbeKey): string {
  const digest = createHash('sha256')
    .update(JSON.stringify({ format: FORMAT, version: VERSION, ...key }))
    .digest('hex');
  return path.join(folder, 'probe', `${digest.slice(0, 40)}.json`);
}

/** The findings kept in `file` for a load of `sites` sites, or undefined when there are none or they do not hold together. */
export function readProbeEntry(file: string, sites: number): ProbeResult | undefined {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
  if (!isStored(value, sites)) return undefined;
  return {
    siteShapes: value.siteShapes,
    siteFolds: value.siteFolds,
    siteTypes: value.siteTypes,
    batchMajor: new Set(value.batchMajor),
    activationShapes: new Map(value.activationShapes),
    activationTypes: new Map(value.activationTypes),
    notPerRow: new Set(value.notPerRow),
    runs: 0,
  };
}

/** Keeps `probe` in `file`, whole or not at all; a folder that cannot be made or written is skipped (the next load probes again). */
export function writeProbeEntry(file: string, probe: ProbeResult): void {
  const stored: Stored = {
    siteShapes: probe.siteShapes,
    siteFolds: probe.siteFolds,
    siteTypes: probe.siteTypes,
    batchMajor: [...probe.batchMajor],
    activationShapes: [...probe.activationShapes],
    activationTypes: [...probe.activationTypes],
    notPerRow: [...probe.notPerRow],
  };
  try {
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileAtomicSync(file, JSON.stringify(stored));
  } catch {
    // a read-only or full disk, a file where the folder should be: the cache is an optimization only
  }
}

interface Stored {
  siteShapes: number[][];
  siteFolds: number[];
  siteTypes: number[];
  batchMajor: string[];
  activationShapes: [string, number[]][];
  activationTypes: [string, number][];
  notPerRow: string[];
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;
const isDims = (v: unknown): v is number[] => Array.isArray(v) && v.every(isCount);
const isNames = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');
const isPairs = <T>(v: unknown, second: (x: unknown) => x is T): v is [string, T][] =>
  Array.isArray(v) && v.every((p) => Array.isArray(p) && p.length === 2 && typeof p[0] === 'string' && second(p[1]));

function isStored(value: unknown, sites: number): value is Stored {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    Array.isArray(v.siteShapes) &&
    v.siteShapes.length === sites &&
    v.siteShapes.every(isDims) &&
    isDims(v.siteFolds) &&
    v.siteFolds.length === sites &&
    isDims(v.siteTypes) &&
    v.siteTypes.length === sites &&
    isNames(v.batchMajor) &&
    isPairs(v.activationShapes, isDims) &&
    isPairs(v.activationTypes, isCount) &&
    isNames(v.notPerRow)
  );
}
