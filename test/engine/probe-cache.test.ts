import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { McModel } from '../../src/engine/mc-model.js';
import type { LoadOptions } from '../../src/engine/options.js';
import { decodeModel, encodeModel } from '../../src/model/onnx.js';
import { cacheOption } from '../../src/cli/run-options.js';
import { runCli, ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';

/** torch 1.13's export: shape inference leaves its shapes unknown, so a probe runs the model. */
const TORCHSCRIPT = path.join(ROOT, 'fixtures/modern/depth_torch113_dropout.onnx');
const images = (size: number) => [0, 1].map((k) => Float32Array.from({ length: size }, (_, i) => Math.sin(i * 0.01 + k)));
const entries = (folder: string) => readdirSync(path.join(folder, 'probe')).filter((f) => f.endsWith('.json'));

async function loadAndPredict(file: string, options: LoadOptions) {
  const model = await McModel.load(file, { device: 'cpu', ...options });
  try {
    return { cached: model.plan.probeCached, probs: await model.predict(images(model.imageSize), { passes: 4, seed: 3 }), plan: model.plan };
  } finally {
    await model.dispose();
  }
}

describe('the probe cache', () => {
  it('a second load of the same model reads what the first probed, and runs exactly as an uncached load', async () => {
    const folder = tempDir();
    const fresh = await loadAndPredict(TORCHSCRIPT, {});
    const first = await loadAndPredict(TORCHSCRIPT, { cacheFolder: folder });
    const second = await loadAndPredict(TORCHSCRIPT, { cacheFolder: folder });
    assert.equal(fresh.cached, false);
    assert.equal(first.cached, false);
    assert.equal(second.cached, true);
    assert.equal(entries(folder).length, 1);
    assert.deepEqual(second.probs, fresh.probs);
    assert.deepEqual({ ...second.plan, probeCached: false }, fresh.plan);
  });

  it('never stale: an edited model, or other sites of the same model, probe again into their own entry', async () => {
    const folder = tempDir();
    const file = path.join(tempDir(), 'model.onnx');
    copyFileSync(TORCHSCRIPT, file);
    await loadAndPredict(file, { cacheFolder: folder });
    // one weight changed: another digest
    const proto = decodeModel(readFileSync(file));
    const weight = proto.graph!.initializer!.find((t) => t.rawData && t.rawData.length >= 4)!;
    weight.rawData![0]! ^= 1;
    writeFileSync(file, encodeModel(proto));
    const edited = await loadAndPredict(file, { cacheFolder: folder });
    assert.equal(edited.cached, false);
    assert.equal(entries(folder).length, 2);
    assert.deepEqual(edited.probs, (await loadAndPredict(file, {})).probs);
    // trunk reuse off probes the same sites: the entry holds; another input size does not
    assert.equal((await loadAndPredict(file, { cacheFolder: folder, trunkReuse: 'off' })).cached, true);
    const other = await McModel.load(path.join(ROOT, 'fixtures/modern/depth_torch113_bernoulli.onnx'), { device: 'cpu', cacheFolder: folder });
    assert.equal(other.plan.probeCached, false);
    await other.dispose();
    assert.equal(entries(folder).length, 3);
  });

  it('an unreadable, malformed, edited or foreign entry is probed again and rewritten; a FIFO or device in its place is never read', async () => {
    const folder = tempDir();
    await loadAndPredict(TORCHSCRIPT, { cacheFolder: folder });
    const [entry] = entries(folder);
    const file = path.join(folder, 'probe', entry!);
    const good = readFileSync(file, 'utf8');
    const stored = JSON.parse(good) as { key: string; checksum: string; probe: { siteShapes: number[][]; siteFolds: number[] } };
    const edited = (probe: object) => JSON.stringify({ ...stored, probe: { ...stored.probe, ...probe } });
    for (const bad of [
      '',
      '{"key": ',
      'null',
      '[]',
      JSON.stringify({ ...stored, checksum: stored.checksum.replace(/^./, (c) => (c === '0' ? '1' : '0')) }),
      JSON.stringify({ ...stored, key: 'another model' }),
      // values of the right types (a hostile trial's [1]-shaped masks broadcast: rows silently wrong before the checksum)
      edited({ siteShapes: stored.probe.siteShapes.map((shape) => shape.map(() => 2)) }),
      edited({ siteShapes: stored.probe.siteShapes.slice(1) }),
      edited({ siteFolds: ['x'] }),
    ]) {
      writeFileSync(file, bad);
      const again = await loadAndPredict(TORCHSCRIPT, { cacheFolder: folder });
      assert.equal(again.cached, false, bad);
      assert.equal(readFileSync(file, 'utf8'), good, `${bad}: rewritten`);
    }
    const fresh = (await loadAndPredict(TORCHSCRIPT, {})).probs;
    // a FIFO (a read would wait for a writer) and an endless device in the entry's place
    for (const special of ['fifo', '/dev/zero']) {
      rmSync(file);
      if (special === 'fifo') execFileSync('mkfifo', [file]);
      else symlinkSync(special, file);
      const run = await loadAndPredict(TORCHSCRIPT, { cacheFolder: folder });
      assert.equal(run.cached, false, special);
      assert.deepEqual(run.probs, fresh, special);
      assert.equal(readFileSync(file, 'utf8'), good, `${special}: replaced by the entry`);
    }
  });

  it('a folder that cannot be made is skipped: a file in its place, and /proc (where a recursive mkdir never returns)', async () => {
    const blocked = path.join(tempDir(), 'not-a-folder');
    writeFileSync(blocked, 'x');
    for (const folder of [blocked, path.join(blocked, 'below'), '/proc/self/mc-dropout-cache']) {
      const run = await loadAndPredict(TORCHSCRIPT, { cacheFolder: folder });
      assert.equal(run.cached, false, folder);
    }
    assert.equal(readFileSync(blocked, 'utf8'), 'x');
  });

  it('the CLI keeps it in $XDG_CACHE_HOME/mc-dropout, in MC_DROPOUT_CACHE, or nowhere (--no-cache, MC_DROPOUT_CACHE=off)', async () => {
    assert.deepEqual(cacheOption(true, { XDG_CACHE_HOME: '/x/cache' }), { cacheFolder: '/x/cache/mc-dropout' });
    // a relative XDG_CACHE_HOME is invalid (XDG base directory spec): the default ~/.cache
    assert.match(cacheOption(true, { XDG_CACHE_HOME: 'rel' }).cacheFolder!, /\/\.cache\/mc-dropout$/);
    assert.deepEqual(cacheOption(true, { MC_DROPOUT_CACHE: '/y', XDG_CACHE_HOME: '/x' }), { cacheFolder: '/y' });
    for (const off of ['off', 'OFF', ' Off ', '0', 'false', 'no']) assert.deepEqual(cacheOption(true, { MC_DROPOUT_CACHE: off }), {}, off);
    assert.deepEqual(cacheOption(false, { MC_DROPOUT_CACHE: '/y' }), {});
    const xdg = tempDir();
    const out = tempDir();
    const args = ['predict', 'fixtures/samples/bag-18.png', '-m', TORCHSCRIPT, '-t', '2', '--seed', '1', '-q'];
    const env = { MC_DROPOUT_CACHE: '', XDG_CACHE_HOME: xdg };
    const off = await runCli([...args, '-o', path.join(out, 'a.csv'), '--no-cache'], { env });
    assert.equal(off.code, 0, off.stderr);
    assert.deepEqual(readdirSync(xdg), []);
    const on = await runCli([...args, '-o', path.join(out, 'b.csv')], { env });
    assert.equal(on.code, 0, on.stderr);
    assert.equal(entries(path.join(xdg, 'mc-dropout')).length, 1);
    const cached = await runCli([...args, '-o', path.join(out, 'c.csv')], { env });
    assert.equal(cached.code, 0, cached.stderr);
    const rows = (name: string) =>
      readFileSync(path.join(out, name), 'utf8')
        .split('\n')
        .slice(1)
        .map((l) => l.split(',').slice(0, 6).join(','));
    assert.deepEqual(rows('c.csv'), rows('a.csv'));
  });
});
