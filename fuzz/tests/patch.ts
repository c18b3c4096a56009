import { afterEach } from 'vitest';

const restore: (() => void)[] = [];
afterEach(() => {
  for (const r of restore.splice(0)) r();
});

/** Replaces `obj[key]` with `value` until the running test ends (oracle tests patch the model to misbehave). */
export function patch<T extends object, K extends keyof T>(obj: T, key: K, value: T[K]): void {
  const old = obj[key];
  obj[key] = value;
  restore.push(() => { obj[key] = old; });
}
