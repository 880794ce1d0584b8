import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { invalidParameter } from '../errors.js';
import { neededLibraries } from './elf.js';

/** What the user asked for with --device. */
export interface DeviceRequest {
  kind: 'auto' | 'cpu' | 'cuda';
  deviceId: number;
}

/** Parses auto | cpu | cuda | cuda:N. */
export function parseDevice(text: string): DeviceRequest {
  const value = text.trim().toLowerCase();
  if (value === 'auto' || value === 'cpu' || value === 'cuda') return { kind: value, deviceId: 0 };
  const match = /^cuda:(\d+)$/.exec(value);
  if (match) return { kind: 'cuda', deviceId: Number(match[1]) };
  throw invalidParameter('device', 'auto, cpu, cuda or cuda:N', text);
}

/** The shared libraries onnxruntime-node's CUDA 12 provider loads (onnxruntime 1.30), when its file cannot be read. */
export const CUDA_RUNTIME_LIBRARIES = ['libcudart.so.12', 'libcublas.so.12', 'libcublasLt.so.12', 'libcurand.so.10', 'libcufft.so.11', 'libcudnn.so.9'];

/** cuDNN is opened at run time, not linked: no provider's DT_NEEDED names it. */
const CUDNN_LIBRARY = 'libcudnn.so.9';

/**
 * The CUDA libraries a provider file needs: its DT_NEEDED entries that belong to CUDA (the driver's
 * libcuda.so.1 aside: a GPU check covers it) plus cuDNN, so a CUDA 13 build is checked for CUDA 13
 * libraries. `needed` undefined (no readable ELF): onnxruntime-node's own CUDA 12 list.
 */
export function cudaLibrariesOf(needed: readonly string[] | undefined): string[] {
  if (!needed) return [...CUDA_RUNTIME_LIBRARIES];
  const cuda = needed.filter((name) => /^lib(cu|nv)/.test(name) && !name.startsWith('libcuda.so'));
  return cuda.includes(CUDNN_LIBRARY) ? cuda : [...cuda, CUDNN_LIBRARY];
}

export const CUDA_PROVIDER_FILES = ['libonnxruntime_providers_cuda.so', 'libonnxruntime_providers_shared.so'];

/** The command that installs onnxruntime-node's CUDA provider into this project (needs internet). */
const INSTALL_PROVIDER_COMMAND = 'ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js';

/** Everything we can learn about CUDA without starting a session. */
export interface CudaFacts {
  providerFolder: string;
  providerFiles: { file: string; present: boolean }[];
  libraries: { name: string; path: string | undefined }[];
  gpus: string[];
  driver: string | undefined;
}

/** Verdict on whether the CUDA provider can start, with the first missing piece and its fix. */
export interface CudaDiagnosis {
  ready: boolean;
  missing: 'provider-library' | 'cuda-runtime' | 'gpu' | undefined;
  /** A few words for one-line warnings, e.g. 'CUDA provider not installed'. */
  summary: string;
  explanation: string;
  fix: string;
}

/** onnxruntime-node's binary folder for this platform (where the CUDA provider files go). */
function onnxruntimeBinaryFolder(): string {
  const require = createRequire(import.meta.url);
  const entry = require.resolve('onnxruntime-node');
  return path.join(path.dirname(entry), '..', 'bin', 'napi-v6', process.platform, process.arch);
}

/** Reads this machine: provider files, libraries the dynamic loader finds, GPUs. */
export function gatherCudaFacts(): CudaFacts {
  const providerFolder = process.env.MC_DROPOUT_ORT_BIN_DIR ?? onnxruntimeBinaryFolder();
  const loaderIndex = readLoaderIndex();
  return {
    providerFolder,
    providerFiles: CUDA_PROVIDER_FILES.map((file) => ({ file, present: existsSync(path.join(providerFolder, file)) })),
    libraries: cudaLibrariesOf(neededLibraries(path.join(providerFolder, CUDA_PROVIDER_FILES[0]!))).map((name) => ({
      name,
      path: findLibrary(name, loaderIndex),
    })),
    ...readGpus(),
  };
}

/** Pure decision from the facts: which piece is missing first, and the command that fixes it. */
export function diagnoseCuda(facts: CudaFacts): CudaDiagnosis {
  const absentFiles = facts.providerFiles.filter((f) => !f.present).map((f) => f.file);
  if (absentFiles.length > 0) {
    return {
      ready: false,
      missing: 'provider-library',
      summary: 'CUDA provider not installed',
      explanation: `onnxruntime-node's CUDA provider is not installed (${absentFiles.join(', ')} missing in ${facts.providerFolder})`,
      fix: `${INSTALL_PROVIDER_COMMAND} (in the mc-dropout folder; needs internet)`,
    };
  }
  const absentLibraries = facts.libraries.filter((l) => !l.path).map((l) => l.name);
  const major = cudaMajorOf(facts.libraries.map((l) => l.name));
  if (absentLibraries.length > 0) {
    return {
      ready: false,
      missing: 'cuda-runtime',
      summary: `CUDA ${major} / cuDNN 9 libraries not found`,
      explanation: `the dynamic loader cannot find ${absentLibraries.join(', ')} (CUDA ${major} and cuDNN 9 runtime)`,
      fix: `install CUDA ${major} and cuDNN 9 runtime libraries (e.g. apt-get install cuda-libraries-${major}-x libcudnn9-cuda-${major}) or add their folder to LD_LIBRARY_PATH`,
    };
  }
  if (facts.gpus.length === 0) {
    return {
      ready: false,
      missing: 'gpu',
      summary: 'no NVIDIA GPU found',
      explanation: 'no NVIDIA GPU or driver was found (nvidia-smi lists none)',
      fix: 'install the NVIDIA driver and check that nvidia-smi lists the GPU',
    };
  }
  return { ready: true, missing: undefined, summary: 'ready', explanation: `CUDA provider ready on ${facts.gpus[0]}`, fix: '' };
}

/** The CUDA major version a library list asks for (from libcudart.so.N), 12 when it names none. */
export function cudaMajorOf(libraries: readonly string[]): number {
  const runtime = libraries.map((name) => /^libcudart\.so\.(\d+)$/.exec(name)).find(Boolean);
  return runtime ? Number(runtime[1]) : 12;
}

function readLoaderIndex(): string {
  try {
    return execFileSync('ldconfig', ['-p'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 });
  } catch {
    try {
      return execFileSync('/sbin/ldconfig', ['-p'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 });
    } catch {
      return '';
    }
  }
}

function findLibrary(name: string, loaderIndex: string): string | undefined {
  for (const folder of (process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean)) {
    const candidate = path.join(folder, name);
    if (existsSync(candidate)) return candidate;
  }
  const line = loaderIndex.split('\n').find((l) => l.trim().startsWith(`${name} `));
  return line ? line.split('=>')[1]?.trim() : undefined;
}

function readGpus(): { gpus: string[]; driver: string | undefined } {
  try {
    const text = execFileSync('nvidia-smi', ['--query-gpu=name,driver_version', '--format=csv,noheader'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 10000,
    });
    const rows = text
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
    return { gpus: rows.map((r) => r.split(',')[0]!.trim()), driver: rows[0]?.split(',')[1]?.trim() };
  } catch {
    const version = existsSync('/proc/driver/nvidia/version') ? readFileSync('/proc/driver/nvidia/version', 'utf8').split('\n')[0] : undefined;
    return { gpus: [], driver: version };
  }
}
