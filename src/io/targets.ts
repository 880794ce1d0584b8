import { accessSync, constants, fstatSync, lstatSync, readlinkSync, realpathSync, statSync, type Stats } from 'node:fs';
import path from 'node:path';
import { UsageError } from '../errors.js';

/**
 * Where a run writes one of its outputs, decided before any image is read:
 * - 'stdout': the process's standard output (no path, or `-`);
 * - 'stream': a character device or FIFO (`/dev/null`, `/dev/stdout`, a named pipe), written
 *   straight through: it is never renamed over, and cannot be resumed;
 * - 'file': a regular file (existing or not), written to a temp file beside it and renamed over it
 *   when complete. A symbolic link is followed: `file` is its target, which is replaced; the link stays.
 */
export type OutputTarget =
  { kind: 'stdout'; name: string } | { kind: 'stream'; name: string; path: string } | { kind: 'file'; name: string; path: string; file: string };

/** Classifies `where` (as the user wrote it; `name` names it in messages, e.g. 'the output'). */
export function outputTarget(where: string | undefined, name: string): OutputTarget {
  if (where === undefined || where === '-') return { kind: 'stdout', name };
  let link: Stats | undefined;
  try {
    link = lstatSync(where);
  } catch {
    link = undefined;
  }
  if (link) {
    let info: Stats;
    try {
      info = statSync(where);
    } catch {
      // a dangling link: writing would create its target; the target's folder must exist
      const target = path.resolve(path.dirname(where), readlinkSync(where));
      return fileTarget(where, target, name);
    }
    if (info.isDirectory()) throw new UsageError(`${where} is a folder; give a file name for ${name}`);
    // /dev/stdout (or /proc/self/fd/1) is this process's stdout, which may be a socket that no path opens
    if (isStdout(info)) return { kind: 'stdout', name };
    if (info.isCharacterDevice() || info.isFIFO()) return { kind: 'stream', name, path: where };
    if (!info.isFile()) throw new UsageError(`${where} is not a regular file; give a file name for ${name}`);
    return fileTarget(where, realpathSync(where), name);
  }
  return fileTarget(where, path.resolve(where), name);
}

function isStdout(info: Stats): boolean {
  try {
    const out = fstatSync(1);
    return out.dev === info.dev && out.ino === info.ino && !out.isCharacterDevice();
  } catch {
    return false;
  }
}

/** A regular-file target: its folder must exist and be writable. */
function fileTarget(where: string, file: string, name: string): OutputTarget {
  const folder = path.dirname(file);
  let info: Stats;
  try {
    info = statSync(folder);
  } catch {
    throw new UsageError(`Cannot write ${name} ${where}: the folder ${folder} does not exist; create it first`);
  }
  if (!info.isDirectory()) throw new UsageError(`Cannot write ${name} ${where}: ${folder} is not a folder`);
  try {
    accessSync(folder, constants.W_OK);
  } catch {
    throw new UsageError(`Cannot write ${name} ${where}: the folder ${folder} is not writable`);
  }
  return { kind: 'file', name, path: where, file };
}

/** Identity of an existing file (device and inode), to compare outputs with inputs; undefined if absent. */
export function fileIdentity(file: string): string | undefined {
  try {
    const info = statSync(file);
    return `${info.dev}:${info.ino}`;
  } catch {
    return undefined;
  }
}

/** Refuses two outputs that name one file (`--output x --meta x`, or through a link). */
export function checkDistinct(targets: OutputTarget[]): void {
  const seen = new Map<string, OutputTarget>();
  for (const target of targets) {
    if (target.kind !== 'file') continue;
    const other = seen.get(target.file);
    if (other) throw new UsageError(`${other.name} and ${target.name} both name ${target.file}; give them different files`);
    seen.set(target.file, target);
  }
}

/** A file a command reads, with its role in messages ('the model', 'the labels file', ...). */
export interface NamedInput {
  role: string;
  path: string | undefined;
}

/**
 * Identities (device:inode) of the outputs that exist now, each with its name and path as the
 * user wrote it: what a command must never read as an input (links followed).
 */
export function outputIdentities(targets: readonly (OutputTarget | undefined)[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const target of targets) {
    if (target?.kind !== 'file') continue;
    const id = fileIdentity(target.file);
    if (id) out.set(id, `${target.name} (${target.path})`);
  }
  return out;
}

/** Refuses an input that is one of the outputs (same device and inode): exit 2 naming both, before any work. */
export function checkInputsAreNotOutputs(inputs: readonly NamedInput[], outputs: ReadonlyMap<string, string>): void {
  if (outputs.size === 0) return;
  for (const { role, path: file } of inputs) {
    if (file === undefined || file === '-') continue;
    const output = outputs.get(fileIdentity(file) ?? '');
    if (output) throw new UsageError(`${file} is ${role} and also ${output}; writing it would destroy it. Give another output file.`);
  }
}

/**
 * Refuses a list of images (a predict output's rows, a passes file's paths) that names one image
 * twice, under one spelling or two (./a.png, a link to it): each image must count once. `file` names
 * the list in the message.
 */
export function refuseRepeatedPaths(paths: readonly string[], file: string): void {
  const first = new Map<string, number>();
  paths.forEach((p, i) => {
    const key = fileIdentity(p) ?? path.resolve(p);
    const earlier = first.get(key);
    if (earlier !== undefined)
      throw new UsageError(
        `${file} lists one image twice (${paths[earlier]} in record ${earlier + 1}, ${p} in record ${i + 1}): each image must count once; remove one of them`,
      );
    first.set(key, i);
  });
}

/** Refuses a command that would read standard input (`-`) for two of its inputs: the first would take it all. */
export function refuseStdinTwice(inputs: readonly NamedInput[]): void {
  const fromStdin = inputs.filter((input) => input.path === '-');
  if (fromStdin.length > 1)
    throw new UsageError(
      `${fromStdin.map((input) => input.role).join(' and ')} both read standard input (-), which can be read once: give all but one as a file`,
    );
}
