/**
 * An ensemble's MC graph on tiny members built here, so every pass is known: a member whose class
 * scores are a RandomUniformLike of its input (times a scale) draws, with the seed input, exactly
 * seededUniform's numbers (member m's op 0 is op m x 2^20), and a member that adds a bias to its
 * input is deterministic (one pass). The graph's statistics are checked against decomposeUncertainty
 * (src/ensemble/decomposition.ts) on the same passes, in float64, to float32 rounding (1e-6; 2e-6
 * for entropies, sums of 3 terms with a float32 Log).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import ort from 'onnxruntime-node';
import { decomposeUncertainty } from '../../src/ensemble/decomposition.js';
import { InternalError, ModelError, UsageError } from '../../src/errors.js';
import { MC_ENSEMBLE_OUTPUTS, mcEnsembleGraph, type EnsembleMember } from '../../src/model/mc-ensemble-graph.js';
import { describeMcGraph, mcGraphOf, seededUniform } from '../../src/model/mc-graph.js';
import { decodeModel, encodeModel } from '../../src/model/onnx.js';
import { buildModel, decodeGraph, floatTensor, scalarFloat } from '../helpers/graphs.js';

const C = 3;

/** Scores = scale x RandomUniformLike(input): softmax(scale x u) per pass. */
function randomMember(scale: number, metadata: Record<string, string> = {}): Uint8Array {
  return buildModel({
    inputDims: ['N', C],
    outputDims: ['N', C],
    nodes: [
      { opType: 'RandomUniformLike', name: 'random', input: ['input'], output: ['u'], attribute: [{ name: 'dtype', type: 2, i: 1 }] },
      { opType: 'Mul', name: 'scale', input: ['u', 'scale'], output: ['output'] },
    ],
    initializers: [scalarFloat('scale', scale)],
    metadata,
  });
}

/** Scores = input + bias: deterministic, one pass. */
function biasMember(bias: number[], options: { classes?: number; inputDims?: (number | string)[]; metadata?: Record<string, string> } = {}): Uint8Array {
  const classes = options.classes ?? C;
  return buildModel({
    inputDims: options.inputDims ?? ['N', classes],
    outputDims: ['N', classes],
    nodes: [{ opType: 'Add', name: 'bias', input: ['input', 'bias'], output: ['output'] }],
    initializers: [floatTensor('bias', [classes], bias)],
    ...(options.metadata && { metadata: options.metadata }),
  });
}

const member = (bytes: Uint8Array, file: string): EnsembleMember => ({ file, sha256: file.repeat(4), graph: decodeGraph(bytes) });
const softmax = (x: number[]) => {
  const e = x.map((v) => Math.exp(v - Math.max(...x)));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};

async function run(bytes: Uint8Array, input: number[][], seed?: bigint): Promise<Record<string, number[]>> {
  const session = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3 });
  const feeds: Record<string, ort.Tensor> = { input: new ort.Tensor('float32', Float32Array.from(input.flat()), [input.length, C]) };
  if (seed !== undefined) feeds.seed = new ort.Tensor('int64', BigInt64Array.from([seed]), [1]);
  const out = await session.run(feeds);
  await session.release();
  return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, Array.from(t.data as ArrayLike<number | bigint>, Number)]));
}

