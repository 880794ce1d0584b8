/**
 * `convert a.onnx b.onnx ... --mc-graph T`: an ensemble's MC dropout in one ONNX file, run here by
 * onnxruntime-node. The members are made here from the bundled model: the model itself, a second
 * member with its last Gemm's weights perturbed (still dropout), and a copy without dropout (its
 * Dropout nodes made Identity: a plain deep-ensemble member, one pass).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import ort from 'onnxruntime-node';
import { loadImageTensor, McModel, resolvePreprocess } from '../../src/index.js';
import { decodeModel, encodeModel, type ModelProto } from '../../src/model/onnx.js';
import { ROOT, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { buildModel, floatTensor } from '../helpers/graphs.js';
import { mulberry32 } from '../helpers/random.js';

const BUNDLED = path.join(ROOT, 'models/fashion-mnist-mc.onnx');
const FILES = ['bag-18.png', 'shirt-7.png', 'coat-10.png', 'pullover-20.png', 'ankle-boot-23.png'].map((f) => path.join(ROOT, 'fixtures/samples', f));
const CLASSES = 10;
const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** The bundled model decoded, `edit`ed and written to `folder/name`. */
function variant(folder: string, name: string, edit: (model: ModelProto) => void): string {
  const model = decodeModel(readFileSync(BUNDLED));
  edit(model);
  const file = path.join(folder, name);
  writeFileSync(file, encodeModel(model));
  return file;
}

/** The last Gemm's weights [10, 256] plus 0.5 sd of noise (mulberry32(7), uniform in [-sqrt(3), sqrt(3)] sd): the same classes, other answers near the boundaries. */
const perturbed = (folder: string) =>
  variant(folder, 'perturbed.onnx', (model) => {
    const tensor = model.graph!.initializer!.find((t) => t.name === 'head.5.weight')!;
    const raw = tensor.rawData!;
    const w = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
    const sd = Math.sqrt(w.reduce((a, v) => a + v * v, 0) / w.length);
    const random = mulberry32(7);
    const noisy = Array.from(w, (v) => v + 0.5 * sd * Math.sqrt(3) * (2 * random() - 1));
    Object.assign(tensor, { rawData: new Uint8Array(Float32Array.from(noisy).buffer) });
  });

/** The bundled model with each Dropout an Identity: deterministic, a plain deep-ensemble member. */
const withoutDropout = (folder: string) =>
  variant(folder, 'no-dropout.onnx', (model) => {
    model.graph!.node = model.graph!.node!.map((n) =>
      n.opType === 'Dropout' ? { opType: 'Identity', name: n.name!, input: [n.input![0]!], output: [n.output![0]!], attribute: [] } : n,
    );
  });

/** The bundled model scoring its first 5 classes only. */
const fiveClasses = (folder: string) =>
  variant(folder, 'five.onnx', (model) => {
    const rows = (name: string, width: number) => {
      const tensor = model.graph!.initializer!.find((t) => t.name === name)!;
      const raw = tensor.rawData!;
      const all = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
      Object.assign(tensor, { rawData: new Uint8Array(all.slice(0, 5 * width).buffer), dims: width === 1 ? [5] : [5, width] });
    };
    rows('head.5.weight', 256);
    rows('head.5.bias', 1);
    model.graph!.output![0]!.type!.tensorType!.shape!.dim![1] = { dimValue: 5 };
    model.metadataProps = model.metadataProps!.filter((p) => p.key !== 'mc_dropout.labels');
  });

/** A tiny classifier of 16 x 16 images into 10 classes (the bundled model takes 32 x 32). */
function smallInput(folder: string): string {
  const file = path.join(folder, 'small.onnx');
  writeFileSync(
    file,
    buildModel({
      inputDims: ['N', 3, 16, 16],
      outputDims: ['N', CLASSES],
      nodes: [
        { opType: 'GlobalAveragePool', name: 'pool', input: ['input'], output: ['pooled'] },
        { opType: 'Flatten', name: 'flat', input: ['pooled'], output: ['flat'] },
        { opType: 'MatMul', name: 'fc', input: ['flat', 'w'], output: ['output'] },
      ],
      initializers: [
        floatTensor(
          'w',
          [3, CLASSES],
          Array.from({ length: 3 * CLASSES }, (_, k) => k / 10),
        ),
      ],
    }),
  );
  return file;
}

