/** Debian's chromium under playwright-core, headless, with a fresh profile; fails (never skips) without it. */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM = process.env.LLM_BIP_CHROMIUM ?? '/usr/bin/chromium';

export async function launchChromium(): Promise<{ browser: BrowserContext; close: () => Promise<void> }> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`chromium not found at ${CHROMIUM}: install it with \`apt-get update && apt-get install -y chromium\` (or set LLM_BIP_CHROMIUM to its path)`);
  }
  const profile = mkdtempSync(join(tmpdir(), 'llm-bip-chromium-profile-'));
  // a fresh profile folder per run (playwright takes it as userDataDir, not as an argument)
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1100, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: 60_000,
  });
  return {
    browser,
    close: async () => {
      await browser.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
