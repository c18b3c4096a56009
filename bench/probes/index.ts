/**
 * The bench's probes, one import per file (each registers itself; see
 * probe.ts). Order here is the order in the report.
 */
import './embedding.js';
import './smmu.js';
import './smmu-pri.js';
import './ram.js';
import './ioas.js';
