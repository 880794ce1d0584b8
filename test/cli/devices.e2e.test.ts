import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { elfWith } from '../helpers/elf.js';
import { tempDir } from '../helpers/files.js';

// These tests pin down the CPU side of the CUDA paths whatever this machine has: the provider
// folder is an empty temp folder, and a fake ldconfig and no nvidia-smi on PATH hide any CUDA.
const noCudaBin = tempDir();
writeFileSync(path.join(noCudaBin, 'ldconfig'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
const NO_CUDA = { MC_DROPOUT_ORT_BIN_DIR: tempDir(), PATH: `${noCudaBin}:/usr/bin:/bin`, LD_LIBRARY_PATH: '' };

describe('execution providers on a machine without CUDA', () => {
  it('--device auto runs on CPU with one warning line naming the missing piece and the fix', async () => {
    const { code, stdout, stderr } = await runCli(['predict', 'fixtures/samples/bag-34.jpg', '--seed', '1'], { env: NO_CUDA });
    assert.equal(code, 0, stderr);
    const warnings = stderr.split('\n').filter((l) => l.includes('warning'));
    assert.deepEqual(warnings, [
      'mc-dropout: warning: running on CPU (CUDA provider not installed); `mc-dropout doctor` says how to use the GPU, --device cpu hides this',
    ]);
    assert.match(stderr, /provider cpu/);
    assert.match(stdout, /bag-34\.jpg/);
  });

  it('-q and MC_DROPOUT_DEVICE=cpu silence the warning', async () => {
    for (const [args, env] of [
      [['-q'], NO_CUDA],
      [[], { ...NO_CUDA, MC_DROPOUT_DEVICE: 'cpu' }],
    ] as const) {
      const { code, stderr } = await runCli(['predict', 'fixtures/samples/bag-34.jpg', '--seed', '1', ...args], { env });
      assert.equal(code, 0, stderr);
      assert.doesNotMatch(stderr, /warning/);
    }
  });

  it('--device cuda never falls back: exit 3 with the same explanation', async () => {
    const { code, stdout, stderr } = await runCli(['predict', 'fixtures/samples/bag-34.jpg', '--device', 'cuda'], { env: NO_CUDA });
    assert.equal(code, 3);
    assert.equal(stdout, '');
    assert.match(stderr, /Cannot use --device cuda: onnxruntime-node's CUDA provider is not installed .*Fix: ONNXRUNTIME_NODE_INSTALL=cuda12/);
  });

  it('--device cuda with provider files present but no CUDA libraries names the libraries', async () => {
    const folder = tempDir();
    for (const file of ['libonnxruntime_providers_cuda.so', 'libonnxruntime_providers_shared.so']) writeFileSync(path.join(folder, file), '');
    const { code, stderr } = await runCli(['predict', 'fixtures/samples/bag-34.jpg', '--device', 'cuda:1'], {
      env: { ...NO_CUDA, MC_DROPOUT_ORT_BIN_DIR: folder },
    });
    assert.equal(code, 3);
    assert.match(stderr, /the dynamic loader cannot find libcudart.so.12/);
  });

  it('--device cuda with a CUDA 13 provider names the CUDA 13 libraries it links, read from its file', async () => {
    const folder = tempDir();
    writeFileSync(
      path.join(folder, 'libonnxruntime_providers_cuda.so'),
      elfWith(['libcublasLt.so.13', 'libcublas.so.13', 'libcurand.so.10', 'libcudart.so.13', 'libcuda.so.1', 'libc.so.6']),
    );
    writeFileSync(path.join(folder, 'libonnxruntime_providers_shared.so'), '');
    const env = { ...NO_CUDA, MC_DROPOUT_ORT_BIN_DIR: folder };
    const { code, stderr } = await runCli(['predict', 'fixtures/samples/bag-34.jpg', '--device', 'cuda'], { env });
    assert.equal(code, 3);
    assert.match(
      stderr,
      /the dynamic loader cannot find libcublasLt\.so\.13, libcublas\.so\.13, libcurand\.so\.10, libcudart\.so\.13, libcudnn\.so\.9 \(CUDA 13 and cuDNN 9 runtime\)/,
    );
    const doctor = await runCli(['doctor'], { env });
    assert.equal(doctor.code, 1);
    assert.match(doctor.stdout, /CUDA 13 \/ cuDNN 9 libraries the provider loads/);
    assert.match(doctor.stdout, /MISSING libcudart\.so\.13/);
    assert.doesNotMatch(doctor.stdout, /libcuda\.so\.1|libc\.so\.6|\.so\.12/);
  });

  it('--device cpu prints no warning', async () => {
    const { code, stderr } = await runCli(['predict', 'fixtures/samples/bag-34.jpg', '--device', 'cpu', '--seed', '1']);
    assert.equal(code, 0);
    assert.doesNotMatch(stderr, /warning/);
  });

  it('--device gpu is a usage error', async () => {
    const { code, stderr } = await runCli(['predict', 'fixtures/samples/bag-34.jpg', '--device', 'gpu']);
    assert.equal(code, 2);
    assert.match(stderr, /Expected auto, cpu, cuda or cuda:N for --device but received 'gpu'/);
  });
});

describe('mc-dropout doctor', () => {
  it('reports a machine without CUDA: provider files absent, CUDA not ready, exit 1', async () => {
    const { code, stdout } = await runCli(['doctor'], { env: NO_CUDA });
    assert.equal(code, 1);
    assert.match(stdout, /onnxruntime-node 1\.30\.0/);
    assert.match(stdout, /MISSING libonnxruntime_providers_cuda\.so/);
    assert.match(stdout, /cuda: not ready: onnxruntime-node's CUDA provider is not installed/);
    assert.match(stdout, /predict --device auto runs on: cpu/);
    assert.match(stdout, /ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules\/onnxruntime-node\/script\/install\.js/);
  });

  it('--json gives the same verdict for scripts', async () => {
    const { code, stdout } = await runCli(['doctor', '--json'], { env: NO_CUDA });
    assert.equal(code, 1);
    const report = JSON.parse(stdout) as Record<string, any>;
    assert.equal(report.default_device, 'cpu');
    assert.equal(report.devices.cpu.ready, true);
    assert.equal(report.devices.cuda.ready, false);
    assert.equal(report.devices.cuda.missing, 'provider-library');
    assert.deepEqual(
      report.provider_files.map((f: { present: boolean }) => f.present),
      [false, false],
    );
    assert.deepEqual(report.gpus, []);
  });

  it('reports whether large buffers sit on huge pages, with the GLIBC_TUNABLES it was started with', async () => {
    const { stdout } = await runCli(['doctor', '--json'], { env: { ...NO_CUDA, GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1' } });
    const pages = (JSON.parse(stdout) as { huge_pages: Record<string, string | null> }).huge_pages;
    assert.equal(pages.tunables, 'glibc.malloc.hugetlb=1');
    assert.ok(['on', 'unavailable'].includes(pages.state!), pages.state!);
    assert.equal(pages.fix, null);
    const text = await runCli(['doctor'], { env: { ...NO_CUDA, GLIBC_TUNABLES: '' } });
    assert.match(text.stdout, /large buffers on huge pages: (off|on|unavailable) \(/);
  });
});
