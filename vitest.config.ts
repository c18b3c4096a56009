import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['asm/tests/**/*.test.ts', 'host/tests/**/*.test.ts', 'firmware-tests/**/*.test.ts', 'bench/**/*.test.ts', 'fuzz/**/*.test.ts', 'tools/**/*.test.ts', 'playground/tests/**/*.test.ts', 'examples/**/*.test.ts'],
    reporters: ['default', './tools/count-reporter.ts'],
    globalSetup: ['./tools/test-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
