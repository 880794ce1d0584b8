import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { writeJsonAtomic } from '../../src/io/durable.js';
import { RunOutput } from '../../src/io/run-output.js';
import { outputTarget } from '../../src/io/targets.js';
import { tempDir } from '../helpers/files.js';

const settings = { seed: 1 };
const header = 'path,label,status';

describe('RunOutput resume', () => {
  it('cuts a half-written row whose quoted path holds a newline at the last whole record (golden bytes)', () => {
    const folder = tempDir();
    const output = path.join(folder, 'out.csv');
    const complete = `${header}\n"first\nname.png",cat,ok\nplain.png,dog,ok\n`;
    // killed inside the third row, after the newline inside its quoted path
    writeFileSync(`${output}.partial`, `${complete}"third\nna`);
    writeFileSync(`${output}.partial.json`, JSON.stringify(settings));
    const sink = RunOutput.open({ output: outputTarget(output, 'the output'), format: 'csv', resume: true, header, settings });
    assert.deepEqual([...sink.done], ['first\nname.png', 'plain.png']);
    sink.write('"third\nname.png",bird,ok');
    sink.finish({ done: true });
    assert.equal(readFileSync(output, 'utf8'), `${complete}"third\nname.png",bird,ok\n`);
    assert.deepEqual(readdirSync(folder).sort(), ['out.csv', 'out.csv.meta.json']);
  });

  it('JSONL: a half line is dropped, whole lines are kept', () => {
    const folder = tempDir();
    const output = path.join(folder, 'out.jsonl');
    writeFileSync(`${output}.partial`, '{"path":"a\\nb.png","status":"ok"}\n{"path":"c.p');
    writeFileSync(`${output}.partial.json`, JSON.stringify(settings));
    const sink = RunOutput.open({ output: outputTarget(output, 'the output'), format: 'jsonl', resume: true, header: undefined, settings });
    assert.deepEqual([...sink.done], ['a\nb.png']);
    sink.close();
    assert.equal(readFileSync(`${output}.partial`, 'utf8'), '{"path":"a\\nb.png","status":"ok"}\n');
  });
});

describe('writeJsonAtomic', () => {
  it('replaces the file whole and leaves no temp file', () => {
    const folder = tempDir();
    const file = path.join(folder, 'meta.json');
    writeFileSync(file, 'old');
    writeJsonAtomic(file, { a: 1 });
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), { a: 1 });
    assert.deepEqual(readdirSync(folder), ['meta.json']);
    assert.equal(existsSync(path.join(folder, `.meta.json.tmp-${process.pid}`)), false);
  });
});
