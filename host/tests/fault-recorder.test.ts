/**
 * FaultRecorder.record writes a fault record's two qwords by register
 * offset (no register name per fault): this checks them by name, as
 * RegisterFile.get reads them, against the §11.4.7.6 encoding (address bits
 * 63:12 in FRCD_LO, encodeHigh in FRCD_HI, both truncated to 64 bits), for
 * every record index of every profile, with FSTS.FRI and PPF as §7.3 says.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { encodeHigh, FaultRecorder, type FaultRecord } from '../src/vtd/fault-recorder.js';
import { EventInterrupts } from '../src/vtd/interrupts.js';
import { createProfile, PROFILE_NAMES } from '../src/vtd/profiles.js';
import { RegisterFile } from '../src/vtd/register-file.js';
import { frcdName } from '../src/vtd/register-table.js';
import { FSTS } from '../src/vtd/spec/registers.js';

const MASK64 = (1n << 64n) - 1n;

const faultArb: fc.Arbitrary<FaultRecord> = fc.record({
  sid: fc.integer({ min: 0, max: 0xffff }),
  reason: fc.integer({ min: 0, max: 0xff }),
  addr: fc.bigInt({ min: 0n, max: (1n << 66n) - 1n }),
  read: fc.boolean(),
  pp: fc.boolean(),
  pv: fc.integer({ min: 0, max: 0xfffff }),
  exec: fc.boolean(),
  priv: fc.boolean(),
});

describe('FaultRecorder.record', () => {
  it('writes FRCD_LO and FRCD_HI of the next record as their names read them, for faults from distinct requesters', () => {
    for (const name of PROFILE_NAMES) {
      const profile = createProfile(name);
      fc.assert(fc.property(fc.uniqueArray(faultArb, { selector: (f) => f.sid, minLength: 1, maxLength: profile.frcdCount }), (faults) => {
        const regs = new RegisterFile(profile);
        const rec = new FaultRecorder(regs, profile, new EventInterrupts(regs), () => {});
        for (const [i, f] of faults.entries()) {
          expect(rec.record(f)).toBe('recorded');
          expect(regs.get(frcdName(i, 'LO'))).toBe(f.addr & ~0xfffn & MASK64);
          expect(regs.get(frcdName(i, 'HI'))).toBe(encodeHigh(f) & MASK64);
        }
        const fsts = Number(regs.get('FSTS'));
        expect(fsts & FSTS.PPF).not.toBe(0);
        expect((fsts & FSTS.FRI_MASK) >>> FSTS.FRI_SHIFT).toBe(0); // FRI names the first record while PPF stays set
      }), { numRuns: 40 });
    }
  });
});
