/**
 * Failure injection in the style of iommufd's `fail_nth` selftest: every
 * allocation and object creation of the host API passes through
 * `FailInjector.point(site)`. With `failAt(n)` armed, the n-th point reached
 * (1-based, counted from arming) throws ENOMEM instead, so a test can sweep n
 * over a successful setup sequence and check that every failure unwinds
 * completely (no leaked objects, pinned pages, table pages or PASIDs).
 */
import { fail } from './errors.js';

/** Counts allocation points and fails the n-th one when armed. */
export class FailInjector {
  private armedAt = 0;
  private count = 0;
  /** The site names reached since the last `failAt(n > 0)` (for sweep diagnostics; not kept while disarmed, so a long-running host does not grow it). */
  readonly sites: string[] = [];

  /** Arms the injector: the n-th point from now fails (n >= 1); 0 disarms. */
  failAt(n: number): void {
    if (!Number.isInteger(n) || n < 0) throw new Error(`n: ${String(n)} is not a non-negative integer`);
    this.armedAt = n;
    this.count = 0;
    this.sites.length = 0;
  }

  /** Disarms and clears the count. */
  reset(): void {
    this.failAt(0);
  }

  /** Number of points reached since arming (a dry run with failAt(0) measures a sequence). */
  get reached(): number {
    return this.count;
  }

  /** True when the armed failure has been delivered. */
  get fired(): boolean {
    return this.armedAt > 0 && this.count >= this.armedAt;
  }

  /** An allocation point: throws ENOMEM naming `site` when this is the armed n-th point. */
  point(site: string): void {
    this.count++;
    if (this.armedAt > 0) this.sites.push(site);
    if (this.count === this.armedAt) fail('ENOMEM', `${site}: injected failure (fail-nth ${this.armedAt})`);
  }
}
