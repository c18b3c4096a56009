/**
 * QEMU's vocabulary for the unit: a `-device intel-iommu,...` property string
 * (`caching-mode=on,aw-bits=48,x-scalable-mode=on,...`) read with QEMU's
 * property names, value syntax and defaults, and QEMU's realize-time checks,
 * mapped onto the options of the `qemu-7.2` / `qemu-10.0` profiles. Built
 * from the same string, those profiles present the register values the real
 * QEMU presents (host/tests/data/qemu-device-registers.json, recorded by
 * tools/qemu-device/record-registers.ts) and refuse the strings QEMU refuses.
 *
 * The machine QEMU is compared with is q35 under TCG (no KVM): `intremap=auto`
 * means on, and `eim=auto` means on only with `x-buggy-eim=on`.
 */
import type { IommuOptions } from './profiles.js';

/** A property's QEMU type: how its value is written. */
export type PropType = 'bool' | 'on-off-auto' | 'uint8' | 'uint32';

/** What one QEMU version's intel-iommu has. */
export interface QemuDeviceModel {
  /** QEMU's name for it in messages ("QEMU 7.2"). */
  readonly qemu: string;
  /** Every property: its type and QEMU's default (as QEMU's `-device intel-iommu,help` prints them). */
  readonly properties: Readonly<Record<string, { readonly type: PropType; readonly default: string }>>;
  /** `eim=on` needs KVM's split irqchip (QEMU 7.2); a machine without KVM refuses it. */
  readonly eimOnNeedsKvm: boolean;
  /** Has `x-flts` (first stage only): its aw-bits rule and message differ. */
  readonly firstStage: boolean;
}

const COMMON: QemuDeviceModel['properties'] = {
  version: { type: 'uint32', default: '0' },
  eim: { type: 'on-off-auto', default: 'auto' },
  'x-buggy-eim': { type: 'bool', default: 'off' },
  'caching-mode': { type: 'bool', default: 'off' },
  'x-scalable-mode': { type: 'bool', default: 'off' },
  'snoop-control': { type: 'bool', default: 'off' },
  'x-pasid-mode': { type: 'bool', default: 'off' },
  'dma-drain': { type: 'bool', default: 'on' },
  'dma-translation': { type: 'bool', default: 'on' },
  intremap: { type: 'on-off-auto', default: 'auto' },
  'device-iotlb': { type: 'bool', default: 'off' },
  pt: { type: 'bool', default: 'on' },
};

/** The QEMU versions the profiles reproduce, by profile name. */
export const QEMU_DEVICES: Readonly<Record<string, QemuDeviceModel>> = {
  'qemu-7.2': {
    qemu: 'QEMU 7.2', eimOnNeedsKvm: true, firstStage: false,
    properties: { ...COMMON, 'aw-bits': { type: 'uint8', default: '39' } },
  },
  'qemu-10.0': {
    qemu: 'QEMU 10.0', eimOnNeedsKvm: false, firstStage: true,
    properties: {
      ...COMMON, 'aw-bits': { type: 'uint8', default: '48' },
      'x-flts': { type: 'bool', default: 'off' }, fs1gp: { type: 'bool', default: 'on' },
      'stale-tm': { type: 'bool', default: 'off' },
    },
  },
};

/** Properties every `-device` takes (qdev's own); accepted and without effect on the unit. */
const QDEV_PROPERTIES = new Set(['id']);

/** The QEMU device model of a profile; throws naming `profile` when the profile is not QEMU's. */
export function qemuDeviceModel(profile: string): QemuDeviceModel {
  const m = Object.hasOwn(QEMU_DEVICES, profile) ? QEMU_DEVICES[profile] : undefined;
  if (!m) {
    throw new Error(`profile: a QEMU -device property string needs profile ${Object.keys(QEMU_DEVICES).map((p) => `"${p}"`).join(' or ')}, not ${JSON.stringify(profile)}`);
  }
  return m;
}

