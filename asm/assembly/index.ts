// The core's sole export surface (docs/ABI.md). Numbers in, numbers out:
// 64-bit values cross as (hi, lo) u32 pairs or as f64 below 2^53; results
// of translate() go to the out-buffer at outPtr(). The core imports its
// memory (`env.memory`) and the state region it may use (`env.stateBase`,
// `env.stateBytes`); the memory is exported again as `memory`.

import {
  BATCH_CAPACITY, CFG_COUNT, CFG_HAW, CFG_IOTLB_MAX_ENTRIES, CFG_IOTLB_SETS_LG2, CFG_IOTLB_WAYS, CFG_MGAW, CFG_PASID_BITS, CFG_QUIRKS, QUIRK_IOTLB_FLUSH_WHEN_FULL, ERR_BAD_ARG, ERR_NO_MEMORY,
  STATE_ALIGN, STATE_BYTES_MIN,
} from './abi/layout';
import { cfg, cfgDefaults, cfgInit, cfgStore } from './cfg';
import { heapInit, MAX_BYTES, stateBase as heapStateBase, stateLimit as heapStateLimit, stateUsed as heapStateUsed } from './mem/heap';
import { ramAdd, ramBase, ramCount, ramInit, ramMap, ramOff, ramSize } from './mem/ram';
import { genInit } from './cache/gen';
import { ccInit } from './cache/context-cache';
import { pcInit } from './cache/pasid-cache';
import { pscInit } from './cache/psc';
import { fsDomainsInit } from './cache/fs-domains';
import { scInit } from './cache/setup-cache';
import { iotlbDump as iotlbDumpAll, iotlbResize, iotlbSlots, iotlbSpillReserve } from './cache/iotlb';
import { ccDump } from './cache/context-cache';
import { pcDump } from './cache/pasid-cache';
import { pscDump as pscDumpAll } from './cache/psc';
import { DUMP_RECORD_BYTES } from './cache/dump';
import { codesInit } from './pt/codes';
import { fastInit } from './fast';
import { rootSet, teOn, teSet } from './ctx/device';
import { ptsAddRequester, ptsDumpFlags, ptsInit } from './ctx/pt-space';
import * as inval from './inval/inval';
import { translate as translateOne } from './translate';
import { checkTranslated as checkTranslatedOne } from './translated';
import { OUT, outInit } from './out';
import { STATS, statsClear, statsInit } from './stats';
import { armDmaCopy as armDmaOne, bufAlloc as bufAllocOne, bufInit, bufValid, dmaCopy as dmaCopyOne } from './dma';
import { BATCH, batchInit, translateBatch as batchRun } from './batch';
import { SU_BYTES } from './abi/smmu-layout';
import { armInvVaa as armVaaOne } from './inval/arm-inval';
import { armTranslate as armOne, armTranslateS2 as armS2One } from './pt/arm-translate';

// ---- instantiation ----------------------------------------------------------
// The state region the embedder grants: [stateBase, stateBase + stateBytes)
// of the imported memory, or with stateBytes = 0 everything from stateBase
// up, growing memory on demand (standalone: the memory is the core's own).
// Both 4 KiB aligned; a bounded region lies inside memory and holds at least
// STATE_BYTES_MIN. Read once, by the start function below.
// @ts-ignore: decorator
@external("env", "stateBase") declare const importedStateBase: f64;
// @ts-ignore: decorator
@external("env", "stateBytes") declare const importedStateBytes: f64;

// @ts-ignore: decorator
@inline function isAlignedCount(v: f64): bool {
  return v >= 0 && v == Math.floor(v) && v < <f64>MAX_BYTES && (<u64>v & (STATE_ALIGN - 1)) == 0;
}

// Claim the state region and allocate every table in it. An unusable region
// fails instantiation (a trap in the start function): nothing has been
// written outside the region. The host wrapper checks the same conditions
// first and names the bad argument.
function init(): void {
  const b = importedStateBase;
  const n = importedStateBytes;
  if (!isAlignedCount(b) || !isAlignedCount(n)) unreachable();
  // A build with static data (the coverage build's counter map; the
  // compiler reserves the first 1 KiB even without any) keeps it below the
  // state region. The release build has none.
  if (<u64>__heap_base > 1024 && <u64>b < <u64>__heap_base) unreachable();
  if (n != 0 && (n < <f64>STATE_BYTES_MIN || b + n > <f64>(<u64>memory.size() << 16))) unreachable();
  heapInit(<u64>b, <u64>n);
  const ok = cfgInit() && statsInit() && outInit() && batchInit() && genInit() && scInit() && ccInit() && pcInit() &&
    pscInit() && fsDomainsInit() && ptsInit() && codesInit() && ramInit() && bufInit() && fastInit();
  if (!ok) unreachable();
  cfgDefaults();
  if (!iotlbResize(cfg(CFG_IOTLB_SETS_LG2), cfg(CFG_IOTLB_WAYS))) unreachable();
}
init();

