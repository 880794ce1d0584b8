import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { acquisitionNamed, ACQUISITIONS, score, select, type ScoredRow } from '../../src/select/rank.js';
import { UNCERTAINTY_ALIASES, uncertaintyOf } from '../../src/stats/uncertainty.js';

const row = (path: string, label: string, values: Partial<ScoredRow> = {}): ScoredRow => ({
  path,
  label,
  confidence: 0.5,
  entropy: 0.5,
  mutualInformation: 0.1,
  variationRatio: 0,
  margin: 0.5,
  ...values,
});

describe('select', () => {
  it('scores by the one uncertainty table: 1 - confidence, entropy, MI, variation ratio, 1 - margin', () => {
    const r = row('a', 'x', { confidence: 0.7, entropy: 0.9, mutualInformation: 0.2, variationRatio: 0.3, margin: 0.4 });
    assert.deepEqual(ACQUISITIONS, ['one_minus_confidence', 'entropy', 'mutual_information', 'variation_ratio', 'margin', 'random']);
    assert.deepEqual(
      ['one_minus_confidence', 'entropy', 'mutual_information', 'variation_ratio', 'margin'].map((by) => score(r, by as never, 0)),
      [1 - 0.7, 0.9, 0.2, 0.3, 0.6],
    );
  });

  it("accepts select's earlier names as aliases: bald, least-confidence, variation-ratio (and entropy, margin, random unchanged)", () => {
    const r = row('a', 'x', { confidence: 0.7, entropy: 0.9, mutualInformation: 0.2, variationRatio: 0.3, margin: 0.4 });
    assert.deepEqual(UNCERTAINTY_ALIASES, { bald: 'mutual_information', 'least-confidence': 'one_minus_confidence', 'variation-ratio': 'variation_ratio' });
    const old = { bald: 0.2, entropy: 0.9, margin: 0.6, 'variation-ratio': 0.3, 'least-confidence': 1 - 0.7 };
    for (const [name, value] of Object.entries(old)) {
      const by = acquisitionNamed(name);
      assert.ok(by && by !== 'random', name);
      assert.equal(score(r, by, 0), value, name);
      assert.equal(uncertaintyOf(r, by), value, name);
    }
    assert.equal(acquisitionNamed('random'), 'random');
    assert.equal(acquisitionNamed('batchbald'), undefined);
    assert.equal(acquisitionNamed('toString'), undefined);
  });

  it('takes the top N, ties broken by input order', () => {
    const rows = [
      row('a', 'x', { mutualInformation: 0.1 }),
      row('b', 'x', { mutualInformation: 0.3 }),
      row('c', 'y', { mutualInformation: 0.3 }),
      row('d', 'y', { mutualInformation: 0.2 }),
    ];
    assert.deepEqual(
      select(rows, 'mutual_information', 3).map((p) => p.row.path),
      ['b', 'c', 'd'],
    );
    assert.deepEqual(
      select(rows, 'mutual_information', 10).map((p) => p.index),
      [1, 2, 3, 0],
    );
  });

  it('--per-class-quota: labels take turns, each with its own ranking', () => {
    const rows = [
      row('x1', 'x', { entropy: 0.9 }),
      row('x2', 'x', { entropy: 0.8 }),
      row('x3', 'x', { entropy: 0.7 }),
      row('y1', 'y', { entropy: 0.2 }),
      row('z1', 'z', { entropy: 0.5 }),
    ];
    assert.deepEqual(
      select(rows, 'entropy', 4).map((p) => p.row.path),
      ['x1', 'x2', 'x3', 'z1'],
    );
    assert.deepEqual(
      select(rows, 'entropy', 4, { perClassQuota: true }).map((p) => p.row.path),
      ['x1', 'z1', 'y1', 'x2'],
    );
    assert.deepEqual(
      select(rows, 'entropy', 10, { perClassQuota: true }).map((p) => p.row.path),
      ['x1', 'z1', 'y1', 'x2', 'x3'],
    );
  });

  it('random: seeded, independent of the order and number of rows', () => {
    const rows = Array.from({ length: 50 }, (_, i) => row(`img-${i}.png`, 'x'));
    const pick = select(rows, 'random', 10, { seed: 7 }).map((p) => p.row.path);
    assert.equal(new Set(pick).size, 10);
    assert.deepEqual(
      select([...rows].reverse(), 'random', 10, { seed: 7 }).map((p) => p.row.path),
      pick,
    );
    assert.notDeepEqual(
      select(rows, 'random', 10, { seed: 8 }).map((p) => p.row.path),
      pick,
    );
    // every image equally likely: over 200 seeds, image 0 is picked about 10/50 of the time
    let hits = 0;
    for (let s = 0; s < 200; s++) if (select(rows, 'random', 10, { seed: s }).some((p) => p.row.path === 'img-0.png')) hits++;
    // binomial(200, 0.2): mean 40, sd 5.7; 5 sd either side
    assert.ok(hits > 40 - 5 * 5.7 && hits < 40 + 5 * 5.7, `${hits}`);
  });
});
