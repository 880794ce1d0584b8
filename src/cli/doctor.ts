import { doctorReport } from '../run/doctor.js';

/** `mc-dropout doctor`: what CUDA needs and what is here, and huge pages for large photos. Returns 0 when auto would use the GPU. */
export function runDoctor(options: { json?: boolean }): number {
  const { onnxruntime, cudaFacts: facts, cuda, cudaMajor, defaultDevice, hugePageFacts: pageFacts, hugePages: pages } = doctorReport();
  const report = {
    onnxruntime_node: onnxruntime,
    provider_folder: facts.providerFolder,
    provider_files: facts.providerFiles,
    cuda_libraries: facts.libraries.map((l) => ({ name: l.name, path: l.path ?? null })),
    gpus: facts.gpus,
    driver: facts.driver ?? null,
    devices: {
      cpu: { ready: true },
      cuda: { ready: cuda.ready, missing: cuda.missing ?? null, explanation: cuda.explanation, fix: cuda.fix || null },
    },
    default_device: defaultDevice,
    huge_pages: {
      state: pages.state,
      explanation: pages.explanation,
      fix: pages.fix ?? null,
      glibc: pageFacts.glibc ?? null,
      thp: pageFacts.thp ?? null,
      tunables: pageFacts.tunables ?? null,
    },
  };
  if (options.json) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    const mark = (ok: boolean) => (ok ? 'found  ' : 'MISSING');
    const lines = [
      `onnxruntime-node ${onnxruntime}`,
      `CUDA provider files in ${facts.providerFolder}:`,
      ...facts.providerFiles.map((f) => `  ${mark(f.present)} ${f.file}`),
      `CUDA ${cudaMajor} / cuDNN 9 libraries the provider loads (dynamic loader and LD_LIBRARY_PATH):`,
      ...facts.libraries.map((l) => `  ${mark(Boolean(l.path))} ${l.name}${l.path ? `  ${l.path}` : ''}`),
      `GPU: ${facts.gpus.length > 0 ? `${facts.gpus.join(', ')} (driver ${facts.driver ?? 'unknown'})` : 'none found (nvidia-smi lists none)'}`,
      '',
      'cpu:  ready',
      `cuda: ${cuda.ready ? 'ready' : `not ready: ${cuda.explanation}`}`,
      `predict --device auto runs on: ${defaultDevice}`,
      `large buffers on huge pages: ${pages.state} (${pages.explanation})`,
    ];
    if (pages.fix) lines.push(`  for large photos: ${pages.fix}`);
    if (!cuda.ready) {
      lines.push('', 'To use the GPU:', `  ${cuda.fix}`);
      if (cuda.missing === 'provider-library')
        lines.push(`  then install CUDA ${cudaMajor} and cuDNN 9 runtime libraries if this report lists them as MISSING`);
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  }
  return cuda.ready ? 0 : 1;
}
