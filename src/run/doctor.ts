/** `doctor` as a library call: what the CUDA provider needs and what this machine has, and huge pages for large photos. */
import { diagnoseHugePages, gatherHugePageFacts, type HugePageDiagnosis, type HugePageFacts } from '../engine/huge-pages.js';
import { cudaMajorOf, diagnoseCuda, gatherCudaFacts, type CudaDiagnosis, type CudaFacts } from '../engine/providers.js';
import { onnxruntimeVersion } from '../engine/runtime.js';

/** What doctorReport found: onnxruntime's version, the CUDA provider's files and libraries, the GPU, and huge pages. */
export interface DoctorReport {
  /** onnxruntime-node's version. */
  onnxruntime: string;
  /** The provider files, CUDA libraries, GPUs and driver found. */
  cudaFacts: CudaFacts;
  /** Whether the CUDA provider can run here, and if not what is missing and the fix. */
  cuda: CudaDiagnosis;
  /** The CUDA major version the provider was built for (its libraries' names say). */
  cudaMajor: number;
  /** What `device: 'auto'` runs on here. */
  defaultDevice: 'cuda' | 'cpu';
  hugePageFacts: HugePageFacts;
  hugePages: HugePageDiagnosis;
}

/** Looks at this machine: runs nvidia-smi and reads the dynamic loader's view; starts no session. */
export function doctorReport(): DoctorReport {
  const cudaFacts = gatherCudaFacts();
  const cuda = diagnoseCuda(cudaFacts);
  const hugePageFacts = gatherHugePageFacts();
  return {
    onnxruntime: onnxruntimeVersion(),
    cudaFacts,
    cuda,
    cudaMajor: cudaMajorOf(cudaFacts.libraries.map((l) => l.name)),
    defaultDevice: cuda.ready ? 'cuda' : 'cpu',
    hugePageFacts,
    hugePages: diagnoseHugePages(hugePageFacts),
  };
}