/** QEMU's bool spellings (qapi_bool_parse). */
const BOOL: Readonly<Record<string, boolean>> = { on: true, yes: true, true: true, y: true, off: false, no: false, false: false, n: false };

/** A QEMU integer (parse_uint with base 0: decimal, 0x hex, 0 octal) within `max`, else undefined. */
function qemuUint(text: string, max: number): number | undefined {
  const v = /^0x[0-9a-f]+$/i.test(text) ? parseInt(text.slice(2), 16)
    : /^0[0-7]*$/.test(text) ? parseInt(text, 8)
      : /^[1-9][0-9]*$/.test(text) ? Number(text) : undefined;
  return v !== undefined && v <= max ? v : undefined;
}

/** Parses one value of `type`; throws QEMU's complaint, naming the property. */
function parseValue(name: string, type: PropType, text: string): boolean | number | 'auto' {
  switch (type) {
    case 'bool':
      if (Object.hasOwn(BOOL, text)) return BOOL[text]!;
      throw new Error(`device: property ${name}: expects 'on' or 'off', got ${JSON.stringify(text)}`);
    case 'on-off-auto':
      if (text === 'auto') return 'auto';
      if (text === 'on' || text === 'off') return text === 'on';
      throw new Error(`device: property ${name}: expects on, off or auto, got ${JSON.stringify(text)}`);
    default: {
      const max = type === 'uint8' ? 0xff : 0xffff_ffff;
      const v = qemuUint(text, max);
      if (v === undefined) throw new Error(`device: property ${name}: expects an integer in 0..${max}, got ${JSON.stringify(text)}`);
      return v;
    }
  }
}

/** The `name=value` items of a property string, without `-device` and the driver name. */
function items(text: string): string[] {
  const parts = text.trim().replace(/^-device\s+/, '').split(',').map((p) => p.trim());
  if (parts[0] === 'intel-iommu' || parts[0] === 'driver=intel-iommu') parts.shift();
  else if (parts[0] && !parts[0].includes('=') && /^[a-z0-9-]+-iommu$/.test(parts[0])) {
    throw new Error(`device: ${JSON.stringify(parts[0])} is not intel-iommu, the device this model is`);
  }
  return parts.filter((p) => p !== '');
}

/** The property values a string sets (later settings win, as in QEMU), with QEMU's defaults for the rest. */
function propertyValues(model: QemuDeviceModel, text: string): Map<string, boolean | number | 'auto'> {
  const values = new Map<string, boolean | number | 'auto'>();
  for (const [name, p] of Object.entries(model.properties)) values.set(name, parseValue(name, p.type, p.default));
  for (const item of items(text)) {
    const eq = item.indexOf('=');
    const name = eq < 0 ? item : item.slice(0, eq);
    if (QDEV_PROPERTIES.has(name)) continue;
    const p = Object.hasOwn(model.properties, name) ? model.properties[name] : undefined;
    if (!p) {
      throw new Error(`device: ${model.qemu}'s intel-iommu has no property ${JSON.stringify(name)} (it has: ${Object.keys(model.properties).sort().join(', ')})`);
    }
    // A bare name is QEMU's deprecated short form of name=on (booleans only).
    values.set(name, parseValue(name, p.type, eq < 0 && p.type === 'bool' ? 'on' : item.slice(eq + 1)));
  }
  return values;
}

/** intremap and eim as QEMU resolves them on a machine without KVM. */
function interruptRemapping(model: QemuDeviceModel, v: Map<string, boolean | number | 'auto'>): { ir: boolean; eim: boolean } {
  const ir = v.get('intremap') !== false; // auto: on unless KVM's in-kernel irqchip, which this machine has not
  const eim = v.get('eim');
  if (eim === true && !ir) throw new Error('device: property eim: eim=on cannot be selected without intremap=on');
  if (eim === true && model.eimOnNeedsKvm && v.get('x-buggy-eim') !== true) {
    throw new Error(`device: property eim: ${model.qemu} allows eim=on only with accel=kvm,kernel-irqchip=split, which this machine is not (x-buggy-eim=on forces it)`);
  }
  return { ir, eim: eim === 'auto' ? ir && v.get('x-buggy-eim') === true : eim === true };
}

