/**
 * Structure-aware steps for the viommu extensions of the scenario format
 * (firmware-tests/golden/FORMAT.md, last section), i.e. what a guest driver
 * does to make PASID and page-request traffic: the dma-test device's
 * configuration space (Command, PASID and PRI capabilities, PCIe §7.8.8,
 * §10.5.2), its BAR 0 registers (IOVA/LEN/PASID/CMD doorbell), requests
 * with PASID, scalable-mode table chains that leave first-stage pages
 * unmapped (so recoverable faults become page requests, VT-d §7.5), the
 * page-request queue registers (PQH/PQT/PQA/PRS/PECTL, §11.4.11) and
 * page-group responses (queued invalidation type 9, §6.5.2.9).
 *
 * Every generator here expects the input on the `default` profile (mutate.ts
 * `toDefault` puts it there): the qemu-* profiles refuse the extensions.
 */
import { pageGroupResponseDesc } from '../host/src/vtd/spec/descriptors.js';
import { PageResponseCode } from '../host/src/vtd/spec/page-request.js';
import { encodePasidDirEntry, encodePasidEntry, PGTT } from '../host/src/vtd/spec/pasid-entry.js';
import { encodeSmContextEntry } from '../host/src/vtd/spec/sm-context-entry.js';
import { encodeSmRootEntry } from '../host/src/vtd/spec/sm-root-entry.js';
import { DeviceFunction } from '../host/src/devices/common/function.js';
import { DMA_TEST_CAPS, DMA_TEST_IDENTITY } from '../host/src/devices/dma-test/config.js';
import { DMAT, DMAT_BAR_SIZE, DMAT_CMD } from '../host/src/devices/dma-test/regs.js';
import { CAP_ID, EXT_CAP_ID, PRI } from '../host/src/pci/capabilities.js';
import { CFG, CMD } from '../host/src/pci/config-space.js';
import type { DmaPort } from '../host/src/pci/dma-port.js';
import { parseBdf } from '../host/src/types.js';
import { GCMD, REG } from '../host/src/vtd/spec/registers.js';
import { dmaIovas, dmaStep, interestingValue, pickPage, qiSteps } from './generate.js';
import { inRam, type FuzzInput, type Step } from './input.js';
import type { Rng } from './rng.js';

/** Configuration-space offsets of the dma-test device's capabilities (the same for every instance). */
export const CAPS = (() => {
  // The port is only used for DMA and page requests, never while building the config space.
  const cfg = new DeviceFunction(0, DMA_TEST_IDENTITY, DMA_TEST_CAPS, {} as DmaPort).config;
  return {
    pasid: cfg.findExtCapability(EXT_CAP_ID.PASID), pri: cfg.findExtCapability(EXT_CAP_ID.PRI),
    msi: cfg.findCapability(CAP_ID.MSI), pcie: cfg.findCapability(CAP_ID.PCIE),
  };
})();

/** PCIe PASID Control: Enable, Execute Permission Enable, Privileged Mode Enable (§7.8.8.3). */
const PASID_CTL = { ENABLE: 1, EXEC: 2, PRIV: 4 } as const;
/** The devices' PASID register bits (regs.ts). */
const PASID_REG = { PV: 0x8000_0000, PRIV: 0x4000_0000, EXEC: 0x2000_0000 } as const;
/** Size of one page-request descriptor (§9.13) and of the queue page. */
const PRQ_DESC = 32n;

const pickDevice = (rng: Rng, input: FuzzInput): string => rng.pick(input.machine.devices).bdf;

/** A PASID: mostly small ones (the tables the fuzzer writes cover them), sometimes any 20-bit value. */
export function pasidValue(rng: Rng): number {
  switch (rng.below(6)) {
    case 0: return 0;
    case 1: return 1;
    case 2: return rng.below(64);
    case 3: return rng.below(0x10_0000);
    default: return rng.below(8);
  }
}

/** PASIDs the input's requests already use (so tables and responses meet them). */
function usedPasids(input: FuzzInput): number[] {
  const out: number[] = [];
  for (const s of input.steps) if ((s.op === 'dma.read' || s.op === 'dma.write') && s.pasid !== undefined) out.push(s.pasid);
  return out;
}

const knownPasid = (rng: Rng, input: FuzzInput): number => {
  const used = usedPasids(input);
  return used.length > 0 && rng.chance(0.7) ? rng.pick(used) : pasidValue(rng);
};

