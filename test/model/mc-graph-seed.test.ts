/**
 * The seeded MC graph's random numbers are exactly seededUniform's: a tiny "classifier" whose class
 * scores are a RandomUniformLike of its input, so the graph's mean is the mean softmax of the hashed
 * numbers, recomputed here in float64 from seededUniform (to float32 rounding: 1e-6).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import ort from 'onnxruntime-node';
import { UsageError } from '../../src/errors.js';
import { mcGraph, mix32, seededUniform } from '../../src/model/mc-graph.js';
import { buildModel, decodeGraph } from '../helpers/graphs.js';

const C = 4;
const uniformScores = (op = 'RandomUniformLike') =>
  decodeGraph(
    buildModel({
      nodes: [{ opType: op, name: 'random', input: ['input'], output: ['output'], attribute: [{ name: 'dtype', type: 2, i: 1 }] }],
      inputDims: ['N', C],
      outputDims: ['N', C],
    }),
  );

describe('mcGraph seedInput: random numbers from the seed input', () => {
  it('mix32 is a bijection step on 32-bit values (distinct outputs for 65,536 inputs) and stays below 2^32', () => {
    const seen = new Set<bigint>();
    for (let x = 0n; x < 65536n; x++) seen.add(mix32(x * 65537n));
    assert.equal(seen.size, 65536);
    assert.ok([...seen].every((v) => v >= 0n && v < 2n ** 32n));
  });

  it("the graph's numbers are seededUniform(seed, op, element): mean softmax over T=3 passes of 2 rows equal to 1e-6; seed 2^32 + 5 acts as 5", async () => {
    const T = 3;
    const B = 2;
    const graph = mcGraph(uniformScores(), T, { seedInput: true }).encode();
    const session = await ort.InferenceSession.create(graph);
    assert.deepEqual(session.inputNames, ['input', 'seed']);
    const run = async (seed: bigint) =>
      (
        await session.run({
          input: new ort.Tensor('float32', new Float32Array(B * C), [B, C]),
          seed: new ort.Tensor('int64', BigInt64Array.from([seed]), [1]),
        })
      ).mean!.data as Float32Array;
    const five = await run(5n);
    assert.deepEqual(await run(2n ** 32n + 5n), five);
    for (let i = 0; i < B; i++) {
      for (let c = 0; c < C; c++) {
        let mean = 0;
        for (let t = 0; t < T; t++) {
          const row = t * B + i; // pass-major rows
          const u = Array.from({ length: C }, (_, k) => seededUniform(5n, 0, row * C + k));
          const sum = u.reduce((a, v) => a + Math.exp(v), 0);
          mean += Math.exp(u[c]!) / sum / T;
        }
        assert.ok(Math.abs(five[i * C + c]! - mean) < 1e-6, `${i} ${c}: ${five[i * C + c]} vs ${mean}`);
      }
    }
    assert.notDeepEqual(await run(6n), five);
    await session.release();
  });

  it('refuses a model with a random op the seed cannot drive (RandomNormalLike), naming it and mcGraphSeed', () => {
    assert.throws(
      () => mcGraph(uniformScores('RandomNormalLike'), 3, { seedInput: true }),
      (e: unknown) =>
        e instanceof UsageError &&
        /drives float32 RandomUniformLike only, and the model also draws with RandomNormalLike random; leave out `mcGraphSeed`/.test(e.message),
    );
  });
});
