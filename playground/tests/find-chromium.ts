/** Finds the system Chromium the browser tests drive (never a downloaded one) and opens a playground page in it. */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

/** CHROMIUM_PATH, else `chromium` or `chromium-browser` on PATH; undefined when there is none. */
export function findChromium(): string | undefined {
  const fromEnv = process.env['CHROMIUM_PATH'];
  if (fromEnv && existsSync(fromEnv)) return fromEnv;
  for (const name of ['chromium', 'chromium-browser']) {
    try {
      const p = execFileSync('which', [name], { encoding: 'utf8' }).trim();
      if (p) return p;
    } catch { /* not on PATH */ }
  }
  return undefined;
}

/**
 * Launches the Chromium at `executablePath` headless and opens `url` in a
 * 1400x1800 page, collecting page errors into `pageErrors` (and before
 * loading, `watch` may add listeners); resolves once the page set
 * `body[data-ready]`.
 */
export async function openPage(executablePath: string, url: string, pageErrors: string[], watch?: (page: Page) => void): Promise<{ browser: Browser; page: Page }> {
  const browser = await chromium.launch({
    executablePath,
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  const page = await browser.newPage({ viewport: { width: 1400, height: 1800 } });
  page.on('pageerror', (e) => pageErrors.push(e.message));
  watch?.(page);
  await page.goto(url);
  await page.waitForSelector('body[data-ready]', { timeout: 30_000 });
  return { browser, page };
}
