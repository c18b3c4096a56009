#!/usr/bin/env node
// The `viommu` command: runs the compiled CLI (dist/, built by `npm install` / `npm run build`).
import { main } from '../dist/host/src/cli/main.js';

main(process.argv).then(
  (code) => { process.exitCode = code; },
  (err) => { console.error(`viommu: error: ${err instanceof Error ? err.message : String(err)}`); process.exitCode = 1; },
);
