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

type ProfilesModule = typeof import('../../../host/src/vtd/profiles.js');
type QiModule = typeof import('../../../host/src/vtd/qi/qi-behaviour.js');

/** The profiles module with `createProfile` honouring `switchOff` (a vi.mock factory body). */
export function profilesWithSwitchOff(mod: ProfilesModule): ProfilesModule {
  return {
    ...mod,
    createProfile: (name: string, o?: object) => {
      const p = mod.createProfile(name, o);
      if (switchOff.core && !p.coreQuirks.includes(switchOff.core)) throw new Error(`${name} has no QUIRK_${switchOff.core}`);
      if (switchOff.host && !(p.host as unknown as Record<string, boolean>)[switchOff.host]) throw new Error(`${name} has no ${switchOff.host}`);
      return {
        ...p, coreQuirks: p.coreQuirks.filter((q) => q !== switchOff.core),
        host: switchOff.host ? { ...p.host, [switchOff.host]: false } : p.host,
      };
    },
  };
}

/** The queue-behaviour module with `qiBehaviourFor` honouring `switchOff` (a vi.mock factory body). */
export function qiWithSwitchOff(mod: QiModule): QiModule {
  return {
    ...mod,
    qiBehaviourFor: (name: string) => {
      const b = mod.qiBehaviourFor(name);
      const k = switchOff.qi as keyof typeof b;
      if (k && !(k in b)) throw new Error(`no queue field ${k}`);
      return k ? { ...b, [k]: mod.SPEC_BEHAVIOUR[k] } : b;
    },
  };
}
