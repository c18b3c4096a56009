/**
 * Model-based test of the page-request queue (VT-d §7.5):
 * random sequences of device requests and guest actions (consume, W1C PPR /
 * PRO, mask / unmask PECTL) run against the unit and against a small
 * reference written from the rules; PQT, PRS, PECTL.IP, the MSIs sent and
 * every request's outcome must agree after each step.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GuestIommu } from '../src/guest/guest-iommu.js';
import { guestEnvFor } from '../src/guest/machine-env.js';
import type { PageRequestOutcome } from '../src/vtd/prq/page-request.js';
import { PGTT } from '../src/vtd/spec/pasid-entry.js';
import { encodeSmContextEntry } from '../src/vtd/spec/sm-context-entry.js';
import { createMachine } from '../src/machine.js';
import type { MsiMessage } from '../src/vtd/interrupts.js';

const SID = 0x18;
const PQH = 0xc0, PQT = 0xc8, PQA = 0xd0, PRS = 0xdc, PECTL = 0xe0;
const SLOTS = 128; // one 4 KiB page of 32-byte descriptors
const IM = 0x8000_0000, IP = 0x4000_0000;

type Op =
  | { kind: 'request'; lpig: boolean; stop: boolean }
  | { kind: 'consume'; n: number }
  | { kind: 'prs'; bits: number }
  | { kind: 'mask'; on: boolean };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 12, arbitrary: fc.record({ kind: fc.constant('request' as const), lpig: fc.boolean(), stop: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('consume' as const), n: fc.integer({ min: 0, max: 140 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('prs' as const), bits: fc.integer({ min: 0, max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('mask' as const), on: fc.boolean() }) },
);

/** The reference: ring indices in slots, status bits, event state. */
class Ref {
  head = 0;
  tail = 0;
  ppr = false;
  pro = false;
  im = false;
  ip = false;
  msis = 0;

  request(lpig: boolean, stop: boolean): PageRequestOutcome {
    const last = lpig || stop;
    if (this.pro) return last && !stop ? { autoResponse: 0 } : 'dropped';
    if ((this.tail + 1) % SLOTS === this.head) {
      this.setStatus('pro');
      return last && !stop ? { autoResponse: 0 } : 'dropped';
    }
    this.tail = (this.tail + 1) % SLOTS;
    this.setStatus('ppr');
    return 'queued';
  }

  private setStatus(bit: 'ppr' | 'pro'): void {
    const first = !this.ppr && !this.pro;
    this[bit] = true;
    if (!first) return;
    if (this.im) this.ip = true;
    else this.msis++;
  }

  consume(n: number): void {
    const pending = (this.tail - this.head + SLOTS) % SLOTS;
    this.head = (this.head + Math.min(n, pending)) % SLOTS;
  }

  prs(bits: number): void {
    if (bits & 1) this.ppr = false;
    if (bits & 2) this.pro = false;
    if (!this.ppr && !this.pro) this.ip = false;
  }

  mask(on: boolean): void {
    this.im = on;
    if (!on && this.ip) {
      this.msis++;
      this.ip = false;
    }
  }
}

describe('page-request queue against a reference model', () => {
  it('PQT, PRS, PECTL and MSIs agree after every step', async () => {
    const msis: MsiMessage[] = [];
    const m = await createMachine({ profile: 'default', ramMib: 32, onInterrupt: (x) => msis.push(x) });
    const env = guestEnvFor(m);
    const g = new GuestIommu(env, 'scalable');
    const { pasids } = g.attachScalable(SID, { did: 1, pgtt: PGTT.FIRST_STAGE });
    g.ctx.setContext(SID, encodeSmContextEntry({ P: true, PASIDE: true, PRE: true, PASIDDIRPTR: pasids!.directory }));
    g.start();
    const queue = env.alloc.alloc();
    const wr = (off: number, v: bigint, size: 4 | 8 = 4) => m.vtd.mmioWrite(off, size, v);
    const rd = (off: number, size: 4 | 8 = 4) => m.vtd.mmioRead(off, size);

    await fc.assert(fc.asyncProperty(fc.array(opArb, { minLength: 50, maxLength: 400 }), async (ops) => {
      wr(PQH, 0n, 8);
      wr(PQT, 0n, 8);
      wr(PQA, queue, 8);
      wr(PRS, 3n);
      wr(PECTL, 0n);
      msis.length = 0;
      const ref = new Ref();
      let prgi = 0;
      for (const op of ops) {
        if (op.kind === 'request') {
          const out = m.vtd.submitPageRequest({
            sid: SID, pasid: 0, addr: 0x1000n, read: !op.stop, write: false, exec: false, priv: false,
            prgi: prgi++ % 512, lpig: op.lpig || op.stop,
          });
          expect(out).toEqual(ref.request(op.lpig, op.stop));
        } else if (op.kind === 'consume') {
          ref.consume(op.n);
          wr(PQH, BigInt(ref.head * 32), 8);
        } else if (op.kind === 'prs') {
          ref.prs(op.bits);
          wr(PRS, BigInt(op.bits));
        } else {
          ref.mask(op.on);
          wr(PECTL, op.on ? BigInt(IM) : 0n);
        }
        expect(Number(rd(PQT, 8))).toBe(ref.tail * 32);
        expect(Number(rd(PRS))).toBe((ref.ppr ? 1 : 0) | (ref.pro ? 2 : 0));
        expect(Number(rd(PECTL))).toBe((ref.im ? IM : 0) + (ref.ip ? IP : 0));
        expect(msis.filter((x) => x.source === 'page-request')).toHaveLength(ref.msis);
      }
    }), { numRuns: 40 });
  });
});
