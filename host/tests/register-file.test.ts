import { describe, expect, it } from 'vitest';
import { createProfile } from '../src/vtd/profiles.js';
import { RegisterFile } from '../src/vtd/register-file.js';

/** A register file without side-effect hooks: the generic mask rules alone. */
function bare(profile = createProfile('default')) {
  const log: string[] = [];
  return { regs: new RegisterFile(profile, (m) => log.push(m)), log };
}

describe('register file: generic access rules (§11.2)', () => {
  it('reads reset values, 64-bit registers as one qword and as two dwords', () => {
    const { regs } = bare(createProfile('qemu-7.2', { scalableMode: false, awBits: 39 }));
    expect(regs.read(0x8, 8)).toBe(0x00d2008c22260206n);
    expect(regs.read(0x8, 4)).toBe(0x22260206n);
    expect(regs.read(0xc, 4)).toBe(0x00d2008cn);
    expect(regs.read(0x38, 4)).toBe(0x8000_0000n);
  });

  it('an 8-byte access at an offset = 4 mod 8 is two dword accesses, low first', () => {
    const { regs } = bare();
    regs.write(0x20, 8, 0x1234_5000n);
    regs.set('GSTS', 0xc000_0000n);
    expect(regs.read(0x1c, 8)).toBe(0xc000_0000n | (0x1234_5000n << 32n));
  });

  it('an 8-byte access to two 32-bit registers splits (QEMU 7.2 aborted here)', () => {
    const { regs } = bare();
    regs.write(0x3c, 8, 0xfee0_0000_0000_1234n); // FEDATA, FEADDR
    expect(regs.get('FEDATA')).toBe(0x1234n);
    expect(regs.get('FEADDR')).toBe(0xfee0_0000n);
  });

  it('read-only registers and bits never change', () => {
    const { regs } = bare();
    const cap = regs.read(0x8, 8);
    regs.write(0x8, 8, ~cap & 0xffff_ffff_ffff_ffffn);
    regs.write(0xc, 4, 0n);
    expect(regs.read(0x8, 8)).toBe(cap);
    regs.write(0x1c, 4, 0xffff_ffffn);
    expect(regs.read(0x1c, 4)).toBe(0n);
    regs.write(0x20, 8, 0xffff_ffff_ffff_ffffn);
    expect(regs.read(0x20, 8)).toBe(0xffff_ffff_ffff_fc00n); // RTADDR bits 9:0 reserved
  });

  it('write-1-to-clear bits clear on 1 and keep on 0', () => {
    const { regs } = bare();
    regs.set('FSTS', 0x7fn);
    regs.write(0x34, 4, 0x1n);
    expect(regs.read(0x34, 4)).toBe(0x7en);
    regs.write(0x34, 4, 0x0n);
    expect(regs.read(0x34, 4)).toBe(0x7en);
    regs.write(0x34, 4, 0x7fn);
    expect(regs.read(0x34, 4)).toBe(0x2n); // PPF is read-only
  });

  it('write-only fields read 0 (GCMD, IVA, CCMD.SID/FM)', () => {
    const { regs } = bare();
    regs.write(0x18, 4, 0x8000_0000n);
    expect(regs.read(0x18, 4)).toBe(0n);
    regs.write(0xf0, 8, 0x1234_5000n);
    expect(regs.read(0xf0, 8)).toBe(0n);
    regs.write(0x28, 8, 0x3_ffff_0005n);
    expect(regs.read(0x28, 8)).toBe(5n);
  });

  it('bad sizes, alignments and offsets are ignored, read 0 and are logged', () => {
    const { regs, log } = bare(createProfile('qemu-7.2', { scalableMode: false, awBits: 39 }));
    for (const [off, size] of [[0x0, 2], [0x2, 4], [0x8, 16], [0x230, 4], [0x230, 8], [-4, 4], [0xfff, 1]]) {
      expect(regs.read(off!, size!)).toBe(0n);
      regs.write(off!, size!, 0xffff_ffff_ffff_ffffn);
    }
    expect(log.length).toBeGreaterThanOrEqual(14);
    expect(regs.read(0x0, 4)).toBe(0x10n);
  });

  it('an 8-byte access at the block\'s last dword is that dword, as QEMU splits it (recorded: gen-block-edge)', () => {
    const { regs } = bare(createProfile('qemu-10.0', { scalableMode: false, awBits: 39 }));
    regs.set('FRCD0_HI', 0xc000_0001_0000_0018n); // F, T, FR 1, SID 0x18
    expect(regs.read(0x22c, 8)).toBe(0xc000_0001n); // the upper dword reads 0
    regs.write(0x22c, 8, 0xffff_ffff_ffff_ffffn); // W1C F; the dword past the block goes nowhere
    expect(regs.get('FRCD0_HI')).toBe(0x4000_0001_0000_0018n);
  });

  it('every 4-byte aligned offset of the block accepts 4- and 8-byte accesses', () => {
    for (const p of [createProfile('default'), createProfile('qemu-10.0', { scalableMode: true, awBits: 48 })]) {
      const { regs, log } = bare(p);
      for (let off = 0; off + 4 <= p.blockSize; off += 4) {
        regs.read(off, 4);
        regs.write(off, 4, 0n);
        if (off + 8 <= p.blockSize) {
          regs.read(off, 8);
          regs.write(off, 8, 0n);
        }
      }
      expect(log.filter((l) => l.startsWith('ignored') && !l.includes('unimplemented'))).toEqual([]);
    }
  });
});
