/**
 * The report in a real browser: Debian's chromium driven by playwright-core. Loads report.html
 * from a file:// URL, checks the rendered content, that no request leaves the page, and saves a
 * screenshot. Needs `apt-get install -y chromium` (CI installs it); fails, never skips, without it.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../browser.testutil.js';
import { sampleReport } from '../sample-report.testutil.js';
import { renderReport } from './render.js';

const LAYERS = 8;

let browser: BrowserContext;
let closeBrowser: () => Promise<void> = async () => {};
let work: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'llm-bip-report-'));
  ({ browser, close: closeBrowser } = await launchChromium());
});

afterAll(async () => {
  await closeBrowser();
  // the screenshot stays under $LLM_BIP_KEEP_SCREENSHOT when set (to look at it), else it goes
  if (work && !process.env.LLM_BIP_KEEP_SCREENSHOT) rmSync(work, { recursive: true, force: true });
});

describe('report.html in chromium', () => {
  it('renders titles, one bar per layer, the numbers, makes no request, and screenshots', async () => {
    const data = sampleReport(LAYERS);
    const file = join(work, 'report.html');
    writeFileSync(file, renderReport(data));
    const page = await browser.newPage();
    const requests: string[] = [];
    const consoleErrors: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(e.message));
    const url = pathToFileURL(file).href;
    await page.goto(url, { waitUntil: 'load' });

    expect(await page.title()).toBe('llm-bip report: bip-llama-small');
    expect(await page.locator('h1').innerText()).toBe('llm-bip report: bip-llama-small');
    const h2 = await page.locator('h2').allInnerTexts();
    expect(h2).toEqual(['What was kept', 'Quality', 'Speed', 'Score distributions', 'Parameters', 'Provenance']);

    // one kept bar per layer in each per-layer chart, visibly drawn (non-zero box on screen)
    for (const id of ['chart-kept-heads', 'chart-kept-channels']) {
      const bars = page.locator(`#${id} rect.bar.kept`);
      expect(await bars.count()).toBe(LAYERS);
      for (let i = 0; i < LAYERS; i++) {
        const box = await bars.nth(i).boundingBox();
        expect(box, `${id} bar ${i}`).not.toBeNull();
        expect(box!.height).toBeGreaterThan(5);
        expect(box!.width).toBeGreaterThan(5);
      }
      // left to right in layer order
      const xs = await bars.evaluateAll((els) => els.map((e) => e.getBoundingClientRect().x));
      expect([...xs].sort((a, b) => a - b)).toEqual(xs);
    }
    expect(await page.locator('#chart-scores-heads g.dist').count()).toBe(LAYERS);
    expect(await page.locator('#chart-scores-channels g.dist').count()).toBe(LAYERS);
    // a taller bar for a larger value, as rendered (not just as written)
    const ppl = await page.locator('#chart-perplexity rect.bar').evaluateAll((els) =>
      els.map((e) => ({ v: Number(e.getAttribute('data-value')), h: e.getBoundingClientRect().height })),
    );
    expect(ppl).toHaveLength(4);
    const sorted = [...ppl].sort((a, b) => a.v - b.v);
    for (let i = 1; i < sorted.length; i++) expect(sorted[i]!.h).toBeGreaterThan(sorted[i - 1]!.h);

    const text = await page.locator('body').innerText();
    for (const s of ['76.96', '88.61', 'WikiText-2', 'PTB', 'BoolQ', '62.1 %', '2,150', '118.7', '1.25×', 'global-kind', 'llm-bip 0.1.0']) {
      expect(text).toContain(s);
    }
    expect(await page.locator('#card-params .value').innerText()).toMatch(/^\d+\.\d\d M → \d+\.\d\d M$/);

    const shot = join(work, 'report.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(existsSync(shot)).toBe(true);
    if (process.env.LLM_BIP_KEEP_SCREENSHOT) writeFileSync(join(process.env.LLM_BIP_KEEP_SCREENSHOT, 'report.png'), await page.screenshot({ fullPage: true }));

    expect(requests).toEqual([url]);
    expect(consoleErrors).toEqual([]);
    await page.close();
  });
});
