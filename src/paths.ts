import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// Every path relative to the package root is resolved here: compiled code lives in dist/src, and the
// CLI's bundle in dist/cli, at the same depth (scripts/bundle.mjs), so these hold for both.

/** The bundled model (models/ at the package root). */
export const BUNDLED_MODEL = fileURLToPath(new URL('../../models/fashion-mnist-mc.onnx', import.meta.url));

let version: string | undefined;
/** mc-dropout's version, from its package.json ('unknown' where that cannot be read). */
export function packageVersion(): string {
  if (version === undefined) {
    try {
      version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
    } catch {
      version = 'unknown';
    }
  }
  return version;
}
