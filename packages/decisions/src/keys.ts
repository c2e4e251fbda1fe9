import { type Cidr, type IpAddress, parseCidr, parseIp } from '@edgeguard/netaddr';
import { BadInput, type DecisionScope } from '@edgeguard/schema';

/**
 * The Redis keys of one store. All share the hash tag `{<prefix>bl}`, so they live on one cluster
 * slot and every Lua script may touch all of them (see README.md for what each holds).
 */
export interface StoreKeys {
  data: string;
  expiry: string;
  versions: string;
  rangeIndex: string;
  rangeOf: string;
  rangeLengths: string;
  changes: string;
  sequence: string;
  epoch: string;
  allow: string;
  allowExpiry: string;
  allowIndex: string;
  allowOf: string;
  allowLengths: string;
  deleted: string;
  deletedExpiry: string;
}

export function storeKeys(prefix: string): StoreKeys {
  const tag = `{${prefix}bl}`;
  return {
    data: `${tag}:data`,
    expiry: `${tag}:exp`,
    versions: `${tag}:ver`,
    rangeIndex: `${tag}:rng`,
    rangeOf: `${tag}:rngof`,
    rangeLengths: `${tag}:rlen`,
    changes: `${tag}:chg`,
    sequence: `${tag}:seq`,
    epoch: `${tag}:epoch`,
    allow: `${tag}:allow`,
    allowExpiry: `${tag}:aexp`,
    allowIndex: `${tag}:aidx`,
    allowOf: `${tag}:aof`,
    allowLengths: `${tag}:alen`,
    deleted: `${tag}:gone`,
    deletedExpiry: `${tag}:gonex`,
  };
}

/** The order in which every script receives the keys (KEYS[1..16] in scripts.ts). */
export function keyList(keys: StoreKeys): string[] {
  return [
    keys.data,
    keys.expiry,
    keys.versions,
    keys.rangeIndex,
    keys.rangeOf,
    keys.rangeLengths,
    keys.changes,
    keys.sequence,
    keys.epoch,
    keys.allow,
    keys.allowExpiry,
    keys.allowIndex,
    keys.allowOf,
    keys.allowLengths,
    keys.deleted,
    keys.deletedExpiry,
  ];
}

const SCOPE_PREFIX: Record<DecisionScope, string> = { ip: 'ip:', range: 'range:', fingerprint: 'fp:' };

/** The address bits as lower-case hex: 8 digits for IPv4, 32 for IPv6. */
export function addressHex(address: IpAddress): string {
  if (address.version === 4) return address.value.toString(16).padStart(8, '0');
  return address.words.map((word) => word.toString(16).padStart(8, '0')).join('');
}

function cidrHex(cidr: Cidr): string {
  if (cidr.version === 4) return cidr.network.toString(16).padStart(8, '0');
  return cidr.words.map((word) => word.toString(16).padStart(8, '0')).join('');
}

/**
 * Index field of a network: `<family>/<prefixLength>/<hex digits the prefix covers>`, the last
 * digit masked to the prefix. An address finds its covering network of length L by computing the
 * same field from its own bits (scripts.ts `networkField` is the Lua twin of this function), so a
 * lookup is one hash probe per prefix length in use.
 */
export function networkField(family: 4 | 6, prefixLength: number, hex: string): string {
  const digits = Math.floor(prefixLength / 4);
  const remainder = prefixLength % 4;
  let prefix = hex.slice(0, digits);
  if (remainder > 0) {
    const digit = Number.parseInt(hex[digits] ?? '0', 16);
    const step = 2 ** (4 - remainder);
    prefix += (digit - (digit % step)).toString(16);
  }
  return `${family}/${prefixLength}/${prefix}`;
}

export function cidrField(cidr: Cidr): string {
  return networkField(cidr.version, cidr.prefixLength, cidrHex(cidr));
}

export interface CanonicalKey {
  key: string;
  scope: DecisionScope;
  value: string;
  /** The parsed range, for `range:` keys. */
  cidr?: Cidr;
}

function badKey(text: string, expected: string): BadInput {
  return new BadInput(
    'bad-decision-key',
    `${JSON.stringify(text)} is not a decision key: ${expected}`,
    'key',
  );
}

/** The canonical key of a scope and value: addresses and CIDRs in canonical text, so lookups find them. */
export function canonicalDecisionKey(scope: DecisionScope, value: string): CanonicalKey {
  if (scope === 'ip') {
    const address = parseIp(value);
    if (!address) throw badKey(`ip:${value}`, 'expected ip:<IPv4 or IPv6 address>');
    return { key: `ip:${address.text}`, scope, value: address.text };
  }
  if (scope === 'range') {
    const cidr = parseCidr(value);
    return { key: `range:${cidr.text}`, scope, value: cidr.text, cidr };
  }
  if (value.length === 0) throw badKey('fp:', 'expected fp:<fingerprint>');
  return { key: `fp:${value}`, scope, value };
}

/** Parses `ip:…`, `range:…` or `fp:…` into its canonical form. Throws BadInput (`bad-decision-key`). */
export function parseDecisionKey(key: string): CanonicalKey {
  const { scope, value } = splitDecisionKey(key);
  return canonicalDecisionKey(scope, value);
}

/**
 * The scope and value a key names, as written (not made canonical: a caller that refuses what
 * canonical form would mend, such as host bits, checks the value itself). Throws `BadInput`
 * (`bad-decision-key`) for a key without a scope prefix.
 */
export function splitDecisionKey(key: string): { scope: DecisionScope; value: string } {
  for (const scope of ['ip', 'range', 'fingerprint'] as const) {
    const prefix = SCOPE_PREFIX[scope];
    if (key.startsWith(prefix)) return { scope, value: key.slice(prefix.length) };
  }
  throw badKey(key, 'expected ip:<address>, range:<cidr> or fp:<fingerprint>');
}

export function scopeKeyPattern(scope: DecisionScope): string {
  return `${SCOPE_PREFIX[scope]}*`;
}
