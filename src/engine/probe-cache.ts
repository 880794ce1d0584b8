/**
 * What the probe learned of a model, kept on disk so that a later load of the same model skips it
 * (a session build and, where shape inference leaves shapes unknown, runs at batch 1 and 2: 0.4 s of
 * a 0.6 s load for torch 1.13's EfficientNet-B0). An entry is keyed by the model's SHA-256 (its
 * external files included), the sites and input the probe saw, the format below and mc-dropout's
 * version, so an edited model, other sites or another mc-dropout never read an old entry. A missing,
 * unreadable, malformed or edited entry (each carries a checksum) is probed again and rewritten; a
 * folder that cannot be written is left alone. Deleting the folder is always safe.
 */
import { closeSync, constants, fstatSync, mkdirSync, openSync, readFileSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { writeFileAtomicSync } from '../io/durable.js';
import { packageVersion } from '../paths.js';
import type { ProbeResult } from './probe.js';

/** Bump when ProbeResult, what the probe computes, or the entry's layout changes. */
const FORMAT = 2;

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
export function probeEntry(folder: string, key: ProbeKey): { file: string; key: string } {
  const digest = sha256(JSON.stringify({ format: FORMAT, version: packageVersion(), ...key }));
  return { file: path.join(folder, 'probe', `${digest.slice(0, 40)}.json`), key: digest };
}

/** Entries are small (names and shapes of a model's tensors): a larger file is not one. */
const MAX_ENTRY_BYTES = 64 * 1024 * 1024;

/**
 * The findings kept for `entry` for a load of `sites` sites, or undefined when there are none or
 * they do not hold: not a regular file (a FIFO or a device is never read), not JSON, made for
 * another key, or changed since it was written (its checksum).
 */
export function readProbeEntry(entry: { file: string; key: string }, sites: number): ProbeResult | undefined {
  let text: string;
  try {
    // non-blocking: a FIFO in the entry's place opens at once, and is then refused as not a file
    const fd = openSync(entry.file, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      const stat = fstatSync(fd);
      if (!stat.isFile() || stat.size > MAX_ENTRY_BYTES) return undefined;
      text = readFileSync(fd, 'utf8');
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { key, checksum, probe } = value as Record<string, unknown>;
  if (key !== entry.key || typeof checksum !== 'string' || checksum !== sha256(`${entry.key}${JSON.stringify(probe)}`)) return undefined;
  if (!isStored(probe, sites)) return undefined;
  return {
    siteShapes: probe.siteShapes,
    siteFolds: probe.siteFolds,
    siteTypes: probe.siteTypes,
    batchMajor: new Set(probe.batchMajor),
    activationShapes: new Map(probe.activationShapes),
    activationTypes: new Map(probe.activationTypes),
    notPerRow: new Set(probe.notPerRow),
    runs: 0,
  };
}

/** Keeps `probe` for `entry`, whole or not at all; a folder that cannot be made or written is skipped (the next load probes again). */
export function writeProbeEntry(entry: { file: string; key: string }, probe: ProbeResult): void {
  const stored: Stored = {
    siteShapes: probe.siteShapes,
    siteFolds: probe.siteFolds,
    siteTypes: probe.siteTypes,
    batchMajor: [...probe.batchMajor],
    activationShapes: [...probe.activationShapes],
    activationTypes: [...probe.activationTypes],
    notPerRow: [...probe.notPerRow],
  };
  // a checksum over the key and the findings: an entry edited by hand, or damaged on disk, is probed again
  const checksum = sha256(`${entry.key}${JSON.stringify(stored)}`);
  if (!makeFolder(path.dirname(entry.file))) return;
  try {
    writeFileAtomicSync(entry.file, JSON.stringify({ key: entry.key, checksum, probe: stored }));
  } catch {
    // a read-only or full disk: the cache is an optimization only
  }
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * Makes `dir` and its missing parents one level at a time (mkdirSync's recursive mode loops
 * forever under /proc); false when it cannot.
 */
function makeFolder(dir: string, depth = 0): boolean {
  try {
    mkdirSync(dir);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return statSync(dir, { throwIfNoEntry: false })?.isDirectory() ?? false;
    const parent = path.dirname(dir);
    if (code !== 'ENOENT' || depth >= 64 || parent === dir || !makeFolder(parent, depth + 1)) return false;
    try {
      mkdirSync(dir);
      return true;
    } catch {
      return false;
    }
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
