import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PassReducer } from '../../src/segmentation/reduce.js';

const close = (actual: number, expected: number, what: string) => assert.ok(Math.abs(actual - expected) < 1e-6, `${what}: ${actual} vs ${expected}`);

describe('PassReducer', () => {
  it('averages the softmax of logit maps pass by pass, with entropy and mutual information per pixel (two pixels, two passes, by hand)', () => {
    // pixel 0: pass 1 logits (0, ln 3) -> (1/4, 3/4); pass 2 (ln 3, 0) -> (3/4, 1/4): mean (1/2, 1/2)
    // pixel 1: both passes (0, 0) -> (1/2, 1/2)
    const reducer = new PassReducer(2, 1, 2, { layout: 'NCHW', probabilities: false, binary: false });
    reducer.add(Float32Array.of(0, 0, Math.log(3), 0)); // class 0 plane, then class 1 plane
    reducer.add(Float32Array.of(Math.log(3), 0, 0, 0));
    const maps = reducer.maps();
    assert.equal(maps.passes, 2);
    for (const [i, v] of [0.5, 0.5, 0.5, 0.5].entries()) close(maps.meanProbs[i]!, v, `mean ${i}`);
    assert.deepEqual([...maps.label], [0, 0]); // ties go to the lowest class
    close(maps.entropy[0]!, Math.log(2), 'entropy 0');
    // expected entropy at pixel 0: H(1/4, 3/4) = -(1/4 ln 1/4 + 3/4 ln 3/4)
    const h = -(0.25 * Math.log(0.25) + 0.75 * Math.log(0.75));
    close(maps.mutualInformation[0]!, Math.log(2) - h, 'MI 0');
    close(maps.mutualInformation[1]!, 0, 'MI 1');
    close(maps.confidence[0]!, 0.5, 'confidence');
  });

  it('reads an NHWC row (classes last) as the same maps as its NCHW transpose', () => {
    const nchw = Float32Array.of(1, -2, 0.5, 3, 0, 0, 2, -1, -1, 4, 0, 2); // [3 classes, 2 x 2]
    const nhwc = new Float32Array(12);
    for (let c = 0; c < 3; c++) for (let p = 0; p < 4; p++) nhwc[p * 3 + c] = nchw[c * 4 + p]!;
    const a = new PassReducer(3, 2, 2, { layout: 'NCHW', probabilities: false, binary: false });
    const b = new PassReducer(3, 2, 2, { layout: 'NHWC', probabilities: false, binary: false });
    a.add(nchw);
    b.add(nhwc);
    assert.deepEqual(b.maps(), a.maps());
    // pixel 1: logits (-2, 0, 4): softmax's largest is class 2
    assert.equal(a.maps().label[1], 2);
  });

  it('takes probabilities as they are, and a binary map as p(class 1) after a sigmoid of its logit', () => {
    const probs = new PassReducer(2, 1, 1, { layout: 'NCHW', probabilities: true, binary: false });
    probs.add(Float32Array.of(0.2, 0.8));
    close(probs.maps().meanProbs[1]!, 0.8, 'p');
    const logit = new PassReducer(2, 1, 1, { layout: 'NCHW', probabilities: false, binary: true });
    logit.add(Float32Array.of(Math.log(4))); // sigmoid(ln 4) = 4/5
    const maps = logit.maps();
    close(maps.meanProbs[0]!, 0.2, 'p0');
    close(maps.meanProbs[1]!, 0.8, 'p1');
    assert.equal(maps.label[0], 1);
    close(maps.entropy[0]!, -(0.2 * Math.log(0.2) + 0.8 * Math.log(0.8)), 'binary entropy');
    const sigmoid = new PassReducer(2, 1, 1, { layout: 'NCHW', probabilities: true, binary: true });
    sigmoid.add(Float32Array.of(0.25));
    close(sigmoid.maps().meanProbs[1]!, 0.25, 'after a Sigmoid');
  });

  it('keeps huge logits finite (the softmax shifts by the pixel max) and notes the first pass that is not finite', () => {
    const reducer = new PassReducer(2, 1, 1, { layout: 'NCHW', probabilities: false, binary: false });
    reducer.add(Float32Array.of(1000, 0));
    close(reducer.maps().meanProbs[0]!, 1, 'p');
    assert.equal(reducer.nonFinitePass, undefined);
    reducer.add(Float32Array.of(Number.NaN, 0));
    reducer.add(Float32Array.of(Infinity, 0));
    assert.equal(reducer.nonFinitePass, 1);
  });

  it('refuses a row of the wrong length', () => {
    const reducer = new PassReducer(3, 2, 2, { layout: 'NCHW', probabilities: false, binary: false });
    assert.throws(() => reducer.add(new Float32Array(11)), /11 values, expected 12/);
  });
});
