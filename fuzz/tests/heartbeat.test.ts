/**
 * The worker heartbeat (fuzz/heartbeat.ts): the input it records, from each
 * step's kept JSON (input.ts scenarioText), is the plain `formatScenarioDoc(toScenarioDoc(...))` text of the input, over
 * seeds, VM variants and generations of mutants that share steps.
 */
import { describe, expect, it } from 'vitest';
import { heartbeatCount, heartbeatInput, heartbeatText, HeartbeatWriter, newHeartbeat } from '../heartbeat.js';
import { formatScenarioDoc, scenarioText, toScenarioDoc } from '../input.js';
import { mutate } from '../mutate.js';
import { Rng } from '../rng.js';
import { goldenDir, loadInputs, withVmmVariants } from '../seeds.js';

const seeds = withVmmVariants(loadInputs([goldenDir()]));

describe('fuzz heartbeat', () => {
  it('records every input as its scenario file text (formatScenarioDoc of toScenarioDoc), and the main thread reads it back', () => {
    const buffer = newHeartbeat();
    const writer = new HeartbeatWriter(buffer);
    const rng = new Rng(5);
    const pool = [...seeds];
    for (let i = 0; i < 1500; i++) {
      const input = i < seeds.length ? seeds[i]! : mutate(pool[rng.below(pool.length)]!, rng, pool).input;
      if (i >= seeds.length && i % 3 === 0) pool.push(input);
      writer.record(input);
      expect(heartbeatText(buffer)).toBe(formatScenarioDoc(toScenarioDoc(input, 'hang', '')));
      expect(heartbeatCount(buffer)).toBe(i + 1);
      if (i % 50 === 0) expect(toScenarioDoc(heartbeatInput(buffer)!, 'hang', '')).toEqual(toScenarioDoc(input, 'hang', ''));
    }
  });

  it('scenarioText is the scenario file text of an input, with extra fields and with no steps', () => {
    const extra = { finding: { kind: 'hang', step: -1, message: 'm "quoted"' } };
    for (const input of [...seeds.filter((_s, i) => i % 40 === 0), { ...seeds[0]!, steps: [] }]) {
      expect(scenarioText(input, 'n', 'd', extra)).toBe(formatScenarioDoc(toScenarioDoc(input, 'n', 'd', extra)));
    }
  });

  it('records an input too long for the buffer as none, and still counts the execution', () => {
    const input = seeds.find((s) => s.steps.length > 20)!;
    const full = new TextEncoder().encode(formatScenarioDoc(toScenarioDoc(input, 'hang', ''))).length;
    for (const room of [64, full - 300, full - 1]) { // the head, a step, or the closing bytes do not fit
      const buffer = newHeartbeat(room);
      const writer = new HeartbeatWriter(buffer);
      writer.record(input);
      expect(heartbeatCount(buffer)).toBe(1);
      expect(heartbeatInput(buffer)).toBeUndefined();
    }
    const exact = newHeartbeat(full);
    new HeartbeatWriter(exact).record(input);
    expect(heartbeatText(exact)).toBe(formatScenarioDoc(toScenarioDoc(input, 'hang', '')));
  });
});
