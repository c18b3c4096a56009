/**
 * The page's state: the machine on show (the default machine, or the one
 * the scenario runner steps through), the event log, and change
 * notification. Every panel reads the machine through its public API and
 * re-renders on `changed()`.
 */
import {
  AtsDevice, DmaTestDevice, SwqDevice, createMachine, formatBdf, type Core, type DeviceConfig, type Machine, type MsiMessage,
} from '../../host/src/browser.js';
import { compileCore, newCore } from './platform.js';

/** Kinds of event-log entries. */
export type EventKind = 'action' | 'log' | 'msi' | 'fault' | 'obs' | 'error';

/** One line of the event log. */
export interface EventEntry {
  readonly kind: EventKind;
  readonly text: string;
}

/**
 * Devices of the default machine on bus 0: two DMA test devices, an ATS
 * device (device-TLB, translation requests, PRI) and a shared work queue
 * device (PASID-tagged descriptors, ENQCMD style).
 */
export const DEFAULT_DEVICES: readonly DeviceConfig[] = [
  { bdf: '00:03.0', kind: 'dma-test' },
  { bdf: '00:04.0', kind: 'dma-test' },
  { bdf: '00:05.0', kind: 'ats' },
  { bdf: '00:06.0', kind: 'swq' },
];

/** A device of the machine on show. */
export interface ShownDevice {
  readonly bdf: string;
  readonly kind: 'dma-test' | 'ats' | 'swq' | 'other';
}

function kindOf(d: unknown): ShownDevice['kind'] {
  if (d instanceof DmaTestDevice) return 'dma-test';
  if (d instanceof AtsDevice) return 'ats';
  if (d instanceof SwqDevice) return 'swq';
  return 'other';
}
const MAX_EVENTS = 500;

/** The page state. */
export class Session {
  machine!: Machine;
  /** What the machine on show is ("default machine", "scenario legacy-4k-roundtrip"). */
  label = '';
  readonly events: EventEntry[] = [];
  private readonly listeners: (() => void)[] = [];

  /** Compiles the core and builds the default machine. */
  static async start(wasmUrl = 'viommu.wasm'): Promise<Session> {
    await compileCore(wasmUrl);
    const s = new Session();
    await s.resetDefault();
    return s;
  }

  /** Replaces the machine on show with a fresh default machine (profile "default"). */
  async resetDefault(profile = 'default'): Promise<void> {
    const m = await createMachine({
      profile,
      devices: DEFAULT_DEVICES,
      ...this.machineHooks(),
    });
    this.show(m, `default machine (profile ${profile})`);
    this.event('action', `new ${this.label}`);
  }

  /** What every machine of the page gets: a fresh core, and its MSIs and log lines in the event log. */
  machineHooks(): { core: Core; onInterrupt: (msi: MsiMessage) => void; log: (msg: string) => void } {
    return { core: newCore(), onInterrupt: (msi) => this.msi(msi), log: (msg) => this.event('log', msg) };
  }

  /** Puts `m` on show. */
  show(m: Machine, label: string): void {
    this.machine = m;
    this.label = label;
    this.changed();
  }

  /** The devices of the machine on show, in requester-id order. */
  get devices(): ShownDevice[] {
    return this.machine.deviceList().map((d) => ({ bdf: formatBdf(d.sid), kind: kindOf(d) }));
  }

  /** Appends an event-log line. */
  event(kind: EventKind, text: string): void {
    this.events.push({ kind, text });
    if (this.events.length > MAX_EVENTS) this.events.shift();
  }

  private msi(m: MsiMessage): void {
    this.event('msi', `MSI ${m.source}: address ${'0x' + m.address.toString(16)} data 0x${m.data.toString(16)}`);
  }

  /** Registers a re-render callback. */
  onChange(fn: () => void): void {
    this.listeners.push(fn);
  }

  /** Tells every panel to re-render. */
  changed(): void {
    for (const fn of this.listeners) fn();
  }

  /**
   * Runs a user action: logs it, reports an Error in the log (and to
   * `onError`, e.g. next to the form it came from) instead of throwing, re-renders.
   */
  act(what: string, fn: () => void | Promise<void>, onError?: (message: string) => void): Promise<void> {
    this.event('action', what);
    return Promise.resolve()
      .then(fn)
      .catch((err: unknown) => {
        const message = err instanceof Error ? err.message : String(err);
        this.event('error', message);
        onError?.(message);
      })
      .finally(() => this.changed());
  }
}
