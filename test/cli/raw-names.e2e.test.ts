import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'csv-parse/sync';
import { bytesOfName } from '../../src/io/names.js';
import { ROOT, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';

// A folder holding a file whose name is not valid UTF-8 ("bad\xff.jpg"), one with valid non-ASCII
// text and one with a backslash: every one is read, and each name comes back exactly.
const IMAGE = path.join(ROOT, 'fixtures/samples/bag-34.jpg');
const FAST = ['--seed', '1', '-t', '2', '-q', '--device', 'cpu'];
const folder = tempDir();
const images = path.join(folder, 'images');
mkdirSync(images);
const raw = Buffer.concat([Buffer.from(`${images}/bad`), Buffer.from([0xff]), Buffer.from('.jpg')]);
copyFileSync(IMAGE, raw);
for (const name of ['café.jpg', 'back\\slash.jpg']) copyFileSync(IMAGE, path.join(images, name));

describe('names that are not valid UTF-8', () => {
  it('are read from folders and --list0, written to CSV as \\xHH and to JSONL exactly; --resume finds them', async () => {
    const csv = await runCli(['predict', images, ...FAST]);
    assert.equal(csv.code, 0, csv.stderr);
    const rows = parse<Record<string, string>>(csv.stdout, { columns: true });
    assert.deepEqual(
      rows.map((r) => [path.basename(r.path!), r.status]),
      [
        ['back\\slash.jpg', 'ok'],
        ['bad\\xff.jpg', 'ok'],
        ['café.jpg', 'ok'],
      ],
    );
    assert.deepEqual(new Set(rows.map((r) => r.confidence)).size, 1, 'the same image under three names: the same numbers');

    const jsonl = await runCli(['predict', images, ...FAST, '-f', 'jsonl']);
    const paths = jsonl.stdout
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { path: string }).path);
    assert.deepEqual(bytesOfName(paths[1]!), raw, 'JSONL keeps the bytes (\\udcff, as Python os.fsdecode)');
    assert.match(jsonl.stdout, /bad\\udcff\.jpg/);

    const list = path.join(folder, 'list0');
    writeFileSync(list, Buffer.concat([raw, Buffer.from([0])]));
    const listed = await runCli(['predict', '--list0', list, ...FAST]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /bad\\xff\.jpg,Bag,8,/);

    const out = path.join(folder, 'out.csv');
    assert.equal((await runCli(['predict', images, ...FAST, '-o', out])).code, 0);
    const before = readFileSync(out);
    const resumed = await runCli(['predict', images, ...FAST, '-o', out, '--resume']);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.deepEqual(readFileSync(out), before, 'no row predicted twice');
  });
  it('refuses, with a CSV, a name with raw bytes beside a valid name spelled as its escape: their rows would share a path cell, and a resume would skip one', async () => {
    const clash = path.join(folder, 'clash');
    mkdirSync(clash);
    const rawName = Buffer.concat([Buffer.from(`${clash}/a`), Buffer.from([0xe9]), Buffer.from('.jpg')]);
    copyFileSync(IMAGE, rawName);
    const out = path.join(folder, 'clash.csv');
    // the raw name alone: one row, written as a\xe9.jpg
    const first = await runCli(['predict', clash, ...FAST, '-o', out]);
    assert.equal(first.code, 0, first.stderr);
    const before = readFileSync(out);
    assert.match(before.toString(), /a\\xe9\.jpg,Bag,/);

    // then a file named a\xe9.jpg (valid text) joins the folder
    copyFileSync(path.join(ROOT, 'fixtures/samples/ankle-boot-39.jpg'), path.join(clash, 'a\\xe9.jpg'));
    const message = `Two inputs would have the same path cell in a CSV: ${clash}/a\\xe9.jpg, a name that is not UTF-8 (a CSV writes each such byte as \\xHH), and the file named ${clash}/a\\xe9.jpg. Write JSONL (-f jsonl), which keeps every name exactly, or rename one of them`;
    for (const args of [['-o', out, '--resume'], ['-o', path.join(folder, 'fresh.csv')], []]) {
      const refused = await runCli(['predict', clash, ...FAST, ...args]);
      assert.equal(refused.code, 2, refused.stderr);
      assert.equal(refused.stdout, '');
      assert.match(refused.stderr, new RegExp(message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    }
    assert.deepEqual(readFileSync(out), before, 'the earlier output untouched');
    assert.equal(existsSync(path.join(folder, 'fresh.csv')), false, 'no output begun');

    const jsonl = await runCli(['predict', clash, ...FAST, '-f', 'jsonl']);
    assert.equal(jsonl.code, 0, jsonl.stderr);
    const rows = jsonl.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { path: string; label: string });
    assert.deepEqual(
      rows.map((r) => [path.basename(r.path), r.label]),
      [
        ['a\\xe9.jpg', 'Ankle boot'],
        ['a\udce9.jpg', 'Bag'],
      ],
    );
  });
});
