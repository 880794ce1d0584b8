import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { InspectJson } from '../../src/run/inspect.js';
import { ROOT, runCli } from '../helpers/cli.js';
import { jsonRows, PRINTED } from '../helpers/rows.js';
import { tempDir } from '../helpers/files.js';

/** NumPy's Monte Carlo of Paddle's own training-time dropout on the paddle2onnx-form model (fixtures/paddle/make_paddle.py). */
interface Expected {
  passes: number;
  images: Record<string, { deterministic: number[]; mean: number[]; sd: number[] }>;
}
const PADDLE = path.join(ROOT, 'fixtures', 'paddle', 'paddle_head.onnx');
const expected = JSON.parse(readFileSync(path.join(ROOT, 'fixtures', 'paddle', 'expected.json'), 'utf8')) as Expected;
const images = Object.keys(expected.images);

async function inspect(file: string): Promise<{ code: number | null; report: InspectJson; text: string }> {
  const json = await runCli(['inspect', file, '--json']);
  const text = await runCli(['inspect', file]);
  return { code: json.code, report: JSON.parse(json.stdout) as InspectJson, text: text.stdout };
}

describe("models with no dropout left: Paddle's downgrade_in_infer and --inject-at (real binary)", () => {
  it('inspect names the Paddle dropout with p = 1 - c and the command that revives it; GELU and hardswish Muls are not taken for dropout', async () => {
    const { code, report, text } = await inspect(PADDLE);
    assert.equal(code, 1, 'not MC-ready as exported');
    assert.deepEqual(report.paddle_dropouts, [{ node: 'p2o.Mul.5', input: 'hardswish_1.tmp_0', output: 'dropout_0.tmp_0', keep: Math.fround(0.8), rate: 0.2 }]);
    assert.match(
      text,
      /^Paddle dropout, made random by convert --revive-paddle:\n {2}Mul p2o\.Mul\.5: hardswish_1\.tmp_0 x 0\.8 -> dropout_0\.tmp_0 \(p = 0\.2\)$/m,
    );
    assert.match(
      text,
      /warning: no dropout, but Mul p2o\.Mul\.5 by 0\.8 \(p = 0\.2\) looks like Paddle's downgrade_in_infer dropout .*: mc-dropout convert .*paddle_head\.onnx --revive-paddle -o model-mc\.onnx makes it random again\./,
    );
    const predict = await runCli(['predict', images[0]!, '-m', PADDLE, '-t', '5']);
    assert.equal(predict.code, 3);
    assert.match(predict.stderr, /--revive-paddle/);
  });

  it('--deterministic on the exported model gives what onnxruntime in Python gives (the Mul by 0.8)', async () => {
    const { code, stdout, stderr } = await runCli(['predict', ...images, '-m', PADDLE, '--deterministic', '-f', 'jsonl', '--per-class', '-q']);
    assert.equal(code, 0, stderr);
    for (const row of jsonRows(stdout)) {
      const want = expected.images[row.path]!.deterministic;
      row.mean.forEach((p, c) => assert.ok(Math.abs(p - want[c]!) <= PRINTED + 2e-6, `${row.path} class ${c}: ${p} against ${want[c]}`));
    }
  });

  it("convert --revive-paddle: MC means match Paddle's own training-time dropout (x * Bernoulli(0.8), no rescale) within 5 standard errors", async () => {
    const out = path.join(tempDir(), 'paddle-mc.onnx');
    const convert = await runCli(['convert', PADDLE, '--revive-paddle', '-o', out]);
    assert.equal(convert.code, 0, convert.stderr);
    assert.match(
      convert.stderr,
      /1 random-mask dropout site\(s\): mc_dropout\.site0 on dropout_0\.tmp_0 \(p=0\.2\); Paddle dropout made random again at p2o\.Mul\.5/,
    );
    const { code, report } = await inspect(out);
    assert.equal(code, 0);
    assert.deepEqual(
      report.sites.map((s) => [s.op, s.rate, s.live, s.input]),
      [['Dropout', 0.2, true, 'dropout_0.tmp_0']],
    );
    assert.deepEqual(report.paddle_dropouts, []);

    const T = 400;
    const run = await runCli(['predict', ...images, '-m', out, '-t', String(T), '--seed', '3', '-f', 'jsonl', '--per-class', '-q']);
    assert.equal(run.code, 0, run.stderr);
    let moved = 0;
    for (const row of jsonRows(run.stdout)) {
      const { mean, sd, deterministic } = expected.images[row.path]!;
      row.mean.forEach((p, c) => {
        // two independent MC means (ours over T, NumPy's over its passes); 50 pairs, seeds 1-4 gave at most 2.6
        const se = sd[c]! * Math.sqrt(1 / T + 1 / expected.passes);
        assert.ok(Math.abs(p - mean[c]!) <= 5 * se + PRINTED, `${row.path} class ${c}: ${p} against Paddle's ${mean[c]} (se ${se})`);
        moved = Math.max(moved, Math.abs(p - deterministic[c]!));
      });
    }
    // the MC mean of the probabilities is not the exported output: the softmax bends the average
    assert.ok(moved > 0.01, `MC means stay at the deterministic output (largest move ${moved})`);
  });

  it('convert --inject-at TENSOR:P puts dropout where inspect suggests, and --revive-paddle on a model without it warns', async () => {
    const resnet = path.join(ROOT, 'fixtures', 'models', 'resnet18_narrow.onnx');
    const before = await inspect(resnet);
    assert.deepEqual(
      before.report.injection.map((c) => [c.tensor, c.shape]),
      [
        ['/Flatten_output_0', ['batch', 64]],
        ['/avgpool/GlobalAveragePool_output_0', ['batch', 64, 1, 1]],
      ],
    );
    assert.match(
      before.text,
      /^dropout could go at \(convert --inject-at TENSOR:P\):\n {2}\/Flatten_output_0 \[batch, 64\] \(input of the classifier Gemm \/fc\/Gemm\)$/m,
    );
    const out = path.join(tempDir(), 'resnet-mc.onnx');
    const convert = await runCli(['convert', resnet, '--inject-at', '/avgpool/GlobalAveragePool_output_0:0.3', '--revive-paddle', '-o', out]);
    assert.equal(convert.code, 0, convert.stderr);
    assert.match(convert.stderr, /mc_dropout\.site0 on \/avgpool\/GlobalAveragePool_output_0 \(p=0\.3\)/);
    assert.match(convert.stderr, /warning: --revive-paddle found no Paddle dropout/);
    const after = await inspect(out);
    assert.equal(after.code, 0);
    assert.deepEqual(
      after.report.sites.map((s) => [s.rate, s.input]),
      [[0.3, '/avgpool/GlobalAveragePool_output_0']],
    );
    const run = await runCli(['predict', images[0]!, '-m', out, '-t', '8', '--seed', '1', '-f', 'jsonl', '-q']);
    assert.equal(run.code, 0, run.stderr);
    assert.ok((JSON.parse(run.stdout) as { mutual_information: number }).mutual_information > 0);
  });

  it("Keras 3 (torch backend, an always-on Dropout layer, model.export): NHWC, MC means within 5 standard errors of Keras' own", async () => {
    const keras = JSON.parse(readFileSync(path.join(ROOT, 'fixtures', 'keras', 'reference.json'), 'utf8')) as {
      passes: number;
      file: string;
      reference: { image: string; mean: number[]; std: number[] }[];
    };
    const file = path.join(ROOT, 'fixtures', 'keras', keras.file);
    const { code, report } = await inspect(file);
    assert.equal(code, 0);
    assert.deepEqual(
      report.inputs.map((i) => i.shape),
      [['batch', 32, 32, 3]],
    );
    assert.deepEqual(
      report.sites.map((s) => [s.op, s.rate, s.live]),
      [['Dropout', 0.3, true]],
    );
    const T = 2000;
    const run = await runCli([
      'predict',
      ...keras.reference.map((r) => r.image),
      '-m',
      file,
      '-t',
      String(T),
      '--seed',
      '5',
      '-f',
      'jsonl',
      '--per-class',
      '-q',
    ]);
    assert.equal(run.code, 0, run.stderr);
    const got = new Map(jsonRows(run.stdout).map((r) => [r.path, r.mean]));
    for (const ref of keras.reference) {
      got.get(ref.image)!.forEach((p, c) => {
        // 15 pairs; 16 dropped units make some probabilities skewed (a rare mask moves a class far),
        // so large deviations come more often than normal ones would: seeds 1, 2 and 5 gave at most 4.0
        const se = ref.std[c]! * Math.sqrt(1 / T + 1 / keras.passes);
        assert.ok(Math.abs(p - ref.mean[c]!) <= 5 * se + PRINTED, `${ref.image} class ${c}: ${p} against Keras ${ref.mean[c]} (se ${se})`);
      });
    }
  });

  it('--inject-at usage errors name the option and the fix', async () => {
    const resnet = path.join(ROOT, 'fixtures', 'models', 'resnet18_narrow.onnx');
    const out = path.join(tempDir(), 'x.onnx');
    const cases: [string, RegExp][] = [
      ['nope:0.2', /Cannot inject dropout at nope: the model has no such tensor \(mc-dropout inspect lists the candidates\)/],
      ['/Flatten_output_0', /option '--inject-at <tensor:p>' argument '\/Flatten_output_0' is invalid\. Expected TENSOR:RATE/],
      ['/Flatten_output_0:1', /Expected a number in \[0, 1\) but received '1'/],
      ['logits:0.1', /Cannot inject dropout at logits: it is a model output; inject at a tensor before it/],
    ];
    for (const [value, pattern] of cases) {
      const { code, stderr } = await runCli(['convert', resnet, '--inject-at', value, '-o', out]);
      assert.equal(code, 2, `${value}: ${stderr}`);
      assert.match(stderr, pattern);
    }
  });
});