async function images(files = FILES): Promise<{ data: Float32Array; dims: number[] }> {
  const model = await McModel.load(BUNDLED, { device: 'cpu' });
  try {
    const spec = resolvePreprocess(model.info);
    const tensors = await Promise.all(files.map((f) => loadImageTensor(f, spec)));
    const data = new Float32Array(tensors.length * tensors[0]!.length);
    tensors.forEach((t, i) => data.set(t, i * t.length));
    return { data, dims: [tensors.length, ...model.info.inputDims.slice(1)] };
  } finally {
    await model.dispose();
  }
}

async function runGraph(file: string, input: { data: Float32Array; dims: number[] }, seed?: bigint): Promise<Record<string, number[]>> {
  const session = await ort.InferenceSession.create(file, { graphOptimizationLevel: 'all', logSeverityLevel: 3 });
  const feeds: Record<string, ort.Tensor> = { [session.inputNames[0]!]: new ort.Tensor('float32', input.data, input.dims) };
  if (seed !== undefined) feeds.seed = new ort.Tensor('int64', BigInt64Array.from([seed]), [1]);
  const out = await session.run(feeds);
  await session.release();
  return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, Array.from(t.data as ArrayLike<number | bigint>, Number)]));
}

const metadataOf = (file: string) => Object.fromEntries((decodeModel(readFileSync(file)).metadataProps ?? []).map((p) => [p.key, p.value]));

