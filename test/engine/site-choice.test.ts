/** identicalPassesReason: the one test of "can the passes differ" that inspect and every run use (#34). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { identicalPassesReason } from '../../src/engine/site-choice.js';

describe('identicalPassesReason', () => {
  it('names every site reaching the output when each has rate 0', () => {
    const reason = identicalPassesReason(
      [
        { name: 'Dropout a', reaches: true, rate: 0 },
        { name: 'Dropout b', reaches: true, rate: 0 },
        { name: 'Dropout idle', reaches: false, rate: 0.5 },
      ],
      'logits',
    );
    assert.match(
      reason!,
      /^every pass is identical: all 2 stochastic sites reaching the output 'logits' have rate 0 \(Dropout a, Dropout b\), so mutual information/,
    );
    assert.match(reason!, /Give a rate above 0 \(`dropoutRate` 0\.2, or convert with `injectRate` \/ `injectAt` TENSOR:0\.2\)$/);
  });

  it('says the dropoutRate override is the cause when it is 0', () => {
    assert.match(identicalPassesReason([{ name: 'Dropout a', reaches: true, rate: 0 }], 'logits', 0)!, /^every pass is identical: `dropoutRate` is 0, so/);
  });

  it('is undefined when one reaching site varies, its rate is unknown, or no site reaches the output', () => {
    assert.equal(
      identicalPassesReason(
        [
          { name: 'a', reaches: true, rate: 0 },
          { name: 'b', reaches: true, rate: 1e-5 },
        ],
        'o',
      ),
      undefined,
    );
    assert.equal(identicalPassesReason([{ name: 'a', reaches: true, rate: undefined }], 'o'), undefined);
    assert.equal(identicalPassesReason([{ name: 'a', reaches: true, rate: NaN }], 'o'), undefined);
    assert.equal(identicalPassesReason([{ name: 'a', reaches: false, rate: 0 }], 'o'), undefined);
    assert.equal(identicalPassesReason([], 'o'), undefined);
  });
});
