// parseBdf (host/src/types.ts): "BB:DD.F" or "DD.F" to a source id, the same
// answer every time (it remembers strings it parsed: scenarios name their
// devices on every step), and an Error naming the argument for anything else,
// however often it is asked.
import { describe, expect, it } from 'vitest';
import { formatBdf, parseBdf } from '../src/types.js';

describe('parseBdf', () => {
  it('parses bus, device and function, with or without the bus, again and again', () => {
    for (let round = 0; round < 3; round++) {
      expect(parseBdf('00:03.0')).toBe(0x18);
      expect(parseBdf('03.1')).toBe(0x19);
      expect(parseBdf('ff:1f.7')).toBe(0xffff);
      expect(parseBdf('1A:0b.2')).toBe((0x1a << 8) | (0x0b << 3) | 2);
    }
  });

  it('round-trips every source id through formatBdf (more strings than it remembers)', () => {
    for (let sid = 0; sid < 0x10000; sid += 7) expect(parseBdf(formatBdf(sid))).toBe(sid);
  });

  it('refuses what is not a BDF every time it is asked, naming the argument', () => {
    for (let round = 0; round < 2; round++) {
      expect(() => parseBdf('00:03', 'step 4 field bdf')).toThrow('step 4 field bdf: "00:03" is not BB:DD.F');
      expect(() => parseBdf('00:03.8')).toThrow(/is not BB:DD.F/);
      expect(() => parseBdf('00:20.0')).toThrow();
    }
  });
});