/** First byte of the state region. */
export function stateBase(): f64 { return <f64>heapStateBase(); }
/** End of the state region (exclusive; 4 GiB when it grows with memory). */
export function stateLimit(): f64 { return <f64>heapStateLimit(); }
/** Bytes of the state region in use (tables, RAM carved by ramAddRegion, device buffers). */
export function stateUsed(): f64 { return <f64>heapStateUsed(); }

// @ts-ignore: decorator
@inline function u64of(hi: u32, lo: u32): u64 { return (<u64>hi << 32) | lo; }

// ---- memory -----------------------------------------------------------------
/** Add a guest RAM region carved from the state region; returns its index or a negative ERR_*. */
export function ramAddRegion(baseGpa: f64, size: f64): i32 { return ramAdd(baseGpa, size); }
/** Add a guest RAM region over the embedder's bytes at memOffset; returns its index or a negative ERR_*. */
export function ramMapRegion(baseGpa: f64, size: f64, memOffset: f64): i32 { return ramMap(baseGpa, size, memOffset); }
/** Byte offset of region i in `memory`. */
export function ramRegionOffset(i: u32): f64 { return <f64>ramOff(i); }
/** Number of RAM regions. */
export function ramRegionCount(): u32 { return ramCount(); }
/** Guest-physical base of region i. */
export function ramRegionBase(i: u32): f64 { return <f64>ramBase(i); }
/** Size of region i in bytes. */
export function ramRegionSize(i: u32): f64 { return <f64>ramSize(i); }

// ---- configuration ------------------------------------------------------------
/** Set CFG_* `key`; returns 0, ERR_BAD_ARG (unknown key, value out of
 *  range) or ERR_NO_MEMORY (a larger IOTLB, or the IOTLB spill area that
 *  QUIRK_IOTLB_FLUSH_WHEN_FULL reserves, does not fit the state region).
 *  Empties every cache (IOTLB geometry changes resize the IOTLB). */
export function setConfig(key: u32, value: u32): i32 {
  if (key >= CFG_COUNT) return ERR_BAD_ARG;
  if (key == CFG_IOTLB_SETS_LG2 && value > 12) return ERR_BAD_ARG;
  if (key == CFG_IOTLB_WAYS && (value < 1 || value > 16)) return ERR_BAD_ARG;
  if (key == CFG_MGAW && (value < 30 || value > 64)) return ERR_BAD_ARG;
  if (key == CFG_HAW && (value < 32 || value > 52)) return ERR_BAD_ARG;
  if (key == CFG_PASID_BITS && value > 20) return ERR_BAD_ARG;
  if (key == CFG_IOTLB_MAX_ENTRIES && (value < 1 || value > 1024)) return ERR_BAD_ARG;
  if (key == CFG_QUIRKS && (value & QUIRK_IOTLB_FLUSH_WHEN_FULL) != 0 && !iotlbSpillReserve()) return ERR_NO_MEMORY;
  if (key == CFG_IOTLB_SETS_LG2 || key == CFG_IOTLB_WAYS) {
    const sLg2 = key == CFG_IOTLB_SETS_LG2 ? value : cfg(CFG_IOTLB_SETS_LG2);
    const w = key == CFG_IOTLB_WAYS ? value : cfg(CFG_IOTLB_WAYS);
    if (!iotlbResize(sLg2, w)) return ERR_NO_MEMORY;
  }
  cfgStore(key, value);
  inval.invalidateAll();
  return 0;
}
/** The value of CFG_* `key` (0 for an unknown key). */
export function getConfig(key: u32): u32 { return key < CFG_COUNT ? cfg(key) : 0; }
/** IOTLB entry slots (sets * ways). */
export function iotlbCapacity(): u32 { return iotlbSlots(); }

