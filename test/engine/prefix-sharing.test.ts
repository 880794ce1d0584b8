import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { buildMobileNetV2, DROP_PATH_SPELLINGS, type DropPathSpelling } from '../../bench/mobilenet.js';
import { McModel } from '../../src/engine/mc-model.js';
import { fillDraws, type DrawnSite } from '../../src/engine/draws.js';
import { levelRunEnd, type PrefixLevels } from '../../src/engine/prefix-sharing.js';
import { levelGraph, levelRowsInput } from '../../src/model/prefix-levels.js';
import { graphOf, protoOf, type OnnxGraph } from '../../src/model/graph.js';
import { DataType, type NodeProto } from '../../src/model/onnx.js';
import { ROOT } from '../helpers/cli.js';
import { tempDir, writeModel } from '../helpers/files.js';

const tensor = (name: string) => ({ name, type: { tensorType: { elemType: DataType.FLOAT } } });

describe('DropPath prefix sharing', () => {
  it('gives the passes of the plain path (stochastic depth: MobileNetV2-size, timm EfficientNet and ViT)', async () => {
    const mobilenet = writeModel(buildMobileNetV2({ dropPathRate: 0.3 }), 'droppath.onnx', tempDir());
    // the ViT's MatMuls block differently at other row counts: 1.4e-8 seen, the same as trunk reuse allows
    for (const [file, tolerance] of [
      [mobilenet, 0],
      [path.join(ROOT, 'fixtures/modern/effnet_droppath.onnx'), 0],
      [path.join(ROOT, 'fixtures/modern/vit_droppath.onnx'), 1e-6],
    ] as const) {
      const shared = await McModel.load(file, { device: 'cpu' });
      const plain = await McModel.load(file, { device: 'cpu', prefixSharing: 'off' });
      try {
        assert.ok(shared.plan.prefixSharing, `${file}: ${shared.plan.reason}`);
        assert.match(shared.plan.reason, /DropPath prefix sharing/);
        assert.ok(!plain.plan.prefixSharing);
        const images = [0, 1, 2, 3].map((k) => Float32Array.from({ length: shared.imageSize }, (_, i) => Math.sin(i * 0.013 + k)));
        for (const options of [
          { passes: 12, seed: 5 },
          { passes: 3, seed: 6, firstPass: 9 },
          { passes: 1, seed: 1, deterministic: true },
        ]) {
          const a = await shared.predict(images, options);
          const b = await plain.predict(images, options);
          let worst = 0;
          a.forEach((probs, i) =>
            probs.forEach((v, j) => {
              worst = Math.max(worst, Math.abs(v - b[i]![j]!));
            }),
          );
          assert.ok(worst <= tolerance, `${path.basename(file)} ${JSON.stringify(options)}: ${worst}`);
        }
        // runs of at most 3 groups each (rows then split within an image's passes) give the same passes
        const small = await McModel.load(file, { device: 'cpu', maxRowsPerRun: 3 });
        try {
          const options = { passes: 12, seed: 5 };
          const a = await small.predict(images, options);
          const b = await plain.predict(images, options);
          let worst = 0;
          a.forEach((probs, i) =>
            probs.forEach((v, j) => {
              worst = Math.max(worst, Math.abs(v - b[i]![j]!));
            }),
          );
          assert.ok(worst <= tolerance, `${path.basename(file)} at 3 rows a run: ${worst}`);
        } finally {
          await small.dispose();
        }
        // passes differ from each other (the drop decisions are live)
        const [first] = await shared.predict(images.slice(0, 1), { passes: 12, seed: 5 });
        assert.ok(new Set(Array.from({ length: 12 }, (_, t) => first![t * shared.info.classes]!.toFixed(7))).size > 1);
      } finally {
        await shared.dispose();
        await plain.dispose();
      }
    }
  });

  it("every spelling of stochastic depth shares prefixes and gives the plain path's passes bit for bit", async () => {
    const folder = tempDir();
    const files = [
      ...Object.keys(DROP_PATH_SPELLINGS).map((spelling) =>
        writeModel(buildMobileNetV2({ dropPathRate: 0.3, dropPathSpelling: spelling as DropPathSpelling }), `${spelling}.onnx`, folder),
      ),
      ...['depth_torch113_dropout', 'depth_torch113_bernoulli', 'depth_torchvision_dynamo'].map((name) => path.join(ROOT, `fixtures/modern/${name}.onnx`)),
    ];
    // MobileNetV2-size: 10 residual blocks, each a DropPath; the small EfficientNets: 3, torchvision's 4 (its classifier Dropout draws per element)
    const expected = [10, 10, 10, 10, 10, 10, 3, 3, 4];
    for (const [i, file] of files.entries()) {
      const shared = await McModel.load(file, { device: 'cpu' });
      const plain = await McModel.load(file, { device: 'cpu', prefixSharing: 'off' });
      try {
        const name = path.basename(file);
        assert.ok(shared.plan.prefixSharing, `${name}: ${shared.plan.reason}`);
        assert.equal(shared.plan.sharedSites.length, expected[i], name);
        const images = [0, 1].map((k) => Float32Array.from({ length: shared.imageSize }, (_, j) => Math.sin(j * 0.013 + k)));
        for (const options of [
          { passes: 10, seed: 5 },
          { passes: 1, seed: 1, deterministic: true },
        ]) {
          assert.deepEqual(await shared.predict(images, options), await plain.predict(images, options), `${name} ${JSON.stringify(options)}`);
        }
      } finally {
        await shared.dispose();
        await plain.dispose();
      }
    }
  });

  it('a run takes rows while their groups fit: all T passes of an image whose decisions repeat, one row a group otherwise', () => {
    const site = (draw: DrawnSite['draw']) => ({ draw }) as DrawnSite;
    const keys = [
      { lo: 1, hi: 2 },
      { lo: 3, hi: 4 },
    ];
    const rows = [0, 1].flatMap((image) => Array.from({ length: 10 }, (_, t) => ({ image, pass: t, index: t })));
    const levels = (decisions: PrefixLevels['decisions']) => ({ decisions }) as PrefixLevels;
    const always = { kind: 'compare' as const, op: 'Less' as const, threshold: 2, drawFirst: true };
    const uniform = { kind: 'uniform' as const, low: 0, high: 1 };
    const limits = (maxGroups: number, maxImages = Infinity) => ({ maxGroups, maxImages });
    // u < 2 always: one group per image, so one run holds an image's 10 passes at 1 group a run
    assert.equal(levelRunEnd(levels([always]), [site(uniform)], rows, 0, keys, limits(1), { seed: 1 }), 10);
    assert.equal(levelRunEnd(levels([always]), [site(uniform)], rows, 0, keys, limits(2), { seed: 1 }), 20);
    assert.equal(levelRunEnd(levels([always]), [site(uniform)], rows, 0, keys, limits(2, 1), { seed: 1 }), 10);
    assert.equal(levelRunEnd(levels([always]), [site(uniform)], rows, 10, keys, limits(1), { seed: 1 }), 20);
    // a site without a decision after it: every row its own group
    assert.equal(levelRunEnd(levels([always, undefined]), [site(uniform), site(uniform)], rows, 3, keys, limits(4), { seed: 1 }), 7);
    // u < 0.5: the groups of image 0 are its distinct decisions, counted here from the same draws
    const half = { ...always, threshold: 0.5 };
    const u = new Float32Array(1);
    const decisions = rows.slice(0, 10).map((row): number => {
      fillDraws(u, uniform, 1, keys[0]!, row.index, 0);
      return u[0]! < 0.5 ? 1 : 0;
    });
    assert.deepEqual(new Set(decisions), new Set([0, 1]), 'both decisions occur in 10 passes at seed 1');
    assert.equal(levelRunEnd(levels([half]), [site(uniform)], rows, 0, keys, limits(2), { seed: 1 }), 10);
    assert.equal(levelRunEnd(levels([half]), [site(uniform)], rows, 0, keys, limits(1), { seed: 1 }), decisions.indexOf(1 - decisions[0]!));
    // deterministic: the median 0.5 is not < 0.5, one group
    assert.equal(levelRunEnd(levels([half]), [site(uniform)], rows, 0, keys, limits(1), { seed: 1, deterministic: true }), 10);
  });

  it('levels: a tensor of an earlier level is gathered to the later one; a shape tensor crossing levels refuses', () => {
    const model = (nodes: NodeProto[]): OnnxGraph =>
      graphOf({
        irVersion: 8,
        opsetImport: [{ domain: '', version: 13 }],
        graph: { name: 'levels', node: nodes, input: [tensor('input'), tensor('s1'), tensor('s2')], output: [tensor('out')], initializer: [] },
      });
    const ok = levelGraph(
      model([
        { opType: 'Add', input: ['input', 's1'], output: ['a'] },
        { opType: 'Mul', input: ['a', 's2'], output: ['b'] },
        { opType: 'Add', input: ['b', 'input'], output: ['out'] },
      ]),
      ['s1', 's2'],
      new Set(['a', 'b']),
    );
    assert.ok('model' in ok);
    assert.equal(ok.outputLevel, 2);
    // the image goes to level 1 for s1's Add and to level 2 for the last Add; a goes from level 1 to 2
    assert.deepEqual(ok.gathers, [
      { level: 1, from: 0, input: levelRowsInput(1, 0) },
      { level: 2, from: 1, input: levelRowsInput(2, 1) },
      { level: 2, from: 0, input: levelRowsInput(2, 0) },
    ]);
    const gathers = protoOf(ok.model)
      .graph!.node!.filter((n) => n.opType === 'Gather')
      .map((n) => n.input);
    assert.deepEqual(gathers, [
      ['input', levelRowsInput(1, 0)],
      ['a', levelRowsInput(2, 1)],
      ['input', levelRowsInput(2, 0)],
    ]);
    const refused = levelGraph(
      model([
        { opType: 'Shape', input: ['input'], output: ['shape'] },
        { opType: 'Add', input: ['input', 's1'], output: ['a'] },
        { opType: 'Reshape', input: ['a', 'shape'], output: ['out'] },
      ]),
      ['s1'],
      new Set(['a']),
    );
    assert.ok('reason' in refused);
    assert.match(refused.reason, /shape is not batch-major and is read after a later stochastic site \(by Reshape/);
  });
});
