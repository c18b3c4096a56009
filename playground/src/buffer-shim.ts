/**
 * The replay runner (host/src/cli/replay.ts) formats observed bytes with
 * Node's `Buffer.from(bytes).toString('hex')`. esbuild injects this module
 * wherever the bundle names `Buffer`, so the real runner works in the page.
 * Only the one call the runner makes is provided.
 */
class HexBuffer {
  private constructor(private readonly bytes: Uint8Array) {}

  /** Wraps bytes (no copy). */
  static from(bytes: Uint8Array): HexBuffer {
    return new HexBuffer(bytes);
  }

  /** Lowercase hex; any other encoding is an error. */
  toString(encoding: string): string {
    if (encoding !== 'hex') throw new Error(`encoding: only "hex" is available in the browser, got ${encoding}`);
    let s = '';
    for (const b of this.bytes) s += b.toString(16).padStart(2, '0');
    return s;
  }
}

export { HexBuffer as Buffer };
