/** The runnable recipes in examples/ hold what their engines need, and the flags they pass exist. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { ROOT, runCli } from './helpers/cli.js';

const example = (file: string) => readFileSync(path.join(ROOT, 'examples', file), 'utf8');

/** Every --flag in `args` must be an option of `mc-dropout <command>`, matched whole (--shard is not --shard-count). */
async function flagsExist(command: string, args: string[]): Promise<void> {
  const help = (await runCli([command, '--help'])).stdout;
  // the options column of commander's help: "  -o, --output <file>", "  --resume", "  --no-progress"
  const options = new Set([...help.matchAll(/^\s+(?:-\w, )?(--[a-z][a-z0-9-]*)(?=[\s<[]|$)/gm)].map((m) => m[1]!));
  assert.ok(options.has('--help'), `${command} --help lists no options: ${help.slice(0, 200)}`);
  for (const flag of args.filter((a) => a.startsWith('--')).map((a) => a.split('=')[0]!)) assert.ok(options.has(flag), `${command} has no option ${flag}`);
}

describe('examples/kubernetes', () => {
  it('an Indexed Job: one pod per shard, retried per index, shard count equal to completions, a shared results volume', async () => {
    const job = parse(example('kubernetes/predict-indexed-job.yaml')) as Record<string, any>;
    assert.equal(job.apiVersion, 'batch/v1');
    assert.equal(job.kind, 'Job');
    const { spec } = job;
    assert.equal(spec.completionMode, 'Indexed');
    assert.ok(Number.isInteger(spec.completions) && spec.completions > 1);
    assert.ok(spec.backoffLimitPerIndex >= 1);
    assert.equal(spec.template.spec.restartPolicy, 'Never');
    const [container] = spec.template.spec.containers;
    assert.equal(container.command[0], 'mc-dropout');
    assert.equal(container.args[0], 'predict');
    for (const arg of ['--shard=auto', '--resume']) assert.ok(container.args.includes(arg), arg);
    const count = container.env.find((e: { name: string }) => e.name === 'MC_DROPOUT_SHARD_COUNT');
    assert.equal(Number(count.value), spec.completions);
    const output = container.args.find((a: string) => a.startsWith('--output='))!.split('=')[1];
    const results = container.volumeMounts.find((m: { mountPath: string }) => output.startsWith(`${m.mountPath}/`));
    assert.ok(results && !results.readOnly, 'the output lies on a writable mounted volume');
    const volume = spec.template.spec.volumes.find((v: { name: string }) => v.name === results.name);
    assert.ok(volume.persistentVolumeClaim.claimName);
    await flagsExist('predict', container.args.slice(1));

    const merge = parse(example('kubernetes/merge-job.yaml')) as Record<string, any>;
    assert.equal(merge.kind, 'Job');
    const [merger] = merge.spec.template.spec.containers;
    assert.deepEqual(merger.args, ['merge', `--output=${output}`]);
    assert.equal(merge.spec.template.spec.volumes[0].persistentVolumeClaim.claimName, volume.persistentVolumeClaim.claimName);
    await flagsExist('merge', merger.args.slice(1));
  });
});

describe('examples/slurm', () => {
  it('a contiguous requeueable array that gets SIGTERM before its time limit, and a merge that waits for it', async () => {
    const array = example('slurm/predict-array.sbatch');
    assert.match(array, /^#SBATCH --array=0-\d+$/m);
    assert.match(array, /^#SBATCH --requeue$/m);
    assert.match(array, /^#SBATCH --signal=B:TERM@\d+$/m);
    const command = /^exec mc-dropout predict (.*)$/m.exec(array.replace(/\\\n\s*/g, ''))![1]!;
    assert.match(command, /--shard auto --output "\$OUT" --resume/);
    await flagsExist('predict', command.split(/\s+/));
    const merge = example('slurm/merge-after.sbatch');
    assert.match(merge, /^#SBATCH --kill-on-invalid-dep=yes$/m);
    assert.match(merge, /^exec mc-dropout merge --output "\$\{OUT:-results\/out\.csv\}"$/m);
  });
});

describe('README', () => {
  it("every mc-dropout command line in the README's shell blocks names a command and options that exist", async () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const blocks = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
    const calls = blocks
      .flatMap((b) => b.split('\n'))
      .map((l) => l.replace(/#.*$/, '').trim())
      .filter(Boolean)
      .flatMap((l) => l.split('&&'))
      .map((c) => c.trim().replace(/^npx /, '').split(/\s+/))
      .filter((words) => words[0] === 'mc-dropout');
    assert.ok(calls.length >= 10, `only ${calls.length} calls found`);
    const commands = new Set<string>();
    for (const [, command, ...args] of calls) {
      commands.add(command!);
      await flagsExist(command!, args);
    }
    assert.deepEqual([...commands].sort(), ['calibrate', 'convert', 'evaluate', 'inspect', 'merge', 'predict', 'report', 'select']);
  });
});