describe('convert --mc-graph with several models: an ensemble in one ONNX file', () => {
  it("one model: the file is byte-identical to the MC graph convert wrote before ensembles (SHA-256 pinned then: plain, seeded, DropPath's), also named through --members", async () => {
    // written by the code before this change (commit 4790a71); a change to the bundled model or the
    // fixtures, or to the one-model graph on purpose, changes them. All re-pinned when the margin
    // stopped using TopK (onnxruntime's TopK killed the process on an empty batch; the values are the same)
    const pinned = [
      { args: [BUNDLED, '--mc-graph', '10'], sha256: '00d5292ff9b1f1cb3f304a1b15b7682e4230d75037d84ae13861a8aa0becb641' },
      { args: [BUNDLED, '--mc-graph', '7', '--mc-graph-seed'], sha256: '93de68b79d79dedc91d6a395104d1d4f1d0e243bd235af9043beaf64925d2fd3' },
      // re-pinned when the MC graph dropped the exporter's value_info of its T x batch row tensors
      // (166 of 256 entries), then when a DropPath model's graph came to share prefixes (#38: the
      // engine's level graph with its inputs computed in the graph, no Tile; test/cli/mc-graph.e2e.test.ts
      // checks it against predict)
      {
        args: [path.join(ROOT, 'fixtures/modern/effnet_droppath.onnx'), '--mc-graph', '4'],
        sha256: '4365cc15ec3e06f905a42e6a5ada6ac21bddb5c77d4ea2e0b40d59b798d4abcd',
      },
    ];
    const folder = tempDir();
    for (const [k, { args, sha256: want }] of pinned.entries()) {
      const out = path.join(folder, `one-${k}.onnx`);
      const made = await runCli(['convert', ...args, '-o', out]);
      assert.equal(made.code, 0, made.stderr);
      assert.equal(sha256(out), want, args.join(' '));
    }
    const list = path.join(folder, 'one.txt');
    writeFileSync(list, `# the one member\n${BUNDLED}\n`);
    const listed = path.join(folder, 'listed.onnx');
    assert.equal((await runCli(['convert', '--members', list, '--mc-graph', '10', '-o', listed])).code, 0);
    assert.equal(sha256(listed), pinned[0]!.sha256);
  });

  it('three members (the bundled model, its Gemm perturbed, a copy without dropout): every output [batch] or [batch, 10], between_members + within_passes = mutual_information to float32 rounding, each member tiled at its own trunk cut; inspect says an ensemble of 3 members with T=50 and their SHA-256', async () => {
    const folder = tempDir();
    const members = [BUNDLED, perturbed(folder), withoutDropout(folder)];
    const graph = path.join(folder, 'ensemble.onnx');
    const made = await runCli(['convert', ...members, '--mc-graph', '50', '-o', graph]);
    assert.equal(made.code, 0, made.stderr);
    assert.match(
      made.stderr,
      /wrote .*ensemble\.onnx: the MC graph of an ensemble of 3 members for T=50 \(outputs mean, .*, between_members, within_passes, member_disagreement\)/,
    );
    assert.match(made.stderr, /no-dropout\.onnx: no dropout, one pass/);
    const tiles = (decodeModel(readFileSync(graph)).graph!.node ?? []).filter((node) => node.opType === 'Tile');
    assert.deepEqual(
      tiles.map((t) => t.input![0]),
      ['m0./head/head.0/Flatten_output_0', 'm1./head/head.0/Flatten_output_0'],
      'the trunk runs once per image in each drawing member; the member without dropout runs once, untiled',
    );
    const input = await images();
    const out = await runGraph(graph, input);
    const B = FILES.length;
    for (const [name, values] of Object.entries(out)) assert.equal(values.length, name === 'mean' || name === 'std' ? B * CLASSES : B, name);
    assert.deepEqual(Object.keys(out).length, 12);
    for (let i = 0; i < B; i++) {
      // float32: each part a difference of entropies of at most ln 10 = 2.3, so a few ulps of 2.3
      assert.ok(Math.abs(out.between_members![i]! + out.within_passes![i]! - out.mutual_information![i]!) < 1e-6, `image ${i}`);
      assert.ok(out.between_members![i]! > 0, 'the members disagree somewhat on every image');
      assert.ok(
        [0, 1 / 3, 2 / 3].some((v) => Math.abs(out.member_disagreement![i]! - v) < 1e-6),
        String(out.member_disagreement![i]),
      );
      const sum = out.mean!.slice(i * CLASSES, (i + 1) * CLASSES).reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(sum - 1) < 1e-5);
    }
    const meta = metadataOf(graph);
    assert.deepEqual(
      JSON.parse(meta['mc_dropout.mc_graph_members']),
      members.map((file, k) => ({ file: path.basename(file), sha256: sha256(file), passes: k === 2 ? 1 : 50 })),
    );
    assert.equal(meta['mc_dropout.dropout_rates'], undefined, "one member's rates do not describe the ensemble");
    assert.equal(meta['mc_dropout.input_size'], '32x32', 'the shared preprocessing stays');
    const inspected = await runCli(['inspect', graph]);
    assert.equal(inspected.code, 1, inspected.stderr);
    assert.match(inspected.stdout, /^MC graph: an ensemble of 3 members, 50 passes inside each \(1 for a member without dropout\), statistics out/m);
    assert.match(inspected.stdout, new RegExp(`^  member 2: no-dropout\\.onnx \\(1 pass\\) sha256 ${sha256(members[2]!)}$`, 'm'));
    assert.match(inspected.stdout, /is an MC graph of an ensemble of 3 members \(T=50\)/);
    const json = JSON.parse((await runCli(['inspect', graph, '--json'])).stdout);
    assert.deepEqual([json.mc_graph.passes, json.mc_graph.members, json.mc_graph.member_files.length], [50, 3, 3]);
    // what reads models refuses it, as it refuses one model's MC graph
    const predicted = await runCli(['predict', FILES[0]!, '-m', graph, '-t', '5', '-o', path.join(folder, 'p.csv')]);
    assert.equal(predicted.code, 3, predicted.stderr);
    assert.match(predicted.stderr, /is an MC graph of an ensemble of 3 members \(T=50\): it runs its passes itself/);
    const again = await runCli(['convert', graph, BUNDLED, '--mc-graph', '5', '-o', path.join(folder, 'again.onnx')]);
    assert.equal(again.code, 3, again.stderr);
    assert.match(again.stderr, /ensemble\.onnx is already an MC graph of an ensemble of 3 members \(T=50\)/);
  });

  it('--mc-graph-seed: the first member draws what its own seeded MC graph draws, so with a member without dropout the mean is (its MC mean + the copy softmax) / 2 to 1e-6; the same seed repeats the outputs', async () => {
    const folder = tempDir();
    const copy = withoutDropout(folder);
    const ensemble = path.join(folder, 'ensemble.onnx');
    const single = path.join(folder, 'single.onnx');
    assert.equal((await runCli(['convert', BUNDLED, copy, '--mc-graph', '20', '--mc-graph-seed', '-o', ensemble])).code, 0);
    assert.equal((await runCli(['convert', BUNDLED, '--mc-graph', '20', '--mc-graph-seed', '-o', single])).code, 0);
    const input = await images();
    const out = await runGraph(ensemble, input, 4242n);
    const own = await runGraph(single, input, 4242n);
    const session = await ort.InferenceSession.create(copy, { logSeverityLevel: 3 });
    const logits = (await session.run({ input: new ort.Tensor('float32', input.data, input.dims) })).logits!.data as Float32Array;
    await session.release();
    FILES.forEach((_, i) => {
      const row = Array.from(logits.slice(i * CLASSES, (i + 1) * CLASSES));
      const top = Math.max(...row);
      const e = row.map((v) => Math.exp(v - top));
      const softmax = e.map((v) => v / e.reduce((a, b) => a + b, 0));
      for (let c = 0; c < CLASSES; c++) {
        const want = (own.mean![i * CLASSES + c]! + softmax[c]!) / 2;
        assert.ok(Math.abs(out.mean![i * CLASSES + c]! - want) < 1e-6, `image ${i} class ${c}: ${out.mean![i * CLASSES + c]} vs ${want}`);
      }
    });
    assert.deepEqual(await runGraph(ensemble, input, 4242n), out);
  });

  it("two drawing members at T=2,000 (seeded): the ensemble's mean within 5 standard errors of the mean of the two single-member graphs' means", async () => {
    // the difference of two independent MC estimates of (P_a + P_b) / 2 has sd sqrt((s_a^2 + s_b^2) 2 / T) / 2,
    // s_m the per-pass sd of member m's class probability (each single graph's std output): 5 of those
    // (about 1 in 1.7 million per check if normal) plus 1e-6 for the float32 means of 2,000 values. The
    // bound counts both members' errors; the first member's passes are in fact the same as its own graph's
    const folder = tempDir();
    const b = perturbed(folder);
    const T = 2000;
    const convert = async (members: string[], name: string) => {
      const file = path.join(folder, name);
      const made = await runCli(['convert', ...members, '--mc-graph', String(T), '--mc-graph-seed', '-o', file]);
      assert.equal(made.code, 0, made.stderr);
      return file;
    };
    const input = await images();
    const [pair, alone, other] = await Promise.all([
      runGraph(await convert([BUNDLED, b], 'pair.onnx'), input, 77n),
      runGraph(await convert([BUNDLED], 'a.onnx'), input, 77n),
      runGraph(await convert([b], 'b.onnx'), input, 77n),
    ]);
    let worst = 0;
    for (let k = 0; k < FILES.length * CLASSES; k++) {
      const want = (alone.mean![k]! + other.mean![k]!) / 2;
      const se = Math.sqrt(((alone.std![k]! ** 2 + other.std![k]! ** 2) * 2) / T) / 2;
      assert.ok(Math.abs(pair.mean![k]! - want) <= 5 * se + 1e-6, `${k}: ${pair.mean![k]} vs ${want} (5 SE = ${5 * se})`);
      if (se > 0) worst = Math.max(worst, Math.abs(pair.mean![k]! - want) / se);
    }
    console.log(`# worst mean ${worst.toFixed(2)} SE from the singles' average`);
  });

  it("a member whose weights lie in an external file in another folder (timm's DropPath, opset 20) beside one from a temporary folder: the graph holds both members' weights, loads and runs seeded", async () => {
    const folder = tempDir();
    const droppath = path.join(ROOT, 'fixtures/modern/effnet_droppath.onnx');
    const injected = path.join(folder, 'injected.onnx');
    assert.equal((await runCli(['convert', droppath, '--inject-rate', '0.2', '-o', injected])).code, 0);
    const graph = path.join(folder, 'ensemble.onnx');
    const made = await runCli(['convert', injected, droppath, '--mc-graph', '8', '--mc-graph-seed', '-o', graph]);
    assert.equal(made.code, 0, made.stderr);
    assert.equal(existsSync(`${graph}.data`), false, 'small enough to embed');
    const input = { data: Float32Array.from({ length: 2 * 3 * 64 * 64 }, (_, k) => Math.sin(k)), dims: [2, 3, 64, 64] };
    const out = await runGraph(graph, input, 5n);
    const classes = out.mean!.length / 2;
    assert.equal(classes, 5);
    for (let i = 0; i < 2; i++) {
      assert.ok(Math.abs(out.mean!.slice(i * classes, (i + 1) * classes).reduce((a, b) => a + b, 0) - 1) < 1e-5);
      assert.ok(Math.abs(out.between_members![i]! + out.within_passes![i]! - out.mutual_information![i]!) < 1e-6);
    }
    assert.deepEqual(await runGraph(graph, input, 5n), out);
  });

  it('refuses, before writing anything: other class counts and other input sizes (exit 3, naming both members and what differs), other preprocessing, several models without --mc-graph (exit 2)', async () => {
    const folder = tempDir();
    const out = path.join(folder, 'out.onnx');
    const cases: { args: string[]; code: number; message: RegExp }[] = [
      {
        args: [BUNDLED, fiveClasses(folder), '--mc-graph', '5'],
        code: 3,
        message: /five\.onnx scores 5 classes \(logits\) and .*fashion-mnist-mc\.onnx 10 \(logits\): an ensemble's members must score the same classes/,
      },
      {
        args: [BUNDLED, smallInput(folder), '--mc-graph', '5'],
        code: 3,
        message: /fashion-mnist-mc\.onnx and .*small\.onnx take different inputs \(input \[batch, 3, 32, 32\] against input \[N, 3, 16, 16\]\)/,
      },
      {
        args: [
          BUNDLED,
          variant(folder, 'other-mean.onnx', (m) => (m.metadataProps!.find((p) => p.key === 'mc_dropout.mean')!.value = '[0.5, 0.5, 0.5]')),
          '--mc-graph',
          '5',
        ],
        code: 3,
        message:
          /record different preprocessing: mc_dropout\.mean is \[0\.485,0\.456,0\.406\] in .*fashion-mnist-mc\.onnx and \[0\.5,0\.5,0\.5\] in .*other-mean\.onnx/,
      },
      {
        args: [BUNDLED, perturbed(folder)],
        code: 2,
        message: /2 models make an ensemble, which only the MC graph holds: give --mc-graph T to write them as one graph, or convert each model alone/,
      },
    ];
    for (const { args, code, message } of cases) {
      const result = await runCli(['convert', ...args, '-o', out]);
      assert.equal(result.code, code, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, message);
      assert.equal(existsSync(out), false);
    }
  });

  it('hostile: the same model twice (two spellings, or a copy) exit 2; the output one of the members or the members file exit 2, each left as it was; a missing or empty members file exit 2; an MC graph as a member exit 3', async () => {
    const folder = tempDir();
    const copy = path.join(folder, 'copy.onnx');
    copyFileSync(BUNDLED, copy);
    const b = perturbed(folder);
    const list = path.join(folder, 'members.txt');
    writeFileSync(list, `${b}\r\n`);
    const empty = path.join(folder, 'empty.txt');
    writeFileSync(empty, '# nobody\n');
    const single = path.join(folder, 'single.onnx');
    assert.equal((await runCli(['convert', BUNDLED, '--mc-graph', '3', '-o', single])).code, 0);
    const out = path.join(folder, 'out.onnx');
    const before = [copy, b, list].map(sha256);
    const cases: { args: string[]; code: number; message: RegExp; output?: string }[] = [
      {
        args: [BUNDLED, 'models/fashion-mnist-mc.onnx', '--mc-graph', '5'],
        code: 2,
        message: /fashion-mnist-mc\.onnx and .*fashion-mnist-mc\.onnx are the same model \(sha256 [0-9a-f]{12}\.\.\.\): an ensemble's members must differ/,
      },
      { args: [BUNDLED, b, copy, '--mc-graph', '5'], code: 2, message: /fashion-mnist-mc\.onnx and .*copy\.onnx are the same model/ },
      { args: [copy, b, '--mc-graph', '5'], code: 2, message: /copy\.onnx is a member of the ensemble and also the converted model/, output: copy },
      { args: [copy, '--members', list, '--mc-graph', '5'], code: 2, message: /members\.txt is the members file and also the converted model/, output: list },
      { args: [copy, '--members', path.join(folder, 'nope.txt'), '--mc-graph', '5'], code: 2, message: /nope\.txt/ },
      { args: ['--members', empty, '--mc-graph', '5'], code: 2, message: /No model to convert: name one; the members file .*empty\.txt lists none/ },
      {
        args: [single, b, '--mc-graph', '5'],
        code: 3,
        message: /single\.onnx is already an MC graph \(T=3\): its passes and statistics are inside, so it cannot be a member/,
      },
    ];
    for (const { args, code, message, output = out } of cases) {
      const result = await runCli(['convert', ...args, '-o', output]);
      assert.equal(result.code, code, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, message);
      if (output === out) assert.equal(existsSync(out), false);
    }
    assert.deepEqual([copy, b, list].map(sha256), before);
    // the members file (CRLF) gives what the same members named on the command line give
    const named = path.join(folder, 'named.onnx');
    const listed = path.join(folder, 'listed.onnx');
    assert.equal((await runCli(['convert', BUNDLED, b, '--mc-graph', '4', '-o', named])).code, 0);
    assert.equal((await runCli(['convert', BUNDLED, '--members', list, '--mc-graph', '4', '-o', listed])).code, 0);
    assert.equal(sha256(listed), sha256(named));
  });
});
