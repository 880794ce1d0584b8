/**
 * A nearly full disk for the tests of the write path: a small tmpfs mounted for the test (root
 * only; CI runs as root). Files on tmpfs take whole 4 KiB pages.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** Why no small disk can be mounted here, or undefined when it can. */
export const smallDiskUnavailable: string | undefined = (() => {
  if (process.getuid?.() !== 0) return 'mounting a small tmpfs needs root (CI runs as root)';
  const probe = mkdtempSync(path.join(tmpdir(), 'mc-dropout-tmpfs-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { stdio: 'ignore' });
    execFileSync('umount', [probe], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'mount -t tmpfs failed (no CAP_SYS_ADMIN in this container)';
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
})();

/** Mounts a tmpfs of `kib` KiB on a new folder for `fn`, then unmounts it (whatever fn left is gone). */
export async function withSmallDisk<T>(kib: number, fn: (folder: string) => Promise<T>): Promise<T> {
  const folder = mkdtempSync(path.join(tmpdir(), 'mc-dropout-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${kib}k`, 'tmpfs', folder]);
  try {
    return await fn(folder);
  } finally {
    execFileSync('umount', [folder]);
    rmSync(folder, { recursive: true, force: true });
  }
}

/** Fills the disk holding `folder` with one file until `freeBytes` are left; returns the filler's path. */
export function fillDisk(folder: string, freeBytes: number): string {
  const filler = path.join(folder, 'filler');
  const { bavail, bsize } = statfsSync(folder);
  writeFileSync(filler, Buffer.alloc(Math.max(0, Number(bavail) * Number(bsize) - freeBytes)));
  return filler;
}