const cfgWrite = (bdf: string, offset: number, size: 1 | 2 | 4, value: number | bigint): Step =>
  ({ op: 'pci.cfg.write', bdf, offset, size, value: BigInt.asUintN(8 * size, BigInt(value)) });
const devWrite = (bdf: string, offset: number, size: 4 | 8, value: bigint): Step =>
  ({ op: 'dev.mmio.write', bdf, bar: 0, offset, size, value: BigInt.asUintN(8 * size, value) });
const mmioWrite = (offset: number, size: 4 | 8, value: bigint): Step => ({ op: 'mmio.write', offset, size, value: BigInt.asUintN(8 * size, value) });

/** Configuration writes with meaning for the device (and reads / random accesses). */
const CFG_CHOICES: ((rng: Rng, bdf: string) => Step)[] = [
  (r, b) => cfgWrite(b, CFG.COMMAND, 2, r.pick([CMD.MEMORY | CMD.BUS_MASTER, CMD.MEMORY, CMD.BUS_MASTER, 0, CMD.MEMORY | CMD.BUS_MASTER | CMD.INTX_DISABLE])),
  (r, b) => cfgWrite(b, CAPS.pasid + 6, 2, r.chance(0.6) ? PASID_CTL.ENABLE | PASID_CTL.EXEC | PASID_CTL.PRIV : r.below(0x10000)),
  (r, b) => cfgWrite(b, CAPS.pri + 4, 2, r.pick([PRI.CTL_ENABLE, PRI.CTL_RESET, 0, PRI.CTL_ENABLE | PRI.CTL_RESET, r.below(0x10000)])),
  (r, b) => cfgWrite(b, CAPS.pri + 6, 2, r.chance(0.7) ? PRI.STS_RF | PRI.STS_UPRGI : r.below(0x10000)), // W1C status
  (r, b) => cfgWrite(b, CAPS.pri + 0xc, 4, r.pick([0, 1, 2, 16, 0xffff_ffff, r.u32()])), // allocation
  (r, b) => cfgWrite(b, CAPS.msi + 2, 2, r.below(0x10000)),
  (r, b) => cfgWrite(b, CFG.BAR0, 4, r.chance(0.5) ? 0xffff_ffff : r.u32() & ~0xfff), // sizing probe, or a move
  (r, b) => {
    const size = r.pick([1, 2, 4] as const);
    return cfgWrite(b, r.below(0x1000 / size) * size, size, interestingValue(r));
  },
  (r, b) => {
    const size = r.pick([1, 2, 4] as const);
    const at = r.pick([CAPS.pasid + 4, CAPS.pri + 4, CAPS.pri + 8, CFG.COMMAND, CFG.BAR0, r.below(0x1000 / size) * size]);
    return { op: 'pci.cfg.read', bdf: b, offset: at - (at % size), size };
  },
];

/** One configuration access to a device (or, rarely, to the host bridge or an absent function). */
export function devCfgStep(rng: Rng, input: FuzzInput): Step {
  const bdf = rng.chance(0.9) ? pickDevice(rng, input) : rng.pick(['00:00.0', '00:1f.0', '00:07.0']);
  return rng.pick(CFG_CHOICES)(rng, bdf);
}

/** An IOVA the input's DMA already uses (give or take a page), else a small page address. */
function iovaOf(rng: Rng, input: FuzzInput): bigint {
  const used = dmaIovas(input);
  const page = used.length > 0 && rng.chance(0.6) ? (rng.pick(used) & ~0xfffn) + BigInt(rng.between(-1, 1)) * 0x1000n : BigInt(rng.below(0x400)) << 12n;
  return BigInt.asUintN(64, page) + BigInt(rng.chance(0.2) ? rng.below(0x1000) : 0);
}

/**
 * Device BAR accesses: a whole command (IOVA, LEN, BUF_OFF, PASID register,
 * CMD doorbell) as a driver writes it, or one register write / read.
 */
