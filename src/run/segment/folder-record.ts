/**
 * The maps folder's record, FOLDER/maps.json: the settings its maps were made with. Every run into
 * the folder (another format, a shard, a resume) must make the same maps, or it is refused before
 * any work: rows and map files written by two settings would disagree without a word.
 */
import { linkSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { UsageError } from '../../errors.js';

const RECORD = 'maps.json';

/** Claims `folder` for maps made with `settings`, or checks an earlier claim agrees (created whole or not at all, so two runs starting at once see one record). */
export function claimMapsFolder(folder: string, settings: Record<string, unknown>): void {
  const file = path.join(folder, RECORD);
  const record = { tool: 'mc-dropout', kind: 'segmentation maps', settings };
  const temporary = path.join(folder, `.${RECORD}.tmp-${process.pid}`);
  writeFileSync(temporary, `${JSON.stringify(record, null, 2)}\n`);
  try {
    linkSync(temporary, file);
    return;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    rmSync(temporary, { force: true });
  }
  const earlier = readRecord(file);
  for (const key of new Set([...Object.keys(earlier), ...Object.keys(settings)])) {
    const [was, now] = [JSON.stringify(earlier[key]), JSON.stringify(settings[key])];
    if (was !== now)
      throw new UsageError(
        `${folder} holds the maps of another run (its ${key} is ${was ?? 'not set'}, this run's ${now ?? 'not set'}): give another folder, or remove that one to start over`,
      );
  }
}

function readRecord(file: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    parsed = undefined;
  }
  const settings = (parsed as { settings?: unknown } | undefined)?.settings;
  if (typeof settings !== 'object' || settings === null || Array.isArray(settings))
    throw new UsageError(`${file} is not the record of a maps folder mc-dropout wrote: give another folder, or remove that one to start over`);
  return settings as Record<string, unknown>;
}