/**
 * Reads a QEMU `-device intel-iommu,...` property string for `profile`
 * (`qemu-7.2` or `qemu-10.0`) into the profile's options: every option set,
 * QEMU's defaults where the string is silent. Accepts the string with or
 * without `-device ` and `intel-iommu,`. Throws an `Error` naming the
 * property for an unknown property, a bad value, or a property this model
 * does not implement (`stale-tm=on`); `createProfile` then applies QEMU's
 * checks of combinations.
 */
export function parseQemuDevice(text: string, profile: string): IommuOptions {
  if (typeof text !== 'string') throw new Error('device: expected a string such as "intel-iommu,caching-mode=on,aw-bits=48"');
  const model = qemuDeviceModel(profile);
  const v = propertyValues(model, text);
  if (v.get('stale-tm') === true) {
    throw new Error('device: property stale-tm: on is not supported (this model does not implement the second-stage TM bit); leave it off');
  }
  const aw = v.get('aw-bits') as number;
  if (aw !== 39 && aw !== 48 && aw !== 57) {
    throw new Error(`device: property aw-bits: ${model.qemu} supports 39 or 48${model.firstStage ? ' (48 with x-flts=on)' : ''}, got ${aw}`);
  }
  const { ir, eim } = interruptRemapping(model, v);
  const on = (name: string): boolean => v.get(name) === true;
  return {
    awBits: aw, cachingMode: on('caching-mode'), scalableMode: on('x-scalable-mode'), firstStage: on('x-flts'),
    faultRecords: 1, interruptRemapping: ir, extendedInterruptMode: eim, deviceIotlb: on('device-iotlb'),
    passThrough: on('pt'), snoopControl: on('snoop-control'), pasid: on('x-pasid-mode'), dmaDrain: on('dma-drain'),
    dmaTranslation: on('dma-translation'), firstStage1GiB: model.firstStage ? on('fs1gp') : false,
    virtualCommands: false,
  };
}

/**
 * QEMU's realize-time checks of option combinations (vtd_decide_config and
 * vtd_realize), as errors naming the option and the QEMU property.
 */
export function checkQemuOptions(model: QemuDeviceModel, o: IommuOptions): void {
  const fail = (option: string, prop: string, why: string): never => {
    throw new Error(`options.${option} (${prop}): ${why} in ${model.qemu}`);
  };
  if (o.firstStage && !model.firstStage) fail('firstStage', 'x-flts', 'not available');
  if (o.firstStage && !o.scalableMode) fail('firstStage', 'x-flts', 'is only available in scalable mode (x-scalable-mode=on)');
  if (o.firstStage && o.awBits !== 48) fail('awBits', 'aw-bits', `must be 48 with firstStage (x-flts=on), not ${o.awBits}`);
  if (o.awBits !== 39 && o.awBits !== 48) fail('awBits', 'aw-bits', `must be 39 or 48, not ${o.awBits}`);
  if (o.scalableMode && !o.dmaDrain) fail('dmaDrain', 'dma-drain', 'must be on in scalable mode');
  if (o.pasid && !o.scalableMode) fail('pasid', 'x-pasid-mode', 'needs scalable mode (x-scalable-mode=on)');
  if (o.pasid && o.deviceIotlb) fail('deviceIotlb', 'device-iotlb', 'PASID-based device-IOTLB (with x-pasid-mode=on) is not supported');
  if (o.extendedInterruptMode && !o.interruptRemapping) fail('extendedInterruptMode', 'eim', 'needs interrupt remapping (intremap=on)');
  if (o.faultRecords !== 1) fail('faultRecords', '-', 'the unit has exactly one fault recording register');
  if (o.virtualCommands) fail('virtualCommands', '-', 'not available (no virtual command interface)');
}