// ---- root table and enable -------------------------------------------------------
/** SRTP: latch the root-table address and TTM; invalidates every cache (ESRTPS). */
export function setRootTable(hi: u32, lo: u32, ttm: u32): void {
  rootSet(u64of(hi, lo), ttm);
  inval.invalidateAll();
}
/** GSTS.TES. A change empties every cache. */
export function setTranslationEnabled(on: u32): void {
  if ((on != 0) == teOn) return;
  teSet(on != 0);
  inval.invalidateAll();
}
/** Announce a device (requester id) behind the unit before its first
 *  request (QUIRK_PT_STICKY decides its address space at events). */
export function addRequester(sid: u32): void { ptsAddRequester(sid); }

// ---- translation -------------------------------------------------------------------
/** Translate one request; returns 0 or the fault reason; see outPtr(). */
export function translate(sid: u32, pasid: u32, iovaHi: u32, iovaLo: u32, access: u32): u32 {
  return translateOne(sid, pasid, u64of(iovaHi, iovaLo), access);
}
/** Check a translated request (ATS, AT=10b) of len bytes at addr from sid:
 *  0, a fault reason (out-buffer filled as for translate), or TRANSLATED_UR. */
export function checkTranslated(sid: u32, addrHi: u32, addrLo: u32, len: u32, access: u32): u32 {
  return len == 0 ? <u32>ERR_BAD_ARG : checkTranslatedOne(sid, u64of(addrHi, addrLo), len, access);
}
/** Offset of the out-buffer (OUT_* u32 words). */
export function outPtr(): u32 { return <u32>OUT; }

// ---- DMA and batch -------------------------------------------------------------------
/** Reserve a device buffer; returns its offset (0 = no memory). */
export function bufAlloc(size: u32): u32 { return bufAllocOne(size); }
/** Translate and copy len bytes between guest RAM and a buffer. */
export function dmaCopy(sid: u32, pasid: u32, iovaHi: u32, iovaLo: u32, len: u32, access: u32, bufOff: u32): u32 {
  return dmaCopyOne(sid, pasid, u64of(iovaHi, iovaLo), len, access, bufOff);
}
/** Offset of the batch request ring. */
export function batchPtr(): u32 { return <u32>BATCH; }
/** Number of records the ring holds. */
export function batchCapacity(): u32 { return BATCH_CAPACITY; }
/** Run records 0..n-1; returns how many succeeded. */
export function translateBatch(n: u32, copy: u32): u32 { return batchRun(n, copy); }

// ---- invalidation -----------------------------------------------------------------------
/** Every cache. */
export function invalidateAll(): void { inval.invalidateAll(); }
/** Context cache, global. */
export function invContextGlobal(): void { inval.invContextGlobal(); }
/** Context cache, domain-selective. */
export function invContextDomain(did: u32): void { inval.invContextDomain(did & 0xffff); }
/** Context cache, device-selective (sid with function mask fm). */
export function invContextDevice(did: u32, sid: u32, fm: u32): void { inval.invContextDevice(did & 0xffff, sid, fm & 3); }
/** IOTLB + PSC, global. */
export function invIotlbGlobal(): void { inval.invIotlbGlobal(); }
/** IOTLB + PSC of one domain. */
export function invIotlbDomain(did: u32): void { inval.invIotlbDomain(did & 0xffff); }
/** IOTLB page-selective in a domain: 2^am pages; ih=1 keeps PSC. */
export function invIotlbPage(did: u32, addrHi: u32, addrLo: u32, am: u32, ih: u32): void {
  inval.invIotlbPage(did & 0xffff, u64of(addrHi, addrLo), am, ih & 1);
}
/** PASID-based IOTLB, PASID-selective. */
export function invPasidIotlb(did: u32, pasid: u32): void { inval.invPasidIotlb(did & 0xffff, pasid & 0xfffff); }
/** PASID-based IOTLB, page-selective. */
export function invPasidIotlbPage(did: u32, pasid: u32, addrHi: u32, addrLo: u32, am: u32, ih: u32): void {
  inval.invPasidIotlbPage(did & 0xffff, pasid & 0xfffff, u64of(addrHi, addrLo), am, ih & 1);
}
/** PASID cache: granularity 0 domain, 1 PASID in domain, 3 global. Returns
 *  0, or ERR_BAD_ARG for granularity 2 (reserved). */
