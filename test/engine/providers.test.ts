import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CUDA_PROVIDER_FILES, CUDA_RUNTIME_LIBRARIES, diagnoseCuda, parseDevice, type CudaFacts } from '../../src/engine/providers.js';
import { UsageError } from '../../src/errors.js';

const ready: CudaFacts = {
  providerFolder: '/ort/bin',
  providerFiles: CUDA_PROVIDER_FILES.map((file) => ({ file, present: true })),
  libraries: CUDA_RUNTIME_LIBRARIES.map((name) => ({ name, path: `/usr/lib/${name}` })),
  gpus: ['NVIDIA H100'],
  driver: '580.1',
};

describe('parseDevice', () => {
  it('accepts auto, cpu, cuda and cuda:N', () => {
    assert.deepEqual(parseDevice('auto'), { kind: 'auto', deviceId: 0 });
    assert.deepEqual(parseDevice('CPU'), { kind: 'cpu', deviceId: 0 });
    assert.deepEqual(parseDevice('cuda'), { kind: 'cuda', deviceId: 0 });
    assert.deepEqual(parseDevice('cuda:3'), { kind: 'cuda', deviceId: 3 });
  });

  it('rejects anything else with a usage error', () => {
    assert.throws(
      () => parseDevice('gpu'),
      (e: unknown) => e instanceof UsageError && /Expected auto, cpu, cuda or cuda:N for `device` but received 'gpu'/.test(e.message),
    );
    assert.throws(() => parseDevice('cuda:x'), UsageError);
  });
});

describe('diagnoseCuda names the first missing piece and its fix', () => {
  it('ready when provider files, libraries and a GPU are present', () => {
    const d = diagnoseCuda(ready);
    assert.equal(d.ready, true);
    assert.match(d.explanation, /NVIDIA H100/);
  });

  it('provider library missing -> the onnxruntime-node install command', () => {
    const d = diagnoseCuda({
      ...ready,
      providerFiles: [
        { file: 'libonnxruntime_providers_cuda.so', present: false },
        { file: 'libonnxruntime_providers_shared.so', present: true },
      ],
    });
    assert.equal(d.missing, 'provider-library');
    assert.match(d.explanation, /libonnxruntime_providers_cuda.so missing in \/ort\/bin/);
    assert.match(d.fix, /ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules\/onnxruntime-node\/script\/install.js/);
  });

  it('CUDA or cuDNN runtime missing -> names the libraries', () => {
    const d = diagnoseCuda({ ...ready, libraries: ready.libraries.map((l) => (l.name === 'libcudnn.so.9' ? { ...l, path: undefined } : l)) });
    assert.equal(d.missing, 'cuda-runtime');
    assert.match(d.explanation, /cannot find libcudnn.so.9/);
    assert.match(d.fix, /cuDNN 9/);
  });

  it('no GPU -> driver advice', () => {
    const d = diagnoseCuda({ ...ready, gpus: [] });
    assert.equal(d.missing, 'gpu');
    assert.match(d.fix, /nvidia-smi/);
  });
});
