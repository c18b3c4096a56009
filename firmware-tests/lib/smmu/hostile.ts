/**
 * What a hostile SMMUv3 guest writes, as fast-check arbitraries (the
 * hostile-guest suites of the SMMU and of the Arm VMM share them): 64-bit
 * values (random, a flipped bit of what is there, addresses inside and
 * outside RAM) and commands (random doublewords, or well-formed commands
 * with any field values).
 */
import fc from 'fast-check';
import type { GuestMemoryLike } from '../../../host/src/tables/guest-ram.js';
import { C } from '../../../host/src/guest/smmu/structures.js';

/** Guest-physical base of RAM on the Arm `virt` machine. */
const RAM_BASE = 0x4000_0000n;

/** Any 64-bit value. */
export const u64 = fc.bigInt(0n, (1n << 64n) - 1n);

/** A value to store: a 64-bit word, or a bit of the word already there to flip. */
export type HostileValue = bigint | { flip: number };

/** A 64-bit value a hostile guest would try. */
export const hostileValue: fc.Arbitrary<HostileValue> = fc.oneof(
  u64,
  fc.record({ flip: fc.integer({ min: 0, max: 63 }) }),
  fc.constantFrom(0n, (1n << 64n) - 1n, 1n, 3n, RAM_BASE | 3n, (RAM_BASE + 0x100_0000n) | 3n, 0x000f_ffff_ffff_f003n, 0xffff_f000n | 1n, 0x7fn),
);

/** Stores `v` at guest-physical `at`. */
export function putHostile(mem: GuestMemoryLike, at: bigint, v: HostileValue): void {
  mem.writeU64(at, typeof v === 'bigint' ? v : mem.readU64(at) ^ (1n << BigInt(v.flip)));
}

/** Well-formed commands with any field values. */
const BUILDERS: readonly ((sid: number, ssid: number, range: number, addr: bigint) => bigint[])[] = [
  (sid) => C.cfgiSte(sid), (sid, _, range) => C.cfgiSteRange(sid, range), (sid, ssid) => C.cfgiCd(sid, ssid), (sid) => C.cfgiCdAll(sid),
  (sid) => C.tlbiNhAll(sid & 0xffff), (sid, ssid) => C.tlbiNhAsid(sid & 0xffff, ssid & 0xffff),
  (sid, ssid, range, addr) => C.tlbiNhVa(sid & 0xffff, ssid & 0xffff, addr, (range & 1) === 0, { num: range, scale: ssid & 31 }),
  (sid, ssid, _, addr) => C.tlbiNhVa(sid & 0xffff, ssid & 0xffff, addr), (sid, _, __, addr) => C.tlbiNhVaa(sid & 0xffff, addr),
  (sid) => C.tlbiS12Vmall(sid & 0xffff), (sid, _, __, addr) => C.tlbiS2Ipa(sid & 0xffff, addr), () => C.tlbiNsnhAll(),
  (sid, ssid, range, addr) => C.atcInv(sid, ssid, addr, range), (sid, ssid, range) => C.priResp(sid, ssid, range, 1),
  (_, ssid, range, addr) => C.sync(range & 3, addr, ssid),
];

/** A command: two random doublewords, or a well-formed command with random fields. */
export const hostileCommand: fc.Arbitrary<bigint[]> = fc.oneof(
  fc.tuple(u64, u64).map(([a, b]) => [a, b]),
  fc.tuple(fc.nat({ max: BUILDERS.length - 1 }), fc.integer({ min: 0, max: 0xfffff }), fc.integer({ min: 0, max: 0xfffff }), fc.integer({ min: 0, max: 31 }), u64)
    .map(([k, sid, ssid, range, addr]) => BUILDERS[k]!(sid, ssid, range, addr)),
);
