/**
 * Register-interface families: random guest writes and reads over the whole
 * VT-d register block (§11.4), as a fuzzing guest would do them, to pin down
 * the reference's writable masks, W1C bits, read-as-zero registers and the
 * side effects of GCMD/CCMD/IOTLB/queue registers. Accesses keep each
 * register's width (QEMU 7.2 aborts on 8-byte accesses to 32-bit registers);
 * an 8-byte access at an offset ≡ 4 (mod 8) is two dword accesses (FORMAT.md).
 */
import { REG, Rng, ScenarioBuilder, machine72 } from './scenario-builder.js';

/** [offset, width in bytes] of every register in QEMU's 0x230-byte block, plus unmapped offsets. */
const REGISTERS: [number, 4 | 8][] = [
  [0x0, 4], [0x8, 8], [0x10, 8], [0x18, 4], [0x1c, 4], [0x20, 8], [0x28, 8], [0x34, 4], [0x38, 4],
  [0x3c, 4], [0x40, 4], [0x44, 4], [0x58, 8], [0x64, 4], [0x68, 4], [0x6c, 4], [0x70, 8], [0x78, 8],
  [0x80, 8], [0x88, 8], [0x90, 8], [0x9c, 4], [0xa0, 4], [0xa4, 4], [0xa8, 4], [0xac, 4], [0xb0, 8],
  [0xb8, 8], [0xc0, 8], [0xc8, 8], [0xd0, 8], [0xdc, 4], [0xe0, 4], [0xe4, 4], [0xe8, 4], [0xec, 4],
  [0xf0, 8], [0xf8, 8], [0x100, 8], [0x108, 8], [0x220, 8], [0x228, 8],
  [0x4, 4], [0x30, 4], [0x48, 4], [0x60, 4], [0x98, 4], [0x200, 4], [0x230, 4], [0x400, 4], [0xe00, 4], [0xffc, 4],
];


function randomValue(rng: Rng, width: 4 | 8): bigint {
  const pick = rng.int(6);
  const v32 = () => BigInt(rng.int(0x10000)) << 16n | BigInt(rng.int(0x10000));
  if (pick === 0) return 0n;
  if (pick === 1) return width === 8 ? 0xffffffffffffffffn : 0xffffffffn;
  if (pick === 2) return 1n << BigInt(rng.int(width * 8));
  return width === 8 ? (v32() << 32n) | v32() : v32();
}

/** Random writes then reads across the register block. */
export function registerPokes(seed: number): object {
  const rng = new Rng(seed);
  const b = new ScenarioBuilder();
  const queue = 0x180000n;
  b.page(queue).page(0x100000n);
  for (let i = 0; i < 40; i++) {
    const [off, width] = rng.pick(REGISTERS);
    if (rng.chance(0.55)) {
      let v = randomValue(rng, width);
      if (off === REG.GCMD) v &= 0xff800000n; // command bits only (31:23); TE/SRTP/QIE... with tables that exist
      // Table bases point at pages that exist: RTADDR, IQA (the queue page), PQA.
      if (off === REG.RTADDR || off === REG.IQA || off === REG.PQA) v = (v & 0xfffn) | 0x100000n | (off === REG.IQA ? queue : 0n);
      if (width === 8 && rng.chance(0.3)) {
        b.mmioWrite(off, 4, v & 0xffffffffn).mmioWrite(off + 4, 4, v >> 32n);
      } else b.mmioWrite(off, width, v);
    } else {
      b.mmioRead(off, width === 8 && rng.chance(0.2) ? 4 : width);
    }
  }
  for (const [off, width] of REGISTERS) b.mmioRead(off, width);
  b.mmioRead(0x1c, 8).mmioRead(0x34, 8);
  const scalable = rng.chance(0.4);
  return b.build(`gen-register-pokes-${seed}`, 'random register writes and reads over the whole block', machine72({ scalable, cm: rng.chance(0.3), aw: rng.pick([39, 48] as const) }));
}

/** The same pokes on QEMU 10.0 with first-stage translation (x-flts=on: scalable, aw 48). */
export function registerPokesFirstStage(seed: number): object {
  const s = registerPokes(seed + 1000) as { name: string; machine: object };
  return {
    ...s, name: `gen-register-pokes-fs-${seed}`,
    machine: { profile: 'qemu-10.0', ram_mib: 256, iommu: { scalable_mode: true, caching_mode: false, aw_bits: 48, first_stage: true }, devices: [{ bdf: '00:03.0', kind: 'dma-test' }] },
  };
}

/** The register families by name. */
export const REGISTER_FAMILIES: Record<string, (seed: number) => object> = {
  'register-pokes': registerPokes, 'register-pokes-fs': registerPokesFirstStage,
};
