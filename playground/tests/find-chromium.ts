/** Finds the system Chromium the browser tests drive (never a downloaded one). */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

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
