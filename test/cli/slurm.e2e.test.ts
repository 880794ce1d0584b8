/**
 * A real Slurm (Debian's packages, one node): a job array of 4 shards and a merge job that waits
 * for it, as docs/batch-jobs.md's recipe runs them; the merge equals one machine's run.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BIN, ROOT, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { skipUnless } from '../helpers/require.js';
import { jobState, sbatch, scancel, slurmUnavailable, startCluster, waitForJobs, type Cluster } from '../helpers/slurm.js';

const skip = skipUnless('slurm', slurmUnavailable());
const SAMPLES = path.join(ROOT, 'fixtures/samples');
const node = process.execPath;

describe('a real Slurm cluster: job array, merge job, a killed shard resubmitted', () => {
  let cluster: Cluster;
  before(() => {
    if (!skip) cluster = startCluster();
  });
  after(() => cluster?.stop());

  /** The predict command every shard runs (Slurm's array variables pick the shard). */
  const predict = (extra: string) => `exec ${node} ${BIN} predict ${SAMPLES} -t 3 --seed 17 --device cpu --no-progress -o out.csv --resume ${extra}`;

  it('sbatch --array=0-3, then a merge job with --dependency=afterok: the merged file equals a single run', { skip }, async () => {
    const folder = tempDir();
    const started = Date.now();
    const array = sbatch(cluster, folder, ['--array=0-3', '--output=shard-%a.log', '--wrap', predict('--shard auto')]);
    const merge = sbatch(cluster, folder, [`--dependency=afterok:${array}`, '--output=merge.log', '--wrap', `exec ${node} ${BIN} merge -o out.csv`]);
    await waitForJobs(cluster, [array, merge]);
    const seconds = (Date.now() - started) / 1000;
    assert.equal(jobState(cluster, merge), 'COMPLETED', readFileSync(path.join(folder, 'merge.log'), 'utf8'));
    for (let i = 0; i < 4; i++) assert.match(readFileSync(path.join(folder, `shard-${i}.log`), 'utf8'), /1[23] ok, 0 failed/);
    assert.match(readFileSync(path.join(folder, 'merge.log'), 'utf8'), /merged 4 shards into out\.csv: 50 rows, 50 ok, 0 failed/);
    const single = await runCli(['predict', SAMPLES, '-t', '3', '--seed', '17', '--device', 'cpu', '-q', '-o', 'single.csv'], { cwd: folder });
    assert.equal(single.code, 0);
    assert.equal(readFileSync(path.join(folder, 'out.csv'), 'utf8'), readFileSync(path.join(folder, 'single.csv'), 'utf8'));
    console.log(`# Slurm: 4 shards and the merge job finished in ${seconds.toFixed(1)} s`);
  });

  it(
    'scancel of a shard mid-run: its rows so far are saved, the merge job is dropped; the shard resubmitted with --resume completes, and the merge equals a single run',
    { skip },
    async () => {
      const folder = tempDir();
      // slow shards (T=400, whole graph per pass), so one can be canceled midway
      const slow = (extra: string) => predict(`-t 400 -b 1 --trunk-reuse off ${extra}`);
      const array = sbatch(cluster, folder, ['--array=0-3', '--output=shard-%a.log', '--wrap', slow('--shard auto')]);
      const merge = sbatch(cluster, folder, [`--dependency=afterok:${array}`, '--output=merge.log', '--wrap', `exec ${node} ${BIN} merge -o out.csv`]);
      const partial = path.join(folder, 'out.shard-0002-of-0004.csv.partial');
      const end = Date.now() + 60_000;
      while (!(existsSync(partial) && readFileSync(partial, 'utf8').split('\n').length > 3)) {
        assert.ok(Date.now() < end, 'shard 2 wrote no rows within 60 s');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      scancel(cluster, `${array}_2`);
      await waitForJobs(cluster, [array, merge]);
      assert.match(
        readFileSync(path.join(folder, 'shard-2.log'), 'utf8'),
        /stopped by SIGTERM after \d+ of 12 images; finished rows are saved; rerun the same command with --resume to finish/,
      );
      assert.equal(existsSync(path.join(folder, 'out.csv')), false, 'the merge job must not run after a failed shard');
      const saved = readFileSync(partial, 'utf8').split('\n').length - 2;
      assert.ok(saved >= 2 && saved < 12, `${saved} rows saved`);

      const again = sbatch(cluster, folder, ['--output=shard-2-again.log', '--wrap', slow('--shard 2/4')]);
      const merge2 = sbatch(cluster, folder, [`--dependency=afterok:${again}`, '--output=merge.log', '--wrap', `exec ${node} ${BIN} merge -o out.csv`]);
      await waitForJobs(cluster, [again, merge2]);
      assert.equal(jobState(cluster, merge2), 'COMPLETED', readFileSync(path.join(folder, 'merge.log'), 'utf8'));
      const single = await runCli(
        ['predict', SAMPLES, '-t', '400', '-b', '1', '--trunk-reuse', 'off', '--seed', '17', '--device', 'cpu', '-q', '-o', 'single.csv'],
        { cwd: folder },
      );
      assert.equal(single.code, 0);
      assert.equal(readFileSync(path.join(folder, 'out.csv'), 'utf8'), readFileSync(path.join(folder, 'single.csv'), 'utf8'));
    },
  );
});