export function devMmioStep(rng: Rng, input: FuzzInput): Step[] {
  const bdf = pickDevice(rng, input);
  switch (rng.below(5)) {
    case 0:
    case 1: {
      const pasid = rng.chance(0.8) ? PASID_REG.PV | knownPasid(rng, input) : 0;
      const flags = (rng.chance(0.1) ? PASID_REG.PRIV : 0) | (rng.chance(0.1) ? PASID_REG.EXEC : 0);
      return [
        devWrite(bdf, DMAT.IOVA, 8, iovaOf(rng, input)),
        devWrite(bdf, DMAT.LEN, 4, BigInt(rng.pick([1, 8, 64, 4096, rng.between(1, 4096)]))),
        ...(rng.chance(0.2) ? [devWrite(bdf, DMAT.BUF_OFF, 4, BigInt(rng.below(0x1000)))] : []),
        ...(rng.chance(0.2) ? [devWrite(bdf, DMAT.DST, 8, iovaOf(rng, input))] : []),
        devWrite(bdf, DMAT.PASID, 4, BigInt((pasid | flags) >>> 0)),
        devWrite(bdf, DMAT.CMD, 4, BigInt(rng.chance(0.9) ? rng.pick([DMAT_CMD.READ, DMAT_CMD.WRITE, DMAT_CMD.COPY]) : rng.u32())),
      ];
    }
    case 2: {
      const offset = rng.pick([DMAT.IOVA, DMAT.LEN, DMAT.CMD, DMAT.BUF_OFF, DMAT.PASID, DMAT.IRQ, DMAT.DST, DMAT.BUFFER + rng.below(0x3fe) * 4]);
      const size = offset % 8 === 0 && offset + 8 <= DMAT_BAR_SIZE && rng.chance(0.5) ? 8 : 4;
      return [devWrite(bdf, offset, size, interestingValue(rng))];
    }
    default: {
      const offset = rng.pick([DMAT.STATUS, DMAT.COUNT, DMAT.PASID, DMAT.ID, rng.below(DMAT_BAR_SIZE / 4) * 4]);
      return [{ op: 'dev.mmio.read', bdf, bar: 0, offset, size: offset + 8 <= DMAT_BAR_SIZE && rng.chance(0.3) ? 8 : 4 }];
    }
  }
}

/** A `dma.read` / `dma.write` with a PASID. */
export function pasidDmaStep(rng: Rng, input: FuzzInput): Step | undefined {
  const s = dmaStep(rng, input);
  return s && (s.op === 'dma.read' || s.op === 'dma.write') ? { ...s, pasid: knownPasid(rng, input) } : undefined;
}

/** What a PRI driver does first: device decoding and mastering, PASID and PRI on, the page-request queue set up and unmasked. */
export function priSetupSteps(rng: Rng, input: FuzzInput): Step[] {
  const bdf = pickDevice(rng, input);
  const steps: Step[] = [
    cfgWrite(bdf, CFG.COMMAND, 2, CMD.MEMORY | CMD.BUS_MASTER),
    cfgWrite(bdf, CAPS.pasid + 6, 2, PASID_CTL.ENABLE | (rng.chance(0.5) ? PASID_CTL.EXEC | PASID_CTL.PRIV : 0)),
    cfgWrite(bdf, CAPS.pri + 0xc, 4, rng.pick([1, 4, 16])),
    cfgWrite(bdf, CAPS.pri + 4, 2, PRI.CTL_ENABLE),
  ];
  if (!input.steps.some((s) => s.op === 'mmio.write' && s.offset === REG.PQA) || rng.chance(0.2)) {
    steps.push(mmioWrite(REG.PQA, 8, pickPage(rng, input) | BigInt(rng.chance(0.8) ? 0 : rng.below(3))));
    steps.push(mmioWrite(REG.PQH, 8, 0n));
  }
  if (rng.chance(0.7)) steps.push(mmioWrite(REG.PECTL, 4, 0n));
  return steps;
}

/** The last value the input wrote to the 8-byte register at `offset`. */
function lastWrite(input: FuzzInput, offset: number): bigint | undefined {
  for (let i = input.steps.length - 1; i >= 0; i--) {
    const s = input.steps[i]!;
    if (s.op === 'mmio.write' && s.offset === offset) return s.value;
  }
  return undefined;
}

/** A page for a new table: a fresh one in a region the seeds do not use (most of the time), or a known one. */
function tablePage(rng: Rng, input: FuzzInput, k: number): bigint {
  const fresh = 0x80_0000n + BigInt(k) * 0x1000n;
  return rng.chance(0.85) && inRam(input.machine, fresh, 0x1000) ? fresh : pickPage(rng, input);
}

/**
 * A consistent scalable-mode chain for one device and PASID (§9.2 root,
 * §9.4 context with PASIDE/PRE, §9.5 directory, §9.6 PASID entry) whose
 * first-stage (or second-stage) table is empty, so every request with that
 * PASID faults recoverably and, with PRI on, becomes a page request; then
 * SRTP (TTM scalable) and TE, keeping QIE when the input has a queue.
 * `pasid` defaults to one the input uses or a random one.
 */
