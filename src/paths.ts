import { fileURLToPath } from 'node:url';

/** The bundled model (compiled code lives in dist/src, models/ at the package root). */
export const BUNDLED_MODEL = fileURLToPath(new URL('../../models/fashion-mnist-mc.onnx', import.meta.url));