describe('mcEnsembleGraph: the MC graph of an ensemble', () => {
  it('seeded: every output equals decomposeUncertainty (and the weighted std and votes) on the same passes, for two drawing members and a deterministic one, T=4, 3 images', async () => {
    const T = 4;
    const B = 3;
    const seed = 99n;
    const scales = [1, 6];
    const bias = [0.5, 0, -0.5];
    const graph = mcEnsembleGraph(
      [member(randomMember(scales[0]!), 'a.onnx'), member(randomMember(scales[1]!), 'b.onnx'), member(biasMember(bias), 'c.onnx')],
      T,
      {
        seedInput: true,
      },
    );
    const input = [
      [0.1, 0.2, 0.3],
      [1, 0, 0],
      [0, 0, 2],
    ];
    const out = await run(graph.encode(), input, seed);
    assert.deepEqual(Object.keys(out).sort(), [...MC_ENSEMBLE_OUTPUTS].sort());
    for (let i = 0; i < B; i++) {
      // member m, pass t of image i is row t * B + i; its numbers are op m x 2^20's
      const passes = scales.map((scale, m) =>
        Array.from({ length: T }, (_, t) => softmax(Array.from({ length: C }, (_, k) => scale * seededUniform(seed, m * 2 ** 20, (t * B + i) * C + k)))),
      );
      passes.push([softmax(input[i]!.map((v, k) => v + bias[k]!))]);
      const parts = decomposeUncertainty(
        passes.map((p) => [p.flat()]),
        C,
      );
      const near = (name: string, got: number, want: number, tolerance = 1e-6) =>
        assert.ok(Math.abs(got - want) <= tolerance, `${name}[${i}]: ${got} vs ${want}`);
      for (let c = 0; c < C; c++) {
        near(`mean ${c}`, out.mean![i * C + c]!, parts.mean[c]!);
        // every pass weighted 1 / (M T_m)
        const variance = passes.reduce((a, p) => a + p.reduce((b, q) => b + (q[c]! - parts.mean[c]!) ** 2, 0) / p.length, 0) / passes.length;
        near(`std ${c}`, out.std![i * C + c]!, Math.sqrt(variance));
      }
      near('entropy', out.entropy![i]!, parts.totalEntropy, 2e-6);
      near('expected_entropy', out.expected_entropy![i]!, parts.expectedEntropy, 2e-6);
      near('mutual_information', out.mutual_information![i]!, Math.max(0, parts.mutualInformation), 2e-6);
      near('between_members', out.between_members![i]!, Math.max(0, parts.betweenMembers), 2e-6);
      near('within_passes', out.within_passes![i]!, Math.max(0, parts.withinPasses), 2e-6);
      // a share of members in float32 (2/3 is 0.6666667)
      near('member_disagreement', out.member_disagreement![i]!, parts.memberDisagreement, 1e-7);
      const shares = Array.from(
        { length: C },
        (_, c) => passes.reduce((a, p) => a + p.filter((q) => q.indexOf(Math.max(...q)) === c).length / p.length, 0) / 3,
      );
      near('variation_ratio', out.variation_ratio![i]!, 1 - Math.max(...shares));
      const sorted = [...parts.mean].sort((a, b) => b - a);
      assert.equal(out.label![i], parts.mean.indexOf(sorted[0]!));
      near('confidence', out.confidence![i]!, sorted[0]!);
      near('margin', out.margin![i]!, sorted[0]! - sorted[1]!);
      // the parts telescope: between + within = mutual information, in the graph's float32 too
      near('between + within', out.between_members![i]! + out.within_passes![i]!, out.mutual_information![i]!);
    }
    // the same seed repeats every output; another seed draws other passes
    assert.deepEqual(await run(graph.encode(), input, seed), out);
    assert.notDeepEqual((await run(graph.encode(), input, seed + 1n)).mean, out.mean);
  });

  it('member_disagreement on deterministic members: 0.5 where one of two differs, 1/3 where one of three does, 0 where all agree', async () => {
    const input = [
      [2, 0, 0],
      [0, 0, 0.1],
    ];
    // row 0: a says class 0 (p 0.79), b class 2 (p 0.71); their mean says 0 (0.52 against 0.41)
    const two = mcEnsembleGraph([member(biasMember([0, 0, 0]), 'a.onnx'), member(biasMember([0, 0, 3]), 'b.onnx')], 2);
    const pair = await run(two.encode(), input);
    assert.deepEqual(pair.member_disagreement, [0.5, 0]);
    assert.deepEqual(pair.label, [0, 2]);
    // a third member on b's side moves the mean to class 2: now a is the one that differs
    const three = mcEnsembleGraph(
      [member(biasMember([0, 0, 0]), 'a.onnx'), member(biasMember([0, 0, 3]), 'b.onnx'), member(biasMember([0, 0, 3.5]), 'c.onnx')],
      2,
    );
    const trio = await run(three.encode(), input);
    assert.deepEqual(trio.label, [2, 2]);
    assert.ok(Math.abs(trio.member_disagreement![0]! - 1 / 3) < 1e-7, String(trio.member_disagreement![0]));
    assert.equal(trio.member_disagreement![1], 0);
    // one pass per member: nothing within, the mutual information is all between members
    assert.deepEqual(trio.within_passes, [0, 0]);
    assert.ok(trio.between_members!.every((v, i) => Math.abs(v - trio.mutual_information![i]!) < 1e-6));
    assert.deepEqual(
      trio.variation_ratio!.map((v) => Math.round(v * 1e6) / 1e6),
      [Math.round((1 / 3) * 1e6) / 1e6, 0],
    );
  });

  it('names every member under its own prefix (the same tensor names in two members do not clash), records the members, and mcGraphOf finds an ensemble of N', () => {
    const graph = mcEnsembleGraph([member(randomMember(1), 'dir/a.onnx'), member(biasMember([0, 0, 1]), 'b.onnx')], 5, { seed: 3 });
    const model = decodeModel(graph.encode());
    const produced = [...(model.graph!.node ?? []).flatMap((n) => n.output ?? []), ...(model.graph!.initializer ?? []).map((t) => t.name)];
    assert.equal(new Set(produced).size, produced.length, 'every tensor is produced once');
    assert.ok(produced.includes('m0.scale') && produced.includes('m1.bias') && produced.includes('m0.output') && produced.includes('m1.output'));
    assert.deepEqual(
      (model.graph!.input ?? []).map((i) => i.name),
      ['input'],
    );
    const meta = Object.fromEntries((model.metadataProps ?? []).map((p) => [p.key, p.value]));
    assert.deepEqual(JSON.parse(meta['mc_dropout.mc_graph_members']), [
      { file: 'a.onnx', sha256: 'dir/a.onnxdir/a.onnxdir/a.onnxdir/a.onnx', passes: 5 },
      { file: 'b.onnx', sha256: 'b.onnxb.onnxb.onnxb.onnx', passes: 1 },
    ]);
    assert.deepEqual(JSON.parse(meta['mc_dropout.mc_graph_outputs']), [...MC_ENSEMBLE_OUTPUTS]);
    const found = mcGraphOf(graph)!;
    assert.equal(describeMcGraph(found), 'an MC graph of an ensemble of 2 members (T=5)');
    // with the metadata edited away: the member count from the nodes' names, T from the Tile's repeats
    model.metadataProps = [];
    const bare = mcGraphOf(decodeGraph(encodeModel(model)))!;
    assert.deepEqual([bare.members, bare.passes, bare.recorded], [2, 5, undefined]);
  });

  it('without the seed input, the second member of two alike draws with other seed attributes than the first', () => {
    const graph = mcEnsembleGraph([member(randomMember(1), 'a.onnx'), member(randomMember(1), 'b.onnx')], 3, { seed: 0 });
    const seeds = (decodeModel(graph.encode()).graph!.node ?? [])
      .filter((n) => n.opType === 'RandomUniformLike')
      .map((n) => n.attribute!.find((a) => a.name === 'seed')?.f);
    // the tiny member has no seed attribute: ops without one draw from onnxruntime's own seed each; give them one
    assert.deepEqual(seeds, [undefined, undefined]);
    const seeded = (scale: number) => {
      const bytes = decodeModel(randomMember(scale));
      bytes.graph!.node![0]!.attribute!.push({ name: 'seed', type: 1, f: 7 });
      return encodeModel(bytes);
    };
    const again = mcEnsembleGraph([member(seeded(1), 'a.onnx'), member(seeded(1), 'b.onnx')], 3, { seed: 0 });
    const [first, second] = (decodeModel(again.encode()).graph!.node ?? [])
      .filter((n) => n.opType === 'RandomUniformLike')
      .map((n) => n.attribute!.find((a) => a.name === 'seed')?.f);
    assert.equal(first, 7, 'the first member keeps its seed');
    assert.ok(typeof second === 'number' && second !== 7 && Number.isInteger(second) && second >= 1 && second < 2 ** 24, String(second));
  });

  it('refuses members that score other classes, take other input sizes or record other preprocessing (ModelError naming both), one member (InternalError) and an MC graph', () => {
    const a = () => member(biasMember([0, 0, 0]), 'a.onnx');
    assert.throws(
      () => mcEnsembleGraph([a(), member(biasMember([0, 0, 0, 0], { classes: 4 }), 'four.onnx')], 3),
      (e: unknown) =>
        e instanceof ModelError &&
        /^four\.onnx scores 4 classes \(output\) and a\.onnx 3 \(output\): an ensemble's members must score the same classes/.test(e.message),
    );
    const image = (size: number | string, metadata?: Record<string, string>) =>
      buildModel({
        inputDims: ['N', 1, size, size],
        outputDims: ['N', C],
        nodes: [
          { opType: 'ReduceMean', name: 'pool', input: ['input'], output: ['pooled'], attribute: [{ name: 'axes', type: 7, ints: [2, 3] }] },
          { opType: 'Flatten', name: 'flat', input: ['pooled'], output: ['flat'] },
          { opType: 'MatMul', name: 'fc', input: ['flat', 'w'], output: ['output'] },
        ],
        initializers: [floatTensor('w', [1, C], [1, 2, 3])],
        ...(metadata && { metadata }),
      });
    assert.throws(
      () => mcEnsembleGraph([member(image(8), 'small.onnx'), member(image(16), 'large.onnx')], 3),
      (e: unknown) =>
        e instanceof ModelError &&
        /^small\.onnx and large\.onnx take different inputs \(input \[N, 1, 8, 8\] against input \[N, 1, 16, 16\]\): .* must take the same size/.test(
          e.message,
        ),
    );
    const mean = (m: string) => ({ 'mc_dropout.mean': m });
    assert.throws(
      () => mcEnsembleGraph([member(image(8, mean('[0.5,0.5,0.5]')), 'x.onnx'), member(image(8, mean('[0.4,0.5,0.5]')), 'y.onnx')], 3),
      (e: unknown) =>
        e instanceof ModelError &&
        /^x\.onnx and y\.onnx record different preprocessing: mc_dropout\.mean is \[0\.5,0\.5,0\.5\] in x\.onnx and \[0\.4,0\.5,0\.5\] in y\.onnx/.test(
          e.message,
        ),
    );
    assert.throws(
      () => mcEnsembleGraph([member(image(8, mean('[0.5,0.5,0.5]')), 'x.onnx'), member(image(8), 'z.onnx')], 3),
      (e: unknown) => e instanceof ModelError && /mc_dropout\.mean is \[0\.5,0\.5,0\.5\] in x\.onnx and absent \(the default\) in z\.onnx/.test(e.message),
    );
    // a dynamic size against a fixed one is no difference: the shared input takes the fixed size
    const dynamic = decodeModel(mcEnsembleGraph([member(image('S'), 'dynamic.onnx'), member(image(8), 'fixed.onnx')], 3).encode());
    assert.deepEqual(
      dynamic.graph!.input![0]!.type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue)),
      ['N', 1, 8, 8],
    );
    assert.throws(() => mcEnsembleGraph([a()], 3), InternalError);
    const graph = mcEnsembleGraph([a(), member(biasMember([0, 1, 0]), 'b.onnx')], 3);
    assert.throws(
      () => mcEnsembleGraph([member(graph.encode(), 'ensemble.onnx'), a()], 3),
      (e: unknown) => e instanceof ModelError && /^ensemble\.onnx is already an MC graph of an ensemble of 2 members \(T=3\)/.test(e.message),
    );
    assert.throws(
      () => mcEnsembleGraph([a(), member(biasMember([0, 1, 0]), 'b.onnx')], 3, { output: 'nope' }),
      (e: unknown) => e instanceof UsageError && /^a\.onnx: .*has no output named 'nope'/.test(e.message),
    );
  });
});
