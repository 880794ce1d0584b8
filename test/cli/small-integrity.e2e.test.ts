import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'csv-parse/sync';
import { ROOT, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';

const IMAGE = path.join(ROOT, 'fixtures/samples/bag-34.jpg');
const FAST = ['--seed', '1', '-t', '2', '-q', '--device', 'cpu'];
const LABELS = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

/** A live process whose command line is `args` (killed when the test ends). */
function liveProcess(command: string, args: string[]): { pid: number; stop: () => void } {
  const child = spawn(command, args, { stdio: 'ignore' });
  return { pid: child.pid!, stop: () => child.kill('SIGKILL') };
}

describe('the smaller ways exit 0 could hide a wrong result', () => {
  it('a lock naming a live process that is not mc-dropout (PID reused) is taken over; one that may be mc-dropout names the way out', async () => {
    const output = path.join(tempDir(), 'out.csv');
    const other = liveProcess('sleep', ['30']);
    try {
      writeFileSync(`${output}.lock`, `${other.pid}@${hostname()}\n`);
      const run = await runCli(['predict', IMAGE, ...FAST, '-o', output]);
      assert.equal(run.code, 0, run.stderr);
    } finally {
      other.stop();
    }
    const lookalike = liveProcess(process.execPath, ['-e', 'setTimeout(() => {}, 30000)', 'mc-dropout']);
    try {
      writeFileSync(`${output}.lock`, `${lookalike.pid}@${hostname()}\n`);
      const run = await runCli(['predict', IMAGE, ...FAST, '-o', output]);
      assert.equal(run.code, 2);
      assert.match(
        run.stderr,
        new RegExp(`being written by another mc-dropout run \\(PID ${lookalike.pid}, .*If no mc-dropout run is writing it, delete ${output}\\.lock`),
      );
    } finally {
      lookalike.stop();
    }
  });

  it('a path whose name is longer than the system allows is an error row "name too long", the batch goes on', async () => {
    const long = path.join(tempDir(), `${'x'.repeat(300)}.jpg`);
    const run = await runCli(['predict', long, IMAGE, ...FAST]);
    assert.equal(run.code, 1, run.stderr);
    const rows = parse<Record<string, string>>(run.stdout, { columns: true });
    assert.deepEqual(
      rows.map((r) => [r.status, r.error]),
      [
        ['error', 'name too long'],
        ['ok', ''],
      ],
    );
  });

  it('--resume after a complete run reads the --meta it was given', async () => {
    const folder = tempDir();
    const args = ['predict', IMAGE, ...FAST, '-o', path.join(folder, 'out.csv'), '--meta', path.join(folder, 'run.json')];
    assert.equal((await runCli(args)).code, 0);
    const again = await runCli([...args, '--resume']);
    assert.equal(again.code, 0, again.stderr);
  });

  it('a FIFO or a device as the model, labels, list or truth is refused at once, not read forever', { timeout: 30000 }, async () => {
    const fifo = path.join(tempDir(), 'pipe');
    execFileSync('mkfifo', [fifo]);
    const cases: [string[], number, RegExp][] = [
      [['predict', IMAGE, ...FAST, '-m', fifo], 3, /Cannot read model .*pipe: it is a FIFO \(named pipe\), not a regular file/],
      [['predict', IMAGE, ...FAST, '-m', '/dev/zero'], 3, /Cannot read model \/dev\/zero: it is a device, not a regular file/],
      [['predict', IMAGE, ...FAST, '--labels', fifo], 2, /Cannot read the labels file .*pipe: it is a FIFO/],
      [['predict', ...FAST, '--list', fifo], 2, /Cannot read the list .*pipe: it is a FIFO/],
      [['evaluate', 'fixtures/samples', ...FAST, '--truth', fifo], 2, /Cannot read the ground truth .*pipe: it is a FIFO/],
    ];
    for (const [args, code, message] of cases) {
      const run = await runCli(args);
      assert.equal(run.code, code, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, message);
    }
  });

  it('--topk above the class count is said once; duplicate label names are said, and a folder name that matches two classes is refused', async () => {
    const topk = await runCli(['predict', IMAGE, '--seed', '1', '-t', '2', '--device', 'cpu', '--no-progress', '-k', '12']);
    assert.equal(topk.code, 0, topk.stderr);
    assert.match(topk.stderr, /warning: top-k 12 is more than the model's 10 classes: rows list all 10/);
    const folder = tempDir();
    const labels = path.join(folder, 'labels.txt');
    writeFileSync(labels, `${[...LABELS.slice(0, 9), 'Bag'].join('\n')}\n`);
    mkdirSync(path.join(folder, 'images', 'Bag'), { recursive: true });
    copyFileSync(IMAGE, path.join(folder, 'images', 'Bag', 'x.jpg'));
    const warned = await runCli(['predict', IMAGE, '--seed', '1', '-t', '2', '--device', 'cpu', '--no-progress', '--labels', labels]);
    assert.equal(warned.code, 0, warned.stderr);
    assert.match(
      warned.stderr,
      /labels\.txt gives 1 label name to more than one class: "Bag" \(classes 8, 9\); the label column cannot tell them apart, class_index does/,
    );
    const evaluate = await runCli(['evaluate', path.join(folder, 'images'), ...FAST, '--labels', labels]);
    assert.equal(evaluate.code, 2, evaluate.stderr);
    assert.match(
      evaluate.stderr,
      /"Bag" names classes 8 and 9 of the model, so it cannot tell which is meant; give the true classes as class indices in a CSV with --truth/,
    );
  });

  it('--spreadsheet-safe: text cells that a spreadsheet would run start with an apostrophe; without it, the exact bytes', async () => {
    // files named directly from their folder: the path cells are the names themselves
    const folder = tempDir();
    const names = ['+1.jpg', '-2.jpg', '=HYPERLINK("x").jpg', '@sum.jpg', 'plain.jpg'];
    for (const name of names) copyFileSync(IMAGE, path.join(folder, name));
    const labels = path.join(folder, 'labels.txt');
    writeFileSync(labels, `${LABELS.map((l) => (l === 'Bag' ? '=Bag' : l)).join('\n')}\n`);
    const rows = async (extra: string[]) => {
      const run = await runCli(['predict', ...FAST, '--labels', labels, ...extra, '--', ...names], { cwd: folder });
      assert.equal(run.code, 0, run.stderr);
      return parse<Record<string, string>>(run.stdout, { columns: true });
    };
    const safe = await rows(['--spreadsheet-safe']);
    assert.deepEqual(
      safe.map((r) => r.path),
      ["'+1.jpg", "'-2.jpg", '\'=HYPERLINK("x").jpg', "'@sum.jpg", 'plain.jpg'],
    );
    assert.ok(
      safe.every((r) => r.label === "'=Bag" && r.top1_label === "'=Bag"),
      'labels made safe',
    );
    assert.ok(
      safe.every((r) => Number(r.confidence) > 0 && !r.confidence!.startsWith("'")),
      'numbers unchanged',
    );
    const exact = await rows([]);
    assert.deepEqual(
      exact.map((r) => r.path),
      names,
    );
    assert.ok(exact.every((r) => r.label === '=Bag'));
  });
});
