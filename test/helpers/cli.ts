import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root (tests run from dist/test). */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const BIN = fileURLToPath(new URL('../../../bin/mc-dropout.js', import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * The probe cache of the CLI runs of one test file: its own folder, so the runs after the first of
 * a model take the cached path (and a developer's ~/.cache is left alone).
 */
let cache: string | undefined;
function cacheFolder(): string {
  cache ??= mkdtempSync(path.join(tmpdir(), 'mc-dropout-cache-'));
  return cache;
}

/** Runs the real binary, as a user would, and collects its output and exit code. */
export function runCli(args: string[], options: { cwd?: string; input?: string; env?: NodeJS.ProcessEnv; stdoutFd?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    // stdoutFd: standard output goes to that open file (e.g. /dev/full) instead of a pipe
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: options.cwd ?? ROOT,
      env: { ...process.env, MC_DROPOUT_CACHE: cacheFolder(), ...options.env },
      stdio: ['pipe', options.stdoutFd ?? 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    child.stdin!.end(options.input ?? '');
  });
}
