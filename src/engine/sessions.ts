import { describeError, ModelError, param, ProviderError } from '../errors.js';
import { diagnoseCuda, gatherCudaFacts } from './providers.js';
import { RuntimeSession, type Provider } from './runtime.js';
import { deviceRequestOf, sessionSettingsOf, type LoadOptions } from './options.js';

/** Opens the model on the requested provider, with CUDA fallback rules; `externalDataFolder` holds its external weights. */
export async function openSession(
  model: Uint8Array,
  options: LoadOptions,
  file: string,
  externalDataFolder?: string,
): Promise<{ session: RuntimeSession; provider: Provider; deviceId: number }> {
  const request = deviceRequestOf(options);
  const base = sessionSettingsOf(options, externalDataFolder);
  const cpu = async () => ({
    session: await createOrThrow(model, { provider: 'cpu', deviceId: 0, ...base }, file),
    provider: 'cpu' as const,
    deviceId: 0,
  });
  if (request.kind === 'cpu') return cpu();
  const diagnosis = diagnoseCuda(gatherCudaFacts());
  if (!diagnosis.ready) {
    if (request.kind === 'cuda') throw new ProviderError(`Cannot use ${param({ device: 'cuda' })}: ${diagnosis.explanation}. Fix: ${diagnosis.fix}`);
    options.onWarning?.(`running on CPU (${diagnosis.summary}); \`mc-dropout doctor\` says how to use the GPU, ${param({ device: 'cpu' })} hides this`);
    return cpu();
  }
  try {
    const session = await RuntimeSession.create(model, { provider: 'cuda', deviceId: request.deviceId, ...base });
    return { session, provider: 'cuda', deviceId: request.deviceId };
  } catch (error) {
    const reason = `onnxruntime could not start the CUDA provider on device ${request.deviceId} (${describeError(error)})`;
    if (request.kind === 'cuda') throw new ProviderError(`Cannot use ${param({ device: 'cuda' })}: ${reason}`, { cause: error });
    options.onWarning?.(`running on CPU: ${reason}`);
    return cpu();
  }
}

/** Opens a session; onnxruntime's refusal becomes a ModelError naming the file. */
export async function createOrThrow(model: Uint8Array, settings: Parameters<typeof RuntimeSession.create>[1], file: string): Promise<RuntimeSession> {
  try {
    return await RuntimeSession.create(model, settings);
  } catch (error) {
    throw new ModelError(`${file}: onnxruntime cannot load the model (${describeError(error)})`, 'E_MODEL', { cause: error });
  }
}
