/**
 * Deep ensembles through the real binary: several -m (or --members), every member on every image,
 * the uncertainty's parts in the rows, order-free output, refusals, and every command that runs or
 * reads a run (save-passes, select, evaluate --from, resume, shards and merge, calibrate).
 */
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'csv-parse/sync';
import { ROOT, runCli } from '../helpers/cli.js';
import { tempDir, writeModel } from '../helpers/files.js';
import { linearModel } from '../helpers/graphs.js';
import { MEMBERS, withoutDropout } from '../helpers/members.js';

const SAMPLES = path.join(ROOT, 'fixtures/samples');
const [BUNDLED, SEED1, SEED2, SEED3] = MEMBERS.map((m) => path.join(ROOT, m));
const THREE = ['-m', BUNDLED!, '-m', SEED1!, '-m', SEED2!];
const common = ['-t', '4', '--seed', '5', '--device', 'cpu', '-q'];

type Row = Record<string, string>;
const readCsv = (text: string): Row[] => parse<Row>(text, { columns: true });
/** Each row prints 6 decimals: the parts' sum and the MI differ by at most the rounding of four numbers. */
const PRINTED_SUM = 4 * 5e-7 + 1e-9;

describe('ensembles (predict -m a -m b ...)', () => {
  it('three members: the parts of the mutual information add up to it in every row, and the columns are documented ones', async () => {
    const { code, stdout, stderr } = await runCli(['predict', SAMPLES, ...THREE, ...common]);
    assert.equal(code, 0, stderr);
    const rows = readCsv(stdout);
    assert.equal(rows.length, 50);
    assert.deepEqual(Object.keys(rows[0]!).slice(9, 13), [
      'mutual_information_members',
      'mutual_information_views',
      'mutual_information_passes',
      'member_disagreement',
    ]);
    let anyBetween = false;
    for (const r of rows) {
      const sum = Number(r.mutual_information_members) + Number(r.mutual_information_views) + Number(r.mutual_information_passes);
      assert.ok(Math.abs(sum - Number(r.mutual_information)) <= PRINTED_SUM, `${r.path}: ${sum} vs ${r.mutual_information}`);
      assert.equal(Number(r.mutual_information_views), 0);
      assert.ok(Math.abs(Number(r.entropy) - Number(r.expected_entropy) - Number(r.mutual_information)) <= 3 * 5e-7 + 1e-9);
      // member disagreement: a share of 3 members
      assert.ok(
        [0, 1 / 3, 2 / 3, 1].some((v) => Math.abs(Number(r.member_disagreement) - v) < 1e-6),
        r.member_disagreement,
      );
      if (Number(r.mutual_information_members) > 1e-4) anyBetween = true;
    }
    assert.ok(anyBetween, 'members trained with other seeds disagree on some image');
  });

  it('the output does not depend on the order of -m: the same bytes for every order', async () => {
    const orders = [THREE, ['-m', SEED2!, '-m', BUNDLED!, '-m', SEED1!], ['-m', SEED1!, '-m', SEED2!, '-m', BUNDLED!]];
    const outputs = await Promise.all(orders.map((order) => runCli(['predict', SAMPLES, ...order, ...common, '-f', 'jsonl', '--per-class'])));
    for (const o of outputs) assert.equal(o.code, 0, o.stderr);
    assert.equal(outputs[1]!.stdout, outputs[0]!.stdout);
    assert.equal(outputs[2]!.stdout, outputs[0]!.stdout);
  });

  it('one -m (or a --members list of one) is a plain run: the bytes of predict without -m', async () => {
    const folder = tempDir();
    writeFileSync(path.join(folder, 'one.txt'), `${path.relative(folder, BUNDLED!)}\n`);
    const [plain, one, list] = await Promise.all([
      runCli(['predict', SAMPLES, ...common]),
      runCli(['predict', SAMPLES, '-m', BUNDLED!, ...common]),
      runCli(['predict', SAMPLES, '--members', path.join(folder, 'one.txt'), ...common]),
    ]);
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(one.stdout, plain.stdout);
    assert.equal(list.stdout, plain.stdout);
    assert.doesNotMatch(plain.stdout.split('\n')[0]!, /member/);
  });

  it('--members reads one path a line, relative to the list, with comments; with -m it adds to them', async () => {
    const folder = tempDir();
    copyFileSync(SEED1!, path.join(folder, 'one.onnx'));
    copyFileSync(SEED2!, path.join(folder, 'two.onnx'));
    writeFileSync(path.join(folder, 'members.txt'), '# two members\none.onnx\n\n./two.onnx\n');
    const [listed, given] = await Promise.all([
      runCli(['predict', SAMPLES, '-m', BUNDLED!, '--members', path.join(folder, 'members.txt'), ...common]),
      runCli(['predict', SAMPLES, ...THREE, ...common]),
    ]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.equal(listed.stdout, given.stdout);
  });

  it('a member without dropout counts as one deterministic pass: no MC part of its own, the ensemble still splits', async () => {
    const folder = tempDir();
    const plain = withoutDropout(MEMBERS[3], path.join(folder, 'plain.onnx'));
    const alone = await runCli(['predict', SAMPLES, '-m', plain, ...common]);
    assert.equal(alone.code, 3, 'a lone model without dropout is refused as before');
    const both = await runCli(['predict', SAMPLES, '-m', plain, '-m', SEED3!, ...common, '-o', path.join(folder, 'out.csv')]);
    assert.equal(both.code, 0, both.stderr);
    const rows = readCsv(readFileSync(path.join(folder, 'out.csv'), 'utf8'));
    assert.ok(rows.some((r) => Number(r.mutual_information_members) > 1e-4));
    const meta = JSON.parse(readFileSync(path.join(folder, 'out.csv.meta.json'), 'utf8')) as { members: { path: string; passes: number }[] };
    assert.deepEqual(
      meta.members.map((m) => [path.basename(m.path), m.passes]),
      [
        ['plain.onnx', 1],
        ['fashion-mnist-seed3.onnx', 4],
      ],
    );
    // plain members only: every member runs one pass, and the only uncertainty between them
    const plainOnly = await runCli(['predict', SAMPLES, '-m', plain, '-m', withoutDropout(MEMBERS[1], path.join(folder, 'plain1.onnx')), ...common]);
    assert.equal(plainOnly.code, 0, plainOnly.stderr);
    for (const r of readCsv(plainOnly.stdout)) assert.equal(r.mutual_information_passes, '0.000000');
  });

  it('refuses members with other classes (exit 3), a member given twice and adaptive T (exit 2), naming the member', async () => {
    const other = writeModel(linearModel(0.5, 32, 32, Array<number>(3 * 32 * 32 * 5).fill(0.001), 5), 'five.onnx');
    const [classes, twice, auto] = await Promise.all([
      runCli(['predict', SAMPLES, '-m', BUNDLED!, '-m', other, ...common]),
      runCli(['predict', SAMPLES, '-m', BUNDLED!, '-m', `${path.dirname(BUNDLED!)}/../models/fashion-mnist-mc.onnx`, ...common]),
      runCli(['predict', SAMPLES, ...THREE, '-t', 'auto', '--device', 'cpu', '-q']),
    ]);
    assert.equal(classes.code, 3, classes.stderr);
    assert.match(classes.stderr, /five\.onnx has 5 classes but .*fashion-mnist-mc\.onnx has 10/);
    assert.equal(twice.code, 2, twice.stderr);
    assert.match(twice.stderr, /is the same model as/);
    assert.equal(auto.code, 2, auto.stderr);
    assert.match(auto.stderr, /Adaptive T runs one model on one view: give --times a number/);
  });

  it('hostile member lists: missing, empty, a folder, a link to another member, or also the output: refused before any row, nothing overwritten', async () => {
    const folder = tempDir();
    const list = path.join(folder, 'members.txt');
    writeFileSync(list, `${SEED1}\n`);
    writeFileSync(path.join(folder, 'empty.txt'), '# nothing\n\n');
    symlinkSync(BUNDLED!, path.join(folder, 'link.onnx'));
    const cases = await Promise.all([
      runCli(['predict', SAMPLES, '--members', path.join(folder, 'nope.txt'), ...common]),
      runCli(['predict', SAMPLES, '--members', path.join(folder, 'empty.txt'), ...common]),
      runCli(['predict', SAMPLES, '-m', BUNDLED!, '-m', folder, ...common]),
      runCli(['predict', SAMPLES, '-m', BUNDLED!, '-m', path.join(folder, 'link.onnx'), ...common]),
      runCli(['predict', SAMPLES, '-m', BUNDLED!, '--members', list, ...common, '-o', list]),
    ]);
    assert.deepEqual(
      cases.map((c) => c.code),
      [2, 2, 3, 2, 2],
      cases.map((c) => c.stderr).join('\n'),
    );
    assert.match(cases[0].stderr, /nope\.txt/);
    assert.match(cases[1].stderr, /names no model/);
    assert.match(cases[3].stderr, /link\.onnx is the same model as .*fashion-mnist-mc\.onnx/);
    assert.match(cases[4].stderr, /members\.txt is the list of members and also the output/);
    assert.equal(readFileSync(list, 'utf8'), `${SEED1}\n`);
    for (const c of cases) assert.equal(c.stdout, '');
    // a link alone is its target: the same rows
    const [linked, target] = await Promise.all([
      runCli(['predict', SAMPLES, '-m', path.join(folder, 'link.onnx'), ...common]),
      runCli(['predict', SAMPLES, '-m', BUNDLED!, ...common]),
    ]);
    assert.equal(linked.code, 0, linked.stderr);
    assert.equal(linked.stdout, target.stdout);
  });
});

describe('ensembles in every command', () => {
  it('--save-passes records members and views; evaluate --from, select and BatchBALD read the rows as T x members', async () => {
    const folder = tempDir();
    const npy = path.join(folder, 'p.npy');
    const run = await runCli(['predict', SAMPLES, ...THREE, ...common, '-o', path.join(folder, 'out.csv'), '--save-passes', npy]);
    assert.equal(run.code, 0, run.stderr);
    const record = JSON.parse(readFileSync(`${npy}.run.json`, 'utf8')) as { passes: number; members: { sha256: string }[]; views: string[]; row_order: string };
    assert.equal(record.passes, 4);
    assert.equal(record.members.length, 3);
    assert.deepEqual(record.views, ['identity']);
    assert.equal(record.row_order, 'pass, member, view');
    const [evaluation, bald, batch] = await Promise.all([
      runCli(['evaluate', '--from', npy, '--truth', path.join(ROOT, 'fixtures/samples.csv'), '--json', path.join(folder, 'ev.json'), '-q']),
      runCli(['select', npy, '-n', '5']),
      runCli(['select', npy, '-n', '5', '--by', 'batchbald']),
    ]);
    assert.equal(evaluation.code, 0, evaluation.stderr);
    const report = JSON.parse(readFileSync(path.join(folder, 'ev.json'), 'utf8')) as {
      passes: number;
      numbers: { by_passes: { passes: number }[] };
      decomposition: Record<string, number>;
    };
    assert.equal(report.passes, 4);
    assert.deepEqual(
      report.numbers.by_passes.map((b) => b.passes),
      [1, 2, 4],
    );
    const d = report.decomposition;
    assert.ok(Math.abs(d.between_members! + d.between_views! + d.within_passes! - d.mutual_information!) < 1e-12);
    assert.equal(bald.code, 0, bald.stderr);
    assert.equal(bald.stdout.trim().split('\n').length, 5);
    assert.equal(batch.code, 0, batch.stderr);
    // BALD's top image is the one whose row has the largest mutual information
    const rows = readCsv(readFileSync(path.join(folder, 'out.csv'), 'utf8'));
    const top = rows.reduce((a, b) => (Number(b.mutual_information) > Number(a.mutual_information) ? b : a));
    assert.equal(bald.stdout.split('\n')[0], top.path);
  });

  it('--resume finishes an ensemble run with the bytes of one run; another ensemble is refused', async () => {
    const folder = tempDir();
    const out = path.join(folder, 'out.csv');
    const full = await runCli(['predict', SAMPLES, ...THREE, ...common, '-o', out]);
    assert.equal(full.code, 0, full.stderr);
    const whole = readFileSync(out, 'utf8');
    writeFileSync(out, whole.split('\n').slice(0, 21).join('\n') + '\n');
    const resumed = await runCli(['predict', SAMPLES, ...THREE, ...common, '-o', out, '--resume']);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.equal(readFileSync(out, 'utf8'), whole);
    const other = await runCli(['predict', SAMPLES, '-m', BUNDLED!, '-m', SEED1!, ...common, '-o', out, '--resume']);
    assert.equal(other.code, 2);
    assert.match(other.stderr, /Cannot resume .*settings differ/);
  });

  it('shards of an ensemble merge into the bytes of one run', async () => {
    const folder = tempDir();
    for (let index = 0; index < 3; index++) {
      const shard = await runCli(['predict', SAMPLES, ...THREE, ...common, '--shard', `${index}/3`, '-o', 'out.csv'], { cwd: folder });
      assert.equal(shard.code, 0, shard.stderr);
    }
    const merged = await runCli(['merge', '-o', 'out.csv'], { cwd: folder });
    assert.equal(merged.code, 0, merged.stderr);
    const single = await runCli(['predict', SAMPLES, ...THREE, ...common, '-o', 'single.csv'], { cwd: folder });
    assert.equal(single.code, 0, single.stderr);
    assert.equal(readFileSync(path.join(folder, 'out.csv'), 'utf8'), readFileSync(path.join(folder, 'single.csv'), 'utf8'));
  });

  it('calibrate on an ensemble: predict --calibration takes it for the same members (any order) and refuses it for one of them', async () => {
    const folder = tempDir();
    const cal = path.join(folder, 'cal.json');
    const fitted = await runCli(['calibrate', SAMPLES, ...THREE, '--truth', path.join(ROOT, 'fixtures/samples.csv'), ...common, '-o', cal]);
    assert.equal(fitted.code, 0, fitted.stderr);
    const [used, single] = await Promise.all([
      runCli(['predict', SAMPLES, '-m', SEED2!, '-m', SEED1!, '-m', BUNDLED!, ...common, '--calibration', cal]),
      runCli(['predict', SAMPLES, '-m', BUNDLED!, ...common, '--calibration', cal]),
    ]);
    assert.equal(used.code, 0, used.stderr);
    const rows = readCsv(used.stdout);
    for (const r of rows) {
      // the parts are those of the tempered passes: they still add up to the row's mutual information
      const sum = Number(r.mutual_information_members) + Number(r.mutual_information_views) + Number(r.mutual_information_passes);
      assert.ok(Math.abs(sum - Number(r.mutual_information)) <= PRINTED_SUM, `${r.path}: ${sum} vs ${r.mutual_information}`);
      assert.equal(JSON.parse(r.set!).length, Number(r.set_size));
    }
    assert.equal(single.code, 2);
    assert.match(single.stderr, /made for another model/);
  });

  it('evaluate gives a row per method, and its ensemble MC row is the run’s MC metrics', async () => {
    const folder = tempDir();
    const json = path.join(folder, 'ev.json');
    const { code, stdout, stderr } = await runCli([
      'evaluate',
      SAMPLES,
      ...THREE,
      '--truth',
      path.join(ROOT, 'fixtures/samples.csv'),
      ...common.filter((a) => a !== '-q'),
      '--json',
      json,
    ]);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /By method:/);
    const report = JSON.parse(readFileSync(json, 'utf8')) as {
      members: { path: string }[];
      numbers: {
        mc: { nll: number };
        deterministic: { nll: number };
        methods: { name: string; member: string | null; dropout: boolean; metrics: { nll: number; images: number } }[];
      };
      decomposition: { images: number };
    };
    const names = report.numbers.methods.map((m) => m.name);
    assert.deepEqual(names, [
      `${BUNDLED}, dropout off`,
      `${BUNDLED}, MC dropout`,
      `${SEED1}, dropout off`,
      `${SEED1}, MC dropout`,
      `${SEED2}, dropout off`,
      `${SEED2}, MC dropout`,
      'ensemble, dropout off',
      'ensemble, MC dropout',
    ]);
    const ensembleMc = report.numbers.methods.find((m) => m.name === 'ensemble, MC dropout')!;
    const ensembleOff = report.numbers.methods.find((m) => m.name === 'ensemble, dropout off')!;
    assert.equal(ensembleMc.metrics.nll, report.numbers.mc.nll);
    assert.equal(ensembleOff.metrics.nll, report.numbers.deterministic.nll);
    assert.equal(ensembleMc.metrics.images, 50);
    assert.equal(report.decomposition.images, 50);
    assert.deepEqual(
      report.members.map((m) => m.path),
      [BUNDLED, SEED1, SEED2],
    );
  });
});
