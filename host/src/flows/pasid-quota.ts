/**
 * pasid-quota: host PASIDs come from the global namespace through
 * allocation sets with quotas (one per VM, as ENQCMD needs one PASID
 * namespace across devices). A VM over its quota gets EDQUOT; a PASID
 * another VM holds cannot be taken or mapped (EBUSY); a device's own
 * namespace is separate; destroying a set frees its PASIDs and drops the
 * guest mappings onto them.
 */
import { Checks, errnoOf, type Flow, type FlowIo, type FlowResult } from './flow.js';
import { bootHost } from './guest-side.js';

async function run(io: FlowIo): Promise<FlowResult> {
  const c = new Checks(io);
  const { platform } = await bootHost();
  const a = platform.createContext('vm-a');
  const b = platform.createContext('vm-b');
  const setA = a.pasidSetAlloc(2);
  const setB = b.pasidSetAlloc(4);
  const [p1, p2] = [a.pasidAlloc(setA), a.pasidAlloc(setA)];
  const over = errnoOf(() => a.pasidAlloc(setA));
  io.say(`vm-a set (quota 2): PASIDs ${p1}, ${p2}; a third: ${over}`);
  c.that(over === 'EDQUOT', 'allocation over the quota fails with EDQUOT');

  const q1 = b.pasidAlloc(setB);
  const stolen = errnoOf(() => b.pasidAlloc(setB, p1));
  io.say(`vm-b set (quota 4): PASID ${q1}; asking for vm-a's ${p1}: ${stolen}`);
  c.that(q1 !== p1 && q1 !== p2 && stolen !== 'ok', 'the global namespace never hands one PASID to two sets');

  a.guestPasidMap(10, p1);
  const foreign = errnoOf(() => b.guestPasidMap(10, p1));
  io.say(`vm-a maps guest PASID 10 -> ${p1}; vm-b mapping its guest PASID 10 onto ${p1}: ${foreign}`);
  c.that(foreign === 'EBUSY', 'a VM cannot map its guest PASID onto another VM\'s host PASID');

  const dev = a.bindDevice(platform.openDevice(0x0318));
  const local = a.devicePasidAlloc(dev, p1);
  io.say(`device namespace of pRID 0x318 (bound to vm-a): PASID ${local} allocated independently of the global set`);
  c.that(local === p1, 'a per-device namespace is separate from the global one');

  const before = platform.usage().pasids;
  a.destroy(setA);
  io.say(`vm-a destroys its set: PASIDs in use ${before} -> ${platform.usage().pasids}; guest PASID 10 mapped: ${a.guestPasids.hostOf(10) !== undefined}`);
  c.that(platform.usage().pasids === before - 2 && a.guestPasids.size === 0, 'destroying the set freed its PASIDs and dropped the guest mapping');
  const reuse = b.pasidAlloc(setB, p1);
  c.that(reuse === p1, 'a freed PASID can be allocated by another VM');
  a.close();
  b.close();
  c.that(platform.usage().pasids === 0 && platform.usage().objects === 0, 'teardown leaves no PASIDs or objects');
  io.say(`teardown: PASIDs ${platform.usage().pasids}, objects ${platform.usage().objects}`);
  return c.result();
}

/** The flow. */
export const pasidQuota: Flow = { name: 'pasid-quota', summary: 'PASID allocation sets, quota errors, teardown', run };
