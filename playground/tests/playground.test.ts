/**
 * End-to-end test of the playground in a real browser: builds and serves the
 * site, drives the system's headless Chromium (Debian package `chromium`,
 * never a downloaded browser) with playwright-core, runs a shared scenario
 * and compares the observations the page shows with the recorded expected
 * file, checks that the cache counters move after a DMA and the cache
 * contents show an IOTLB entry until an invalidation, runs the seed flows,
 * fills and drains the page-request queue, DMAs through the ATS device,
 * shows bad input (values, files, an expected file of another scenario) on
 * the page, requests nothing the site lacks, and saves a screenshot (to
 * docs/playground.png with VIOMMU_UPDATE_SCREENSHOT=1, else to the temp
 * folder, so a test run leaves the tree clean). Skips only when no Chromium binary
 * exists (playground/ensure-chromium.sh installs it).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { repoRoot } from '../build.js';
import { findChromium, openPage } from './find-chromium.js';
import { startPlayground, type PlaygroundServer } from '../serve.js';

const ROOT = repoRoot();

const executablePath = findChromium();
if (!executablePath) console.warn('playground e2e: SKIPPED, no chromium binary (run playground/ensure-chromium.sh)');
const haveWasm = existsSync(join(ROOT, 'build', 'viommu.wasm'));
if (!haveWasm) console.warn('playground e2e: build/viommu.wasm is missing; run "npm run asbuild" (the test will fail)');

describe.skipIf(!executablePath)('playground in headless Chromium', () => {
  let server: PlaygroundServer;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];
  /** Requests the server answered with an error (the favicon included). */
  const failedRequests: string[] = [];

  beforeAll(async () => {
    server = await startPlayground(0);
    ({ browser, page } = await openPage(executablePath!, server.url, pageErrors, (p) => {
      p.on('response', (r) => { if (r.status() >= 400) failedRequests.push(`${r.status()} ${r.url()}`); });
      p.on('requestfailed', (r) => failedRequests.push(`failed ${r.url()}`));
    }));
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('starts with the real core and a default machine', async () => {
    expect(await page.getAttribute('body', 'data-ready')).toBe('true');
    expect(await page.textContent('#machine-label')).toContain('default machine');
    // VER read through the unit's MMIO path is shown in the register panel.
    expect(await page.textContent('#regs-table')).toContain('VER');
    expect(pageErrors).toEqual([]);
  });

  it.each(['legacy-4k-roundtrip', 'fs-4k-roundtrip'])('runs the shared scenario %s and shows the recorded observations', async (name) => {
    const expected = JSON.parse(readFileSync(join(ROOT, 'firmware-tests/golden', `${name}.expected.json`), 'utf8')) as unknown;
    await page.selectOption('#scenario-select', name);
    await page.waitForFunction((n) => document.querySelector('#scenario-summary')?.textContent?.startsWith(`${n}: 0/`), name);
    await page.click('#scenario-step');
    await page.waitForFunction((n) => document.querySelector('#scenario-summary')?.textContent?.startsWith(`${n}: 1/`), name);
    // Stepping runs one more step on the machine on show (the runner's), not a replay from scratch.
    expect(await page.textContent('#machine-label')).toContain(`scenario ${name} after 1 step(s)`);
    await page.click('#scenario-run');
    await page.waitForSelector('#scenario-summary[data-done="true"]');
    const total = (JSON.parse(readFileSync(join(ROOT, 'firmware-tests/golden', `${name}.scenario.json`), 'utf8')) as { steps: unknown[] }).steps.length;
    expect(await page.textContent('#machine-label')).toContain(`after ${total} step(s)`);
    const shown = JSON.parse((await page.textContent('#scenario-output')) ?? '') as unknown;
    expect(shown).toEqual(expected);
    expect(await page.getAttribute('#scenario-summary', 'data-match')).toBe('true');
    expect(await page.textContent('#machine-label')).toContain(name);
    // The tables the scenario built are in the tree (bus 0 root entry).
    expect(await page.textContent('#tables-tree')).toContain('bus 0');
    expect(pageErrors).toEqual([]);
  });

  it('runs a recorded SMMUv3 scenario on the Arm machine and shows it in the SMMUv3 panel; the guest demo faults into the event queue', async () => {
    const name = 'smmu-s1-100-1';
    const expected = JSON.parse(readFileSync(join(ROOT, 'firmware-tests/golden/smmuv3', `${name}.expected.json`), 'utf8')) as unknown;
    await page.selectOption('#scenario-select', name);
    await page.waitForFunction((n) => document.querySelector('#scenario-summary')?.textContent?.startsWith(`${n}: 0/`), name);
    await page.click('#scenario-run');
    await page.waitForSelector('#scenario-summary[data-done="true"]');
    expect(JSON.parse((await page.textContent('#scenario-output')) ?? '') as unknown).toEqual(expected);
    expect(await page.getAttribute('#scenario-summary', 'data-match')).toBe('true');
    expect(await page.textContent('#smmu-label')).toContain(name);
    expect(await page.textContent('#smmu-regs')).toContain('0x0d44101b'); // IDR0 of qemu-10.0
    await page.selectOption('#smmu-profile', 'default');
    await page.waitForFunction(() => document.querySelector('#smmu-label')?.textContent?.includes('profile default'));
    await page.click('#smmu-demo');
    await page.waitForFunction(() => document.querySelector('#smmu-events')?.textContent?.includes('F_TRANSLATION sid 0x18'));
    expect(await page.textContent('#event-log')).toContain('DMA read VA 0x70000000 -> ok, buffer[0] 0x5a');
    expect(pageErrors).toEqual([]);
  });

  it('updates the cache view after a DMA', async () => {
    await page.click('text=legacy 4 KiB map + DMA');
    await page.waitForFunction(() => document.querySelector('#machine-label')?.textContent?.includes('default machine'));
    await page.waitForFunction(() => Number(document.querySelector('[data-stat="iotlb_hits"]')?.textContent?.split(' ')[0]) >= 1);
    const stat = async (k: string) => Number(((await page.textContent(`[data-stat="${k}"]`)) ?? '').split(' ')[0]);
    const hitsBefore = await stat('iotlb_hits');
    const translationsBefore = await stat('translations');
    await page.fill('#dma-iova', '0x40000040');
    await page.fill('#dma-len', '32');
    await page.click('#dma-read');
    await page.waitForFunction((t) => Number(document.querySelector('[data-stat="translations"]')?.textContent?.split(' ')[0]) > t, translationsBefore);
    expect(await page.textContent('#dma-result')).toBe('ok');
    expect(await stat('iotlb_hits')).toBeGreaterThan(hitsBefore);
    expect(await page.textContent('[data-stat="iotlb_hits"]')).toMatch(/\(\+\d+\)/);
    // The flow's 4-level table is shown down to the leaf that maps the IOVA.
    expect(await page.textContent('#tables-tree')).toContain('DID=1');
    expect(pageErrors).toEqual([]);
  });

  it('lists an IOTLB entry after a DMA and none after the guest invalidates the IOTLB', async () => {
    await page.click('text=legacy 4 KiB map + DMA');
    await page.waitForSelector('[data-cache="iotlb"] tr.entry');
    // The flow's reads hit IOVA 0x40000000 of domain 1 (00:03.0): one 4 KiB entry to GPA 0x200000.
    const entries = await page.$$eval('[data-cache="iotlb"] tr.entry', (els) => els.map((e) => [...e.children].map((c) => c.textContent)));
    expect(entries).toContainEqual(['1', '-', '00:03.0', '0x40000000', '0x200000', '4K', expect.stringMatching(/^R/), 'second']);
    expect(Number(await page.getAttribute('[data-cache="context"]', 'data-count'))).toBeGreaterThanOrEqual(1);
    expect(Number(await page.getAttribute('[data-cache="psc"]', 'data-count'))).toBeGreaterThanOrEqual(1);
    await page.click('#cache-inv-iotlb');
    await page.waitForFunction(() => document.querySelector('[data-cache="iotlb"]')?.getAttribute('data-count') === '0');
    expect(await page.getAttribute('[data-cache="psc"]', 'data-count')).toBe('0'); // global IOTLB invalidation covers the PSC too
    expect(Number(await page.getAttribute('[data-cache="context"]', 'data-count'))).toBeGreaterThanOrEqual(1);
    // A DMA after the invalidation walks again and refills it.
    await page.fill('#dma-iova', '0x40000000');
    await page.selectOption('#dma-bdf', '00:03.0');
    await page.click('#dma-read');
    await page.waitForFunction(() => document.querySelector('[data-cache="iotlb"]')?.getAttribute('data-count') === '1');
    await page.click('#cache-inv-context');
    await page.waitForFunction(() => document.querySelector('[data-cache="context"]')?.getAttribute('data-count') === '0');
    expect(pageErrors).toEqual([]);
  });

  it('reports a DMA fault in the fault panel', async () => {
    await page.click('text=fault: unmapped IOVA, fault event MSI');
    await page.waitForFunction(() => document.querySelector('#faults')?.textContent?.includes('0x6 READ'));
    expect(await page.textContent('#event-log')).toContain('MSI fault');
  });

  it('runs a seed flow in the tab: narration and a pass badge', async () => {
    await page.click('button[data-flow="iopf"]');
    await page.waitForFunction(() => ['pass', 'fail'].includes(document.querySelector('#seed-status-iopf')?.getAttribute('data-result') ?? ''), undefined, { timeout: 60_000 });
    expect(await page.textContent('#seed-status-iopf')).toMatch(/^pass/);
    const narration = (await page.textContent('#seed-output')) ?? '';
    expect(narration).toContain('iopf: guest PRQ: rid');
    expect(narration).not.toContain('FAILED');
    expect(await page.textContent('#event-log')).toContain('seed flow iopf: every check passed');
    // Every other seed flow is browser-safe too.
    await page.click('#seed-run-all');
    await page.waitForFunction(() => / flows passed$/.test(document.querySelector('#seed-summary')?.textContent ?? ''), undefined, { timeout: 90_000 });
    const badges = await page.$$eval('[id^="seed-status-"]', (els) => els.map((e) => `${e.id} ${e.textContent ?? ''}`));
    expect(badges.filter((b) => !/ pass \(/.test(b))).toEqual([]);
    expect(await page.textContent('#seed-summary')).toBe(`${badges.length}/${badges.length} flows passed`);
    expect(badges.length).toBeGreaterThanOrEqual(10);
    expect(pageErrors).toEqual([]);
  }, 180_000);

  it('shows a queued page request in the PRQ panel, and an empty queue after the guest services it', async () => {
    await page.click('text=page request: DMA to an unmapped page (PRI)');
    await page.waitForSelector('#prq tr.prq-desc');
    const rows = await page.$$eval('#prq tr.prq-desc', (els) => els.map((e) => e.textContent ?? ''));
    expect(rows).toHaveLength(1);
    // 00:03.0, PASID 5, the faulting page, a write, the last page of its group.
    expect(rows[0]).toMatch(/00:03\.0 \(0x0018\)5.*0x40000000R?W\d+last/);
    expect(await page.textContent('#prq-prs')).toContain('PPR=1');
    expect(await page.getAttribute('#prq-prs', 'data-pending')).toBe('1');
    await page.click('text=page request: guest services the queue');
    await page.waitForFunction(() => document.querySelector('#prq-prs')?.getAttribute('data-pending') === '0');
    expect(await page.$$('#prq tr.prq-desc')).toHaveLength(0);
    expect(await page.textContent('#event-log')).toContain('00:03.0 after the response: DMA done');
    expect(pageErrors).toEqual([]);
  });

  it('shows every device kind of the default machine and DMAs through the ATS device', async () => {
    await page.click('text=legacy 4 KiB map + DMA');
    await page.waitForSelector('#devices tr[data-bdf="00:06.0"]');
    expect(await page.textContent('#devices')).toMatch(/00:05\.0ats.*00:06\.0swq/);
    await page.selectOption('#dma-bdf', '00:05.0');
    await page.fill('#dma-iova', '0x40000000');
    await page.fill('#dma-len', '16');
    await page.click('#dma-read');
    await page.waitForFunction(() => document.querySelector('#dma-result')?.textContent === 'ok');
    expect(await page.textContent('#dma-buffer')).toMatch(/^11 12 13/);
    expect(pageErrors).toEqual([]);
  });

  it('shows bad values next to the form that got them and clears the old result', async () => {
    await page.click('text=legacy 4 KiB map + DMA');
    await page.selectOption('#dma-bdf', '00:03.0');
    await page.fill('#dma-iova', '0x40000000');
    await page.fill('#dma-len', '16');
    await page.click('#dma-read');
    await page.waitForFunction(() => document.querySelector('#dma-result')?.textContent === 'ok');
    const cases: [string, string, RegExp][] = [
      ['#dma-iova', 'banana', /^error: iova: "banana" is not a number/],
      ['#dma-len', '0', /^error: len: 0 is smaller than 1/],
      ['#dma-len', '99999', /^error: len: 99999 is larger than/],
    ];
    for (const [input, value, message] of cases) {
      await page.fill('#dma-iova', '0x40000000');
      await page.fill('#dma-len', '16');
      await page.fill(input, value);
      await page.click('#dma-read');
      await page.waitForSelector('#dma-result[data-error="true"]');
      expect(await page.textContent('#dma-result')).toMatch(message);
      expect(await page.textContent('#dma-buffer')).toBe('');
    }
    await page.fill('#dma-len', '16');
    await page.fill('#dma-byte', '0x1ff');
    await page.click('#dma-write');
    await page.waitForFunction(() => /^error: write byte: 0x1ff is larger than 0xff/.test(document.querySelector('#dma-result')?.textContent ?? ''));
    await page.fill('#dma-byte', '0xab');
    await page.fill('#poke-offset', 'nope');
    await page.click('#poke-read');
    await page.waitForFunction(() => /^error: offset: "nope" is not a number/.test(document.querySelector('#poke-result')?.textContent ?? ''));
    await page.fill('#poke-offset', '0x2000');
    await page.click('#poke-read');
    await page.waitForFunction(() => /^error: offset: 0x2000 is larger than 0xffc/.test(document.querySelector('#poke-result')?.textContent ?? ''));
    await page.fill('#poke-offset', '0x1c');
    await page.click('#poke-read');
    await page.waitForFunction(() => /^0x1c = 0x/.test(document.querySelector('#poke-result')?.textContent ?? ''));
    expect(await page.getAttribute('#poke-result', 'data-error')).toBeNull();
    // A good DMA afterwards replaces the error.
    await page.fill('#dma-iova', '0x40000000');
    await page.click('#dma-read');
    await page.waitForFunction(() => document.querySelector('#dma-result')?.textContent === 'ok');
    expect(pageErrors).toEqual([]);
  });

  it('warns about an expected file of another scenario and reports a file that is not JSON', async () => {
    await page.selectOption('#scenario-select', 'legacy-4k-roundtrip');
    await page.waitForFunction(() => document.querySelector('#scenario-summary')?.textContent?.startsWith('legacy-4k-roundtrip: 0/'));
    expect(await page.isHidden('#scenario-warning')).toBe(true);
    const other = readFileSync(join(ROOT, 'firmware-tests/golden/fs-4k-roundtrip.expected.json'));
    await page.setInputFiles('#expected-file', { name: 'fs-4k-roundtrip.expected.json', mimeType: 'application/json', buffer: other });
    await page.waitForSelector('#scenario-warning:not([hidden])');
    expect(await page.textContent('#scenario-warning')).toMatch(/^warning: the expected file is for scenario "fs-4k-roundtrip", not "legacy-4k-roundtrip"/);
    await page.click('#scenario-run');
    await page.waitForSelector('#scenario-summary[data-done="true"]');
    expect(await page.getAttribute('#scenario-summary', 'data-match')).toBe('false');
    await page.setInputFiles('#scenario-file', { name: 'broken.scenario.json', mimeType: 'application/json', buffer: Buffer.from('{ "format": ') });
    await page.waitForSelector('#scenario-summary[data-error="true"]');
    expect(await page.textContent('#scenario-summary')).toMatch(/^error: broken\.scenario\.json: not JSON/);
    expect(await page.$$('#scenario-steps tr')).toHaveLength(0);
    expect(await page.isHidden('#scenario-warning')).toBe(true);
    await page.setInputFiles('#scenario-file', { name: 'bad.scenario.json', mimeType: 'application/json', buffer: Buffer.from('{ "format": "viommu-scenario/1", "name": "x", "machine": {}, "steps": [] }') });
    await page.waitForFunction(() => /^error: machine/.test(document.querySelector('#scenario-summary')?.textContent ?? ''));
    await page.setInputFiles('#expected-file', []);
    await page.setInputFiles('#scenario-file', []);
    await page.selectOption('#scenario-select', ''); // the select still shows legacy-4k-roundtrip: change it to reload
    await page.selectOption('#scenario-select', 'legacy-4k-roundtrip');
    await page.waitForFunction(() => document.querySelector('#scenario-summary')?.textContent?.startsWith('legacy-4k-roundtrip: 0/'));
    expect(await page.getAttribute('#scenario-summary', 'data-error')).toBeNull();
    expect(pageErrors).toEqual([]);
  });

  it('requests nothing the site does not have (no favicon 404)', () => {
    expect(failedRequests).toEqual([]);
  });

  it('runs the in-tab bench and draws the chart; saves a screenshot', async () => {
    await page.click('text=legacy 4 KiB map + DMA');
    await page.click('#bench-run');
    await page.waitForSelector('#bench-result svg polyline', { timeout: 60_000 });
    const ns = await page.$$eval('#bench-result li', (els) => els.map((e) => Number(e.getAttribute('data-ns'))));
    expect(ns).toHaveLength(2);
    for (const v of ns) expect(v).toBeGreaterThan(0);
    const shot = process.env['VIOMMU_UPDATE_SCREENSHOT'] === '1' ? join(ROOT, 'docs', 'playground.png') : join(tmpdir(), 'viommu-playground.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(readFileSync(shot).length).toBeGreaterThan(10_000);
    expect(pageErrors).toEqual([]);
  }, 120_000);
});
