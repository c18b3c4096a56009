/**
 * Probe `ram-u64`: a guest-RAM u64 read through the number API
 * (`GuestMemory.getUint64`, issue 17: <= 20 ns), with the BigInt API
 * (`readU64`) and `getUint32` beside it. Reads walk 512 addresses of one
 * 4 KiB page of a standalone machine's RAM.
 */
import { createMachine } from '../../host/src/machine.js';
import { medianLoopNs, registerProbe } from './probe.js';

const BASE = 0x90_0000;

registerProbe({
  id: 'ram-u64',
  description: 'guest RAM u64 read through GuestMemory.getUint64 (number API)',
  limit: 20,
  sense: 'max',
  unit: 'ns',
  async measure({ quick }) {
    const m = await createMachine({ ramMib: 16 });
    const ram = m.ram;
    for (let i = 0; i < 512; i++) ram.setUint64(BASE + i * 8, i * 0x1_0001);
    const n = quick ? 200_000 : 2_000_000;
    const measured = medianLoopNs((i) => ram.getUint64(BASE + (i & 511) * 8), n);
    const u32 = medianLoopNs((i) => ram.getUint32(BASE + (i & 511) * 8), n);
    const big = medianLoopNs((i) => Number(ram.readU64(BigInt(BASE + (i & 511) * 8)) & 1n), n >> 2);
    return { measured, beside: { 'getUint32 ns': u32, 'readU64 (BigInt) ns': big } };
  },
});
