import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PixelBudget } from '../src/pipeline.js';

describe('PixelBudget', () => {
  it('holds decodes to the budget in order, and lets an image above the whole budget run alone', async () => {
    const budget = new PixelBudget(100);
    const events: string[] = [];
    const take = async (name: string, pixels: number, ms: number) => {
      const release = await budget.acquire(pixels);
      events.push(`start ${name}`);
      await new Promise((resolve) => setTimeout(resolve, ms));
      events.push(`end ${name}`);
      release();
    };
    // 60 + 60 > 100: b waits for a; c (30) queues behind b, first come first served; d (250) runs alone
    await Promise.all([take('a', 60, 20), take('b', 60, 20), take('c', 30, 5), take('d', 250, 5), take('e', 10, 5)]);
    assert.deepEqual(events, ['start a', 'end a', 'start b', 'start c', 'end c', 'end b', 'start d', 'end d', 'start e', 'end e']);
  });
});
