/**
 * The shipped segmentation model: the README's second quick-start line, and the evaluation
 * docs/segmentation.md shows, rerun and compared number by number.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'csv-parse/sync';
import { ROOT, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';

/** The text block between the markers of docs/segmentation.md. */
function docTable(): string[] {
  const page = readFileSync(path.join(ROOT, 'docs/segmentation.md'), 'utf8');
  const block = /<!-- fashion-seg-table -->\n```text\n([\s\S]*?)\n```\n<!-- \/fashion-seg-table -->/.exec(page);
  assert.ok(block, 'docs/segmentation.md has no marked table');
  return block[1]!.split('\n');
}

/** A line's words and numbers: numbers compared with a tolerance, the rest exactly. */
function cells(line: string): (string | number)[] {
  return line
    .trim()
    .split(/\s{2,}/)
    .map((cell) => (/^-?\d+(\.\d+)?%?$/.test(cell) ? Number(cell.replace('%', '')) : cell));
}

describe('the shipped segmentation model (models/fashion-seg-mc.onnx)', () => {
  it('the quick start writes the maps of the 8 sample canvases and their rows', async () => {
    const out = path.join(tempDir(), 'maps');
    const r = await runCli(['predict', 'fixtures/seg-samples', '-m', 'models/fashion-seg-mc.onnx', '-o', out, '--device', 'cpu']);
    assert.equal(r.code, 0, r.stderr);
    const rows = parse<Record<string, string>>(readFileSync(path.join(out, 'scores.csv'), 'utf8'), { columns: true });
    assert.equal(rows.length, 8);
    assert.ok(rows.every((row) => row.status === 'ok'));
    assert.equal(readdirSync(out).filter((f) => f.endsWith('.label.png')).length, 8);
  });

  it('evaluates on fixtures/seg-eval as docs/segmentation.md shows (±0.0002, ±0.02%: onnxruntime on another machine)', async () => {
    const r = await runCli([
      'evaluate',
      'fixtures/seg-eval/images',
      '-m',
      'models/fashion-seg-mc.onnx',
      '--masks',
      'fixtures/seg-eval/masks',
      '-t',
      '20',
      '--seed',
      '1',
      '--device',
      'cpu',
      '-q',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const shown = docTable();
    const printed = r.stdout.trimEnd().split('\n');
    assert.equal(printed.length, shown.length, r.stdout);
    printed.forEach((line, i) => {
      const [a, b] = [cells(line), cells(shown[i]!)];
      assert.equal(a.length, b.length, `line ${i + 1}: ${line}`);
      a.forEach((cell, k) => {
        const other = b[k]!;
        if (typeof cell === 'number' && typeof other === 'number') assert.ok(Math.abs(cell - other) <= 0.0201, `line ${i + 1}: ${line} against ${shown[i]}`);
        else assert.equal(cell, other, `line ${i + 1}`);
      });
    });
  });
});
