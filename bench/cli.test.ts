/** `viommu bench` argument parsing (host/src/cli/bench.ts). */
import { describe, expect, it } from 'vitest';
import { parseBenchArgs } from '../host/src/cli/bench.js';

describe('viommu bench arguments', () => {
  it('reads every flag and output path', () => {
    expect(parseBenchArgs(['--quick', '--json', 'a.json', '--svg', 'b.svg', '--report', 'c.md', '--no-native', '--no-progress'])).toEqual({
      quick: true, json: 'a.json', svg: 'b.svg', markdown: 'c.md', noNative: true, progress: false,
    });
    expect(parseBenchArgs([])).toEqual({ quick: false, noNative: false, progress: true });
  });

  it('names the argument that is wrong', () => {
    expect(() => parseBenchArgs(['--json'])).toThrow('--json needs a file name');
    expect(() => parseBenchArgs(['--svg', '--quick'])).toThrow('--svg needs a file name');
    expect(() => parseBenchArgs(['--fast'])).toThrow('unknown argument --fast');
  });
});
