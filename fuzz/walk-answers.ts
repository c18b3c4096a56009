/**
 * Answers of the translation oracle's reference walks (asm/tests/reference
 * and the oracle's domain lookup), kept and reused while every guest word
 * the walk read still reads the same. A walk is a function of its request,
 * the root and capabilities, and the words it reads, each read's address
 * following from the words before it: the same words give the same path and
 * the same answer, however the memory around them changed and whoever
 * changed it (the guest, a device, a restore, the core's own A/D updates).
 * So an answer is checked word by word before it is reused, never trusted
 * because no write was reported.
 *
 * Answers are kept per machine and root across executions: a mutant writes
 * its parent's tables again after the reset between them, and a DMA's pages
 * are walked again by later DMA there and by the end-of-input check.
 */
import type { GuestMemory } from '../host/src/core/guest-memory.js';

const SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * A kept answer and the words its walk read, in order: `at`, the word's
 * address as a number (-1 beyond 2^53, where no RAM is); `lo`/`hi`, its
 * halves (-1 when it was not RAM: the walk saw "cannot access"); `pages`,
 * the page number of each (what a walk counts as a table page it read).
 */
export interface Answer<T> {
  readonly value: T;
  readonly at: readonly number[];
  readonly lo: readonly number[];
  readonly hi: readonly number[];
  readonly pages: readonly number[];
}

/** Collects the words one walk reads (`read` before each of its reads), then its answer. */
export class WalkRecorder {
  private readonly at: number[] = [];
  private readonly lo: number[] = [];
  private readonly hi: number[] = [];
  private readonly pages: number[] = [];

  constructor(private readonly ram: GuestMemory) {}

  /** The walk reads the u64 at `gpa`, on page `page` (gpa >> 12). */
  read(gpa: bigint, page: number): void {
    const at = gpa >= 0n && gpa <= SAFE_MAX ? Number(gpa) : -1;
    const inRam = this.ram.offsetAt(at, 8) >= 0;
    this.at.push(at);
    this.lo.push(inRam ? this.ram.getUint32(at) : -1);
    this.hi.push(inRam ? this.ram.getUint32(at + 4) : -1);
    this.pages.push(page);
  }

  /** The walk's answer with the words it read. */
  answer<T>(value: T): Answer<T> {
    return { value, at: this.at, lo: this.lo, hi: this.hi, pages: this.pages };
  }
}

/** True when every word `a`'s walk read still reads the same in `ram` (then the walk would give `a.value` again). */
export function stillHolds(a: Answer<unknown>, ram: GuestMemory): boolean {
  for (let i = 0; i < a.at.length; i++) {
    const at = a.at[i]!;
    if (ram.offsetAt(at, 8) < 0) {
      if (a.lo[i] !== -1) return false;
    } else if (ram.getUint32(at) !== a.lo[i] || ram.getUint32(at + 4) !== a.hi[i]) return false;
  }
  return true;
}

/** Answers kept per machine at most (past it they are dropped, all at once): a few dozen requests per input, a few roots per machine. */
export const MAX_ANSWERS = 512;

/** One machine's kept answers, by root (`rootKey`) and request key. */
export class AnswerStore {
  private readonly byRoot = new Map<string, Map<number, Answer<unknown>>>();
  private count = 0;

  /** `capsKey`: the capabilities the answers were computed with (a store serves one set). */
  constructor(readonly capsKey: string) {}

  /** The answers of root `rootKey`. */
  answers(rootKey: string): Map<number, Answer<unknown>> {
    let m = this.byRoot.get(rootKey);
    if (!m) this.byRoot.set(rootKey, (m = new Map()));
    return m;
  }

  /** Keeps `a` under `key` in `answers` (a map `answers(...)` gave), dropping every kept answer first when the store is full. */
  keep(answers: Map<number, Answer<unknown>>, key: number, a: Answer<unknown>): void {
    if (this.count >= MAX_ANSWERS) {
      for (const m of this.byRoot.values()) m.clear();
      this.count = 0;
    }
    if (!answers.has(key)) this.count++;
    answers.set(key, a);
  }
}

/** Stores by machine (any object that stands for one: its guest memory). */
const stores = new WeakMap<object, AnswerStore>();

/** The answer store of `owner` for capabilities `capsKey` (a new, empty one when the capabilities differ). */
export function answerStore(owner: object, capsKey: string): AnswerStore {
  let s = stores.get(owner);
  if (!s || s.capsKey !== capsKey) stores.set(owner, (s = new AnswerStore(capsKey)));
  return s;
}