export function invPasidCache(granularity: u32, did: u32, pasid: u32): i32 {
  return inval.invPasidCache(granularity, did & 0xffff, pasid & 0xfffff) ? 0 : ERR_BAD_ARG;
}

// ---- statistics ---------------------------------------------------------------------------
/** Offset of the f64 STAT_* counters. */
export function statsPtr(): u32 { return <u32>STATS; }
/** Zero every counter. */
export function statsReset(): void { statsClear(); }

// ---- cache contents (read-only, off the hot path) ---------------------------------------
// Each writes the live entries with live index first .. first+max-1 as
// 32-byte records (docs/ABI.md) into the device buffer at buf and returns
// how many entries are live, or ERR_BAD_ARG when [buf, buf + 32*max) is not
// inside device buffers. max = 0 only counts.

// @ts-ignore: decorator
@inline function dumpBufOk(buf: u32, max: u32): bool {
  return max == 0 || (max <= (<u32>1 << 20) && bufValid(buf, max * DUMP_RECORD_BYTES));
}
/** Live IOTLB entries. */
export function iotlbDump(buf: u32, first: u32, max: u32): i32 {
  return dumpBufOk(buf, max) ? <i32>iotlbDumpAll(buf, first, max) : ERR_BAD_ARG;
}
/** Live context-cache entries. */
export function contextCacheDump(buf: u32, first: u32, max: u32): i32 {
  if (!dumpBufOk(buf, max)) return ERR_BAD_ARG;
  const count = ccDump(buf, first, max);
  // Flags come from the ctx layer; a function value here would put a static
  // Function object (a data segment) into the binary, which an embedded core
  // cannot have.
  const written = count > first ? min(count - first, max) : 0;
  for (let i: u32 = 0; i < written; i++) {
    const r = <usize>buf + <usize>(i * DUMP_RECORD_BYTES);
    store<u32>(r, ptsDumpFlags(load<u32>(r, 16)), 24);
  }
  return <i32>count;
}
/** Live PASID-cache entries. */
export function pasidCacheDump(buf: u32, first: u32, max: u32): i32 {
  return dumpBufOk(buf, max) ? <i32>pcDump(buf, first, max) : ERR_BAD_ARG;
}
/** Live paging-structure cache entries. */
export function pscDump(buf: u32, first: u32, max: u32): i32 {
  return dumpBufOk(buf, max) ? <i32>pscDumpAll(buf, first, max) : ERR_BAD_ARG;
}

// ---- SMMUv3 front end (docs/ABI.md "SMMUv3 translation") --------------------------------
// The host writes a setup record (abi/smmu-layout.ts) into a device buffer;
// each call checks that [setupOff, setupOff + SU_BYTES) is one.

/** Translate through the setup at setupOff; returns 0, the SMMU event
 *  number, or ERR_BAD_ARG (as u32) for a bad setup offset. */
export function armTranslate(setupOff: u32, iovaHi: u32, iovaLo: u32, access: u32): u32 {
  if (!bufValid(setupOff, SU_BYTES)) return <u32>ERR_BAD_ARG;
  return armOne(setupOff, u64of(iovaHi, iovaLo), access);
}
/** Stage 2 only (a context-descriptor fetch of a nested STE). */
export function armTranslateS2(setupOff: u32, ipaHi: u32, ipaLo: u32, access: u32): u32 {
  if (!bufValid(setupOff, SU_BYTES)) return <u32>ERR_BAD_ARG;
  return armS2One(setupOff, u64of(ipaHi, ipaLo), access);
}
/** Translate and copy len bytes between guest RAM and a device buffer. */
export function armDmaCopy(setupOff: u32, iovaHi: u32, iovaLo: u32, len: u32, access: u32, bufOff: u32): u32 {
  if (!bufValid(setupOff, SU_BYTES) || !bufValid(bufOff, len)) return <u32>ERR_BAD_ARG;
  return armDmaOne(setupOff, u64of(iovaHi, iovaLo), len, access, bufOff);
}
/** TLBI_NH_VAA: stage-1 entries of `vmid`, every ASID, 2^am pages from
 *  the address (leaf != 0 keeps the paging-structure caches). */
export function armInvVaa(vmid: u32, addrHi: u32, addrLo: u32, am: u32, leaf: u32): void {
  armVaaOne(vmid & 0xffff, u64of(addrHi, addrLo), am, leaf != 0);
}
