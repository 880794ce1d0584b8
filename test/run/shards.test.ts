import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UsageError } from '../../src/errors.js';
import { derivedSeed, inputListHash, parseShard, shardFilePattern, shardFromEnvironment, shardOutputPath, shardRange } from '../../src/run/shards.js';

describe('shards', () => {
  it('parses I/N and refuses what is not a shard', () => {
    assert.deepEqual(parseShard('3/16'), { index: 3, count: 16 });
    assert.deepEqual(parseShard(' 0 / 1 '), { index: 0, count: 1 });
    for (const bad of ['16/16', '1/0', '-1/4', 'a/b', '3']) assert.throws(() => parseShard(bad), UsageError, bad);
  });

  it('splits a list into contiguous blocks whose sizes differ by at most one, covering it once', () => {
    for (const [total, count] of [
      [50, 4],
      [3, 8],
      [0, 3],
      [1000, 7],
    ] as const) {
      const ranges = Array.from({ length: count }, (_, index) => shardRange(total, { index, count }));
      assert.equal(ranges[0]!.start, 0);
      assert.equal(ranges.at(-1)!.end, total);
      ranges.slice(1).forEach((r, i) => assert.equal(r.start, ranges[i]!.end));
      const sizes = ranges.map((r) => r.end - r.start);
      assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `${total}/${count}: ${sizes}`);
    }
    assert.deepEqual(shardRange(50, { index: 1, count: 4 }), { start: 12, end: 25 });
  });

  it('reads the index and count of Slurm, Kubernetes, AWS Batch and Google Cloud Batch', () => {
    assert.deepEqual(shardFromEnvironment({ SLURM_ARRAY_TASK_ID: '7', SLURM_ARRAY_TASK_MIN: '4', SLURM_ARRAY_TASK_COUNT: '4' }), { index: 3, count: 4 });
    assert.deepEqual(shardFromEnvironment({ JOB_COMPLETION_INDEX: '2' }, 5), { index: 2, count: 5 });
    assert.deepEqual(shardFromEnvironment({ JOB_COMPLETION_INDEX: '2', MC_DROPOUT_SHARD_COUNT: '3' }), { index: 2, count: 3 });
    assert.deepEqual(shardFromEnvironment({ AWS_BATCH_JOB_ARRAY_INDEX: '0', AWS_BATCH_JOB_ARRAY_SIZE: '2' }), { index: 0, count: 2 });
    assert.deepEqual(shardFromEnvironment({ BATCH_TASK_INDEX: '1', BATCH_TASK_COUNT: '2' }), { index: 1, count: 2 });
    assert.throws(() => shardFromEnvironment({ JOB_COMPLETION_INDEX: '2' }), /gives this task's index but not the number of tasks/);
    assert.throws(() => shardFromEnvironment({ SLURM_ARRAY_TASK_ID: '9', SLURM_ARRAY_TASK_COUNT: '4' }), /task index 9 is not below the task count 4/);
    assert.throws(() => shardFromEnvironment({}), /found no batch engine index/);
  });

  it('names shard outputs beside the merged output, and finds them again', () => {
    assert.equal(shardOutputPath('runs/out.csv', { index: 3, count: 16 }), 'runs/out.shard-0003-of-0016.csv');
    assert.equal(shardOutputPath('out', { index: 0, count: 2 }), 'out.shard-0000-of-0002');
    const match = shardFilePattern('/x/out.v2.csv').exec('out.v2.shard-0012-of-0100.csv');
    assert.deepEqual([match?.[1], match?.[2]], ['0012', '0100']);
    assert.equal(shardFilePattern('/x/out.csv').test('out.shard-0001-of-0002.jsonl'), false);
  });

  it('derives one seed from the input list and the model, the same in every shard', () => {
    const list = inputListHash(['a.png', 'b.png']);
    assert.notEqual(list, inputListHash(['a.png', 'b.png', 'c.png']));
    assert.notEqual(list, inputListHash(['a.pngb.png']));
    const seed = derivedSeed(list, 'f'.repeat(64));
    assert.equal(seed, derivedSeed(list, 'f'.repeat(64)));
    assert.ok(Number.isSafeInteger(seed) && seed >= 0);
    assert.notEqual(seed, derivedSeed(list, 'e'.repeat(64)));
  });
});
