// The register oracle (fuzz/register-oracle.ts) on hand-made reads and
// writes against the default profile's register table: each invariant
// fires on a value that breaks it, names the byte or register, and stays
// silent on values that keep it.
import { describe, expect, it } from 'vitest';
import { buildRegisterTable } from '../../host/src/vtd/register-table.js';
import { createProfile } from '../../host/src/vtd/profiles.js';
import { REG } from '../../host/src/vtd/spec/registers.js';
import { RegisterOracle } from '../register-oracle.js';

const rows = buildRegisterTable(createProfile('default'));
const oracle = RegisterOracle.of(rows);
const row = (name: string) => rows.find((r) => r.name === name)!;

describe('register oracle: reads', () => {
  it('a read wider than its size is a violation', () => {
    expect(oracle.checkRead(REG.FEDATA, 4, 0x1_0000_0000n)).toMatch(/read of 4 bytes at 0x3c returned 0x100000000/);
  });

  it('constant registers read their reset value, byte by byte', () => {
    const cap = row('CAP').reset;
    expect(oracle.checkRead(REG.CAP, 8, cap)).toBeUndefined();
    expect(oracle.checkRead(REG.CAP + 4, 4, cap >> 32n)).toBeUndefined();
    const flipped = cap ^ (0x10n << 40n); // a bit of byte 5
    expect(oracle.checkRead(REG.CAP, 8, flipped)).toMatch(new RegExp(`^CAP byte 0x${(REG.CAP + 5).toString(16)}: constant register reads 0x[0-9a-f]+, reset value 0x`));
    expect(oracle.checkRead(REG.VER, 4, BigInt(createProfile('default').ver) + 1n)).toMatch(/^VER byte 0x0: constant/);
  });

  it('write-only fields read 0 (GCMD, IVA, CCMD.SID)', () => {
    expect(oracle.checkRead(REG.GCMD, 4, 0n)).toBeUndefined();
    expect(oracle.checkRead(REG.GCMD, 4, 0x8000_0000n)).toMatch(/^GCMD byte 0x1b: write-only bits read 0x80/);
    expect(oracle.checkRead(REG.CCMD, 8, 0x1_0000n)).toMatch(/^CCMD byte 0x2a: write-only bits read 0x1/);
    expect(oracle.checkRead(REG.CCMD, 8, 0x3n)).toBeUndefined(); // DID is not write-only
  });

  it('offsets no register covers read 0', () => {
    const hole = 0x110; // after MTRRDEF
    expect(rows.some((r) => hole >= r.offset && hole < r.offset + r.width)).toBe(false);
    expect(oracle.checkRead(hole, 4, 0n)).toBeUndefined();
    expect(oracle.checkRead(hole, 4, 0x100n)).toMatch(/^byte 0x111 is no register but reads 0x1$/);
    const ver = BigInt(createProfile('default').ver);
    expect(oracle.checkRead(REG.VER, 8, ver)).toBeUndefined(); // VER is 4 bytes wide, 0x4-0x7 no register
    expect(oracle.checkRead(REG.VER, 8, ver | (5n << 32n))).toMatch(/^byte 0x4 is no register but reads 0x5$/);
  });
});

describe('register oracle: writes', () => {
  const write = (offset: number, size: 4 | 8, value: bigint, before: bigint[], after: bigint[]) => {
    expect(oracle.rowsAt(offset, size)).toHaveLength(before.length);
    return oracle.checkWrite(offset, size, value, before, after);
  };

  it('storage registers hold old & ~writable | value & writable', () => {
    expect(write(REG.FEADDR, 4, 0xfee0_0003n, [0n], [0xfee0_0000n])).toBeUndefined();
    expect(write(REG.FEADDR, 4, 0xfee0_0003n, [0n], [0xfee0_0003n])).toMatch(/^FEADDR after writing 0xfee00003 \(4 bytes at 0x40\): reads 0xfee00003, expected 0xfee00000/);
    expect(write(REG.RTADDR + 4, 4, 0x12n, [0xabc000n], [0x12_00ab_c000n])).toBeUndefined(); // the high half keeps the low one
  });

  it('constant registers, fault record low halves and GSTS never change on a write', () => {
    expect(write(REG.ECAP, 8, 0n, [5n], [6n])).toMatch(/^ECAP after writing 0x0 .*: read-only register changed 0x5 -> 0x6/);
    expect(write(REG.GSTS, 4, 0n, [0n], [0x8000_0000n])).toMatch(/^GSTS .*read-only register changed/);
    expect(write(REG.GCMD, 8, 0x8000_0000n, [0n, 0n], [0n, 0x8000_0000n])).toBeUndefined(); // GCMD shares the access
  });

  it('a written 0 never clears a W1C bit; a written 1 clears ICS.IWC', () => {
    expect(write(REG.ICS, 4, 0n, [1n], [0n])).toMatch(/^ICS .*: a written 0 cleared W1C bits 0x1/);
    expect(write(REG.ICS, 4, 1n, [1n], [1n])).toMatch(/^ICS .*: written 1 did not clear W1C bits 0x1/);
    expect(write(REG.ICS, 4, 1n, [1n], [0n])).toBeUndefined();
  });
});
