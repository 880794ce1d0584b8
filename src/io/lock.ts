import { openSync, readFileSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { UsageError } from '../errors.js';
import { outputError, syncAndClose, writeAll } from './durable.js';
import { outputSidecars } from './sidecars.js';

/**
 * An exclusive claim on an output file: `<file>.lock` holding `PID@host`, created with O_EXCL.
 * A second run on the same output refuses at once; a lock left by a process of this host that no
 * longer exists (killed with SIGKILL) is taken over. A lock from another host (a shared file system)
 * is only ever refused: this host cannot tell whether that run is alive.
 */
export class OutputLock {
  private released = false;

  private constructor(readonly lockFile: string) {}

  static acquire(file: string, name: string): OutputLock {
    const lockFile = outputSidecars(file).lock;
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(lockFile, 'wx');
        try {
          writeAll(fd, `${process.pid}@${hostname()}\n`, lockFile);
          syncAndClose(fd, lockFile);
        } catch (error) {
          rmSync(lockFile, { force: true });
          throw error;
        }
        const lock = new OutputLock(lockFile);
        process.once('exit', () => lock.release());
        return lock;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw outputError(error, lockFile);
        const [pidText = '', host = hostname()] = readLockOwner(lockFile).split('@');
        const owner = Number.parseInt(pidText, 10);
        if (host !== hostname()) {
          throw new UsageError(
            `${name} ${file} is being written by an mc-dropout run on ${host} (PID ${owner}, lock ${lockFile}); if that run is gone, delete the lock`,
          );
        }
        if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner) && mayBeMcDropout(owner)) {
          throw new UsageError(
            `${name} ${file} is being written by another mc-dropout run (PID ${owner}, lock ${lockFile}); wait for it to finish, or write elsewhere. If no mc-dropout run is writing it, delete ${lockFile}`,
          );
        }
        // stale: its process is gone, or the PID now belongs to another program (reused after a requeue)
        rmSync(lockFile, { force: true });
      }
    }
    throw new UsageError(`Cannot lock ${file}: ${lockFile} keeps reappearing; another run is starting on the same output`);
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    rmSync(this.lockFile, { force: true });
  }
}

function readLockOwner(lockFile: string): string {
  try {
    return readFileSync(lockFile, 'utf8').trim();
  } catch {
    return '';
  }
}

/**
 * Whether a live process may be an mc-dropout run: its command line (Linux /proc) names mc-dropout.
 * Where /proc cannot tell, it may be.
 */
function mayBeMcDropout(pid: number): boolean {
  let commandLine: string;
  try {
    commandLine = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return true;
  }
  return commandLine.includes('mc-dropout');
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
