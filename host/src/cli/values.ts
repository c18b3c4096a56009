/**
 * Value parsers for the CLI's options and arguments. Each throws commander's
 * InvalidArgumentError, so a bad value is reported the same way everywhere:
 * `viommu: error: option '--aw <bits>' argument 'banana' is invalid. expected one of 39, 48, 57`.
 */
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { InvalidArgumentError } from 'commander';

/** An integer in min..max (decimal, or 0x hex). */
export function integerIn(min: number, max: number): (text: string) => number {
  return (text) => {
    const v = /^0x[0-9a-f]+$/i.test(text) ? parseInt(text, 16) : /^-?[0-9]+$/.test(text) ? Number(text) : NaN;
    if (!Number.isSafeInteger(v) || v < min || v > max) throw new InvalidArgumentError(`expected an integer in ${min}..${max}`);
    return v;
  };
}

/** One of `values` (numbers are matched by their decimal text). */
export function oneOf<T extends string | number>(values: readonly T[]): (text: string) => T {
  return (text) => {
    const v = values.find((x) => String(x) === text);
    if (v === undefined) throw new InvalidArgumentError(`expected one of ${values.join(', ')}`);
    return v;
  };
}

/** Why `path` cannot be written as a file, or undefined when it can (the file need not exist). */
export function unwritable(path: string): string | undefined {
  const full = resolve(path);
  if (existsSync(full)) {
    if (statSync(full).isDirectory()) return 'is a directory';
    try {
      accessSync(full, constants.W_OK);
      return undefined;
    } catch {
      return 'is not writable';
    }
  }
  const dir = dirname(full);
  if (!existsSync(dir)) return `its folder ${dir} does not exist`;
  try {
    accessSync(dir, constants.W_OK);
    return undefined;
  } catch {
    return `its folder ${dir} is not writable`;
  }
}