export function smTableSteps(rng: Rng, input: FuzzInput, pasid = knownPasid(rng, input)): Step[] {
  if (!input.machine.iommu.scalable_mode) return [];
  const sid = parseBdf(pickDevice(rng, input));
  const rtaddr = lastWrite(input, REG.RTADDR);
  const root = rtaddr !== undefined && rng.chance(0.5) ? rtaddr & ~0xfffn : tablePage(rng, input, 0);
  const [ctx, dir, table, leaf] = [1, 2, 3, 4].map((k) => tablePage(rng, input, k)) as [bigint, bigint, bigint, bigint];
  const pgtt = rng.pick([PGTT.FIRST_STAGE, PGTT.FIRST_STAGE, PGTT.SECOND_STAGE, PGTT.PASS_THROUGH]);
  const devfn = sid & 0xff;
  const writes: [bigint, bigint[]][] = [
    [root + BigInt(sid >> 8) * 16n, encodeSmRootEntry(devfn < 0x80 ? { LP: true, LCTP: ctx } : { UP: true, UCTP: ctx })],
    [ctx + BigInt(devfn & 0x7f) * 32n, encodeSmContextEntry({ P: true, PASIDE: true, PRE: rng.chance(0.85), PDTS: rng.below(2), PASIDDIRPTR: dir, RID_PASID: rng.chance(0.8) ? 0 : pasid })],
    [dir + BigInt(pasid >> 6) * 8n, encodePasidDirEntry({ P: true, SMPTBLPTR: table })],
    [table + BigInt(pasid & 63) * 64n, encodePasidEntry({ P: true, PGTT: pgtt, AW: 2, DID: rng.below(4), SSPTPTR: leaf, FSPTPTR: leaf })],
  ];
  const steps: Step[] = writes.filter(([gpa, u64]) => inRam(input.machine, gpa, 8 * u64.length)).map(([gpa, u64]) => ({ op: 'mem.write', gpa, u64 }));
  if (inRam(input.machine, leaf, 0x1000) && rng.chance(0.8)) steps.push({ op: 'mem.fill', gpa: leaf, len: 0x1000, byte: 0 });
  const qie = input.steps.some((s) => s.op === 'mmio.write' && s.offset === REG.IQA) ? GCMD.QIE : 0;
  steps.push(mmioWrite(REG.RTADDR, 8, root | (1n << 10n)), mmioWrite(REG.GCMD, 4, BigInt(GCMD.SRTP >>> 0)), mmioWrite(REG.GCMD, 4, BigInt((GCMD.TE | qie) >>> 0)));
  return steps;
}

/** A write to a page-request queue register (§11.4.11): head moves, tail pokes, queue moves, W1C status, mask. */
export function prqRegisterStep(rng: Rng, input: FuzzInput): Step {
  const head = (lastWrite(input, REG.PQH) ?? 0n) + PRQ_DESC * BigInt(rng.between(0, 3));
  switch (rng.below(6)) {
    case 0:
    case 1: return mmioWrite(REG.PQH, 8, rng.chance(0.9) ? head & 0x7ffe0n : interestingValue(rng));
    case 2: return mmioWrite(REG.PQT, 8, rng.chance(0.5) ? head & 0x7ffe0n : interestingValue(rng));
    case 3: return mmioWrite(REG.PRS, 4, BigInt(rng.chance(0.8) ? rng.between(1, 3) : rng.u32()));
    case 4: return mmioWrite(REG.PECTL, 4, BigInt(rng.pick([0, 0x8000_0000, rng.u32()])));
    default: return mmioWrite(REG.PQA, 8, pickPage(rng, input) | BigInt(rng.below(8)));
  }
}

/**
 * A page-group response (type 9) through the invalidation queue to a device
 * of the input, for a page-request group index the device likely has
 * outstanding (they count up from 0) and a PASID its requests used.
 */
export function prqResponseSteps(rng: Rng, input: FuzzInput): Step[] {
  const sid = parseBdf(pickDevice(rng, input));
  const prgi = rng.chance(0.8) ? rng.below(4) : rng.below(0x200);
  const { Success, InvalidRequest, ResponseFailure } = PageResponseCode;
  const code = rng.pick([Success, Success, Success, InvalidRequest, ResponseFailure, rng.below(16)]); // or any 4-bit code
  const pasid = rng.chance(0.8) ? { pasid: knownPasid(rng, input) } : {};
  return qiSteps(rng, input, () => pageGroupResponseDesc(sid, prgi, code, { ...pasid, lpig: rng.chance(0.5) }));
}
