/** Debian's Chromium for the browser tests: where it is, why a test is skipped without it, and a fresh headless profile. */
import { existsSync } from 'node:fs';
import { chromium, type BrowserContext } from 'playwright-core';
import { tempDir } from './files.js';
import { skipUnless } from './require.js';

/** The browser the tests drive (MC_DROPOUT_CHROMIUM overrides Debian's path). */
export const CHROMIUM = process.env.MC_DROPOUT_CHROMIUM ?? '/usr/bin/chromium';

/** The skip of a test that needs Chromium: why it cannot run here, or false. */
export const skipWithoutChromium = skipUnless(
  'chromium',
  existsSync(CHROMIUM) ? undefined : `Chromium not found at ${CHROMIUM}: apt-get install chromium (or set MC_DROPOUT_CHROMIUM)`,
);

/** Headless Chromium with a fresh profile folder (playwright passes it as --user-data-dir), nothing reaching out on its own. */
export function launchChromium(viewport?: { width: number; height: number }): Promise<BrowserContext> {
  return chromium.launchPersistentContext(tempDir('mc-dropout-chromium-'), {
    executablePath: CHROMIUM,
    headless: true,
    ...(viewport && { viewport }),
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
  });
}
