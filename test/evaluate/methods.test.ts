/** MethodsAccumulator: which rows each method reads, checked on hand-made outputs whose metrics are known exactly. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MethodsAccumulator, type MemberOutputs } from '../../src/evaluate/methods.js';

/** A member whose dropout-off output and (one-view) MC passes are given. */
const member = (deterministic: number[], passes: number[], tta?: { deterministic: number[]; passes: number[] }): MemberOutputs => ({
  deterministic: [Float64Array.from(deterministic), ...(tta ? [Float64Array.from(tta.deterministic)] : [])],
  passes: [Float64Array.from(passes), ...(tta ? [Float64Array.from(tta.passes)] : [])],
});

describe('MethodsAccumulator', () => {
  it('names a row per member (dropout off, and MC where it has dropout) in the order given, then the ensemble', () => {
    const acc = new MethodsAccumulator(
      2,
      [
        { name: 'b.onnx', stochastic: false },
        { name: 'a.onnx', stochastic: true },
      ],
      [1, 0],
      1,
      2,
    );
    acc.add([member([0.9, 0.1], [0.9, 0.1]), member([0.6, 0.4], [0.8, 0.2, 0.2, 0.8])], 0);
    const rows = acc.finish();
    assert.deepEqual(
      rows.map((r) => r.name),
      ['a.onnx, dropout off', 'a.onnx, MC dropout', 'b.onnx, dropout off', 'ensemble, dropout off', 'ensemble, MC dropout'],
    );
    const nll = Object.fromEntries(rows.map((r) => [r.name, r.metrics.nll]));
    const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} vs ${b}`);
    close(nll['a.onnx, dropout off']!, -Math.log(0.6));
    // a's MC mean: (0.8 + 0.2) / 2 = 0.5
    close(nll['a.onnx, MC dropout']!, -Math.log(0.5));
    close(nll['b.onnx, dropout off']!, -Math.log(0.9));
    // ensemble off: (0.9 + 0.6) / 2; MC: b's one pass counts for both of a's: (0.9 + 0.5) / 2
    close(nll['ensemble, dropout off']!, -Math.log(0.75));
    close(nll['ensemble, MC dropout']!, -Math.log(0.7));
    assert.deepEqual(
      rows.map((r) => r.samples),
      [1, 2, 1, 2, 4],
    );
    assert.equal(rows[0]!.member, 'a.onnx');
    assert.equal(rows[3]!.member, null);
  });

  it('with views, the TTA rows average every view; the rows without TTA read the first view only', () => {
    const acc = new MethodsAccumulator(2, [{ name: 'only.onnx', stochastic: true }], [0], 2, 1);
    acc.add([member([0.8, 0.2], [0.7, 0.3], { deterministic: [0.4, 0.6], passes: [0.5, 0.5] })], 0);
    const rows = acc.finish();
    assert.deepEqual(
      rows.map((r) => [r.name, r.tta, r.dropout]),
      [
        ['only.onnx, dropout off', false, false],
        ['only.onnx, MC dropout', false, true],
        ['only.onnx, dropout off + TTA', true, false],
        ['only.onnx, MC dropout + TTA', true, true],
      ],
    );
    assert.deepEqual(
      rows.map((r) => r.samples),
      [1, 1, 2, 2],
    );
    const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} vs ${b}`);
    close(rows[0]!.metrics.nll, -Math.log(0.8));
    close(rows[1]!.metrics.nll, -Math.log(0.7));
    close(rows[2]!.metrics.nll, -Math.log(0.6));
    close(rows[3]!.metrics.nll, -Math.log(0.6));
  });
});
