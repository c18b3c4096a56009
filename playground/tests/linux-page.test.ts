/**
 * End-to-end test of the playground's Linux page in Debian's headless
 * Chromium: v86 boots the Linux fixture in the tab with the unit attached,
 * the guest reads the disk by DMA with the host's md5, a stray DMA from the
 * IDE controller is decoded by Linux's fault handler and shows in the faults
 * panel, and the register, invalidation-queue, cache and v86 panels show the
 * unit as the driver programmed it. Skips when Chromium or SeaBIOS is missing
 * (playground/ensure-chromium.sh, tools/linux-fixture/ensure-seabios.sh).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { makeDisk, STRAY_IOVA } from '../../host/src/v86/linux/run.js';
import { seabiosDir } from '../../host/src/v86/linux/fixture-node.js';
import { findChromium, openPage } from './find-chromium.js';
import { startPlayground, type PlaygroundServer } from '../serve.js';

const executablePath = findChromium();
const haveBios = existsSync(join(seabiosDir(), 'bios.bin'));
if (!executablePath || !haveBios) console.warn(`playground Linux page e2e: SKIPPED (${!executablePath ? 'no chromium' : `no ${seabiosDir()}/bios.bin`})`);

const BOOT_MS = 600_000;

describe.skipIf(!executablePath || !haveBios)('playground Linux page in headless Chromium', () => {
  let server: PlaygroundServer;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];
  const consoleText = (): Promise<string> => page.textContent('#linux-console').then((t) => t ?? '');
  const waitConsole = (re: RegExp): Promise<unknown> =>
    page.waitForFunction((src) => new RegExp(src).test(document.getElementById('linux-console')?.textContent ?? ''), re.source, { timeout: 120_000 });

  beforeAll(async () => {
    server = await startPlayground(0);
    ({ browser, page } = await openPage(executablePath!, `${server.url}linux.html`, pageErrors));
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('boots Linux with intel_iommu=on in scalable mode; DMA, a stray fault and the panels are live', async () => {
    expect(await page.evaluate(() => document.body.dataset['ready'])).toBe('true');
    await page.selectOption('#linux-mode', 'scalable');
    await page.click('#linux-boot');
    await page.waitForSelector('body[data-guest="ready"], body[data-guest="failed"]', { timeout: BOOT_MS });
    expect(await page.evaluate(() => document.body.dataset['guest'])).toBe('ready');
    expect(await consoleText()).toMatch(/DMAR: dmar0: Using Queued invalidation/);

    await page.click('button[data-vg="md5"]');
    await waitConsole(/@@end md5 0/);
    const md5 = /@@md5 ([0-9a-f]{32})/.exec(await consoleText())?.[1];
    expect(md5).toBe(createHash('md5').update(makeDisk()).digest('hex'));

    await page.click('#linux-stray');
    await waitConsole(/fault reason 0x71/);
    expect(await consoleText()).toContain(`Request device [00:1e.0] fault addr 0x${STRAY_IOVA.toString(16)} [fault reason 0x71]`);
    await page.waitForTimeout(1500); // one panel refresh
    expect(pageErrors).toEqual([]); // a panel that throws stops refreshing: say why first
    expect(await page.textContent('#faults')).toContain(`0x${STRAY_IOVA.toString(16)}`);
    expect(await page.textContent('#regs-table')).toMatch(/GSTS\s*0xc[0-9a-f]{7}\s*TES RTPS QIES/);
    expect(await page.textContent('#iq')).toMatch(/pasid-iotlb/);
    expect(await page.textContent('#iq')).toMatch(/wait/);
    const ideRequests = await page.$eval('#v86-stats', (t) => Number([...t.querySelectorAll('tr')].find((r) => r.textContent?.startsWith('IDE DMA requests'))?.lastChild?.textContent));
    expect(ideRequests).toBeGreaterThan(100);
    expect(pageErrors).toEqual([]);
  }, BOOT_MS + 300_000);
});
