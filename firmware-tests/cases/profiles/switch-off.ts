/**
 * Which single profile switch the next machine boots with at the spec's
 * value (docs/PROFILES.md). switches.test.ts mocks the profile and queue
 * modules to read it, so "qemu-10.0 without FS_ALL_USER" is one machine: the
 * guest program stays the same and shows that the named switch alone makes
 * the difference. Empty = the profile as it is.
 */
export const switchOff = { core: '', host: '', qi: '' };

/** `"qemu-10.0 -NAME"` -> profile and switch; UPPER_CASE names are core QUIRK_*, host quirks are listed. */
export function parseProfileKey(key: string, hostQuirks: readonly string[]): { profile: string; off: typeof switchOff } {
  const [profile, minus] = key.split(' -') as [string, string | undefined];
  const name = minus ?? '';
  const kind = !name ? '' : /^[A-Z0-9_]+$/.test(name) ? 'core' : hostQuirks.includes(name) ? 'host' : 'qi';
  return { profile, off: { core: kind === 'core' ? name : '', host: kind === 'host' ? name : '', qi: kind === 'qi' ? name : '' } };
}
