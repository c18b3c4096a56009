/**
 * The SMMU's configuration cache (what the CMD_CFGI_* commands of IHI 0070
 * §4.3 invalidate): decoded STEs by StreamID, resolved
 * stream configurations by (StreamID, SubstreamID) each with its setup
 * record in the core, and a per-StreamID index so CFGI_STE / CFGI_CD drop
 * one stream's configurations without scanning the others. It also owns the
 * pool of setup records (the shared bypass record, freed records reused).
 */
import { BYPASS_SETUP, type SmmuCore, type WalkSetup } from './core-abi.js';
import { lookupSte, resolveStream, type ConfigSource, type DecodedSte, type StreamConfig } from './config.js';
import type { SmmuEvent } from './event.js';
import type { Pasid, Sid } from '../types.js';

/** One cached (stream, substream) configuration and its setup record. */
export interface CachedStream { readonly cfg: StreamConfig; readonly setupOff: number; readonly sid: Sid; readonly ssid?: Pasid }

/** The cache key of (sid, ssid): sid above 21 bits, then the SubstreamID or 2^20 for none (no string per request). */
const streamKey = (sid: number, ssid: number | undefined): number => sid * 0x20_0000 + (ssid ?? 0x10_0000);

/** The most (stream, substream) configurations cached at once. */
const MAX_CACHED = 4096;

/** Every StreamID (CFGI_ALL, reset). */
const ALL_SIDS = 0xffff_ffff;

/** Cached STEs and stream configurations over one core's setup records. */
export class StreamCache {
  private readonly stes = new Map<number, DecodedSte>();
  private readonly streams = new Map<number, CachedStream>();
  /** The `streams` keys of each StreamID. */
  private readonly keysBySid = new Map<number, Set<number>>();
  private readonly freeSetups: number[] = [];
  private bypassOff = 0;

  /** A cache that reads tables through `src` and keeps setup records in `arm`'s core. */
  constructor(private readonly arm: SmmuCore, private readonly src: ConfigSource) {}

  /** The cached configuration of (sid, ssid), if any (the DMA fast path: no fetch, no allocation). */
  cached(sid: Sid, ssid: Pasid | undefined): CachedStream | undefined {
    return this.streams.get(streamKey(sid, ssid));
  }

  /** The configuration of (sid, ssid), fetched, resolved and cached on a miss; or its configuration event. */
  resolve(sid: Sid, ssid: Pasid | undefined): CachedStream | { event: SmmuEvent } {
    const key = streamKey(sid, ssid);
    const have = this.streams.get(key);
    if (have) return have;
    const ste = this.ste(sid);
    if ('type' in ste) return { event: ste };
    const cfg = resolveStream(this.src, ste, sid, ssid);
    if (cfg.kind === 'fault') return { event: cfg.event };
    const setupOff = cfg.kind === 'translate' ? this.newSetup(cfg.setup) : this.bypass();
    if (this.streams.size >= MAX_CACHED) this.invalidateSte(0, ALL_SIDS);
    const c = { cfg, setupOff, sid, ssid };
    this.streams.set(key, c);
    let keys = this.keysBySid.get(sid);
    if (keys === undefined) this.keysBySid.set(sid, (keys = new Set()));
    keys.add(key);
    return c;
  }

  /** The cached STE of `sid` (fetched and decoded on a miss), or its configuration event. */
  ste(sid: Sid): DecodedSte | SmmuEvent {
    const have = this.stes.get(sid);
    if (have) return have;
    const got = lookupSte(this.src, sid);
    if (!('type' in got)) this.stes.set(sid, got);
    return got;
  }

  /** The shared setup record of bypass (input address = output address). */
  bypass(): number {
    if (this.bypassOff === 0) this.bypassOff = this.newSetup(BYPASS_SETUP);
    return this.bypassOff;
  }

  /** A setup record holding `s` (a freed one when there is one); the caller frees it with `freeSetup` unless the cache keeps it. */
  newSetup(s: WalkSetup): number {
    const off = this.freeSetups.pop() ?? this.arm.allocSetup();
    if (off === 0) throw new Error('core: out of memory for SMMU setup records');
    this.arm.writeSetup(off, s);
    return off;
  }

  /** Returns a record `newSetup` gave for reuse. */
  freeSetup(off: number): void {
    this.freeSetups.push(off);
  }

  /**
   * Drops cached STEs of stream ids first..last and every configuration
   * derived from them: by StreamID when the range is narrower than what is
   * cached (CFGI_STE), else over what is cached (CFGI_ALL, wide ranges).
   */
  invalidateSte(first: Sid, last: Sid): void {
    if (last - first < this.stes.size + this.keysBySid.size) {
      for (let sid = first; sid <= last; sid++) this.dropSid(sid);
      return;
    }
    // Deleting the entry a Map iteration is at is safe: no copy of the maps per command.
    for (const sid of this.stes.keys()) if (sid >= first && sid <= last) this.stes.delete(sid);
    for (const sid of this.keysBySid.keys()) if (sid >= first && sid <= last) this.dropSid(sid);
  }

  /** Drops everything (reset, restore, SMMUEN changes). */
  clear(): void {
    this.invalidateSte(0, ALL_SIDS);
  }

  /** Drops the cached configuration of (sid, ssid), or of every substream of sid (CFGI_CD / CFGI_CD_ALL). */
  invalidateCd(sid: Sid, ssid: Pasid | undefined): void {
    const keys = this.keysBySid.get(sid);
    if (keys === undefined) return;
    for (const k of keys) {
      const s = this.streams.get(k)!;
      // A request without SubstreamID may use CD 0 (S1DSS): it goes with SSID 0.
      if (ssid !== undefined && s.ssid !== ssid && !(ssid === 0 && s.ssid === undefined)) continue;
      this.dropStream(k);
      keys.delete(k);
    }
    if (keys.size === 0) this.keysBySid.delete(sid);
  }

  /** Drops StreamID `sid`'s cached STE and configurations. */
  private dropSid(sid: number): void {
    this.stes.delete(sid);
    const keys = this.keysBySid.get(sid);
    if (keys === undefined) return;
    for (const k of keys) this.dropStream(k);
    this.keysBySid.delete(sid);
  }

  /** Drops the cached configuration under `key` and frees its setup record (its StreamID's key set is the caller's). */
  private dropStream(key: number): void {
    const s = this.streams.get(key);
    if (s === undefined) return;
    this.streams.delete(key);
    if (s.setupOff !== this.bypassOff) this.freeSetups.push(s.setupOff);
  }
}
