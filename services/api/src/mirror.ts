import {
  addressHex,
  type Change,
  compareStrength,
  type DecisionStore,
  networkField,
} from '@edgeguard/decisions';
import { type IpAddress, parseCidr, parseIp, wordMask } from '@edgeguard/netaddr';
import type { Decision } from '@edgeguard/schema';
import type { Logger } from '@edgeguard/telemetry';
import { Follower } from './follower.js';

/** The address and range part of the store, indexed for covering-range lookups. */
class Index {
  readonly byKey = new Map<string, Decision>();
  /**
   * IPv4 address decisions by address as a signed 32-bit integer (a small integer to V8, where an
   * unsigned one above 2^31 is a heap number to allocate and hash); IPv6 ones are found by key.
   */
  private readonly v4Hosts = new Map<number, Decision>();
  /** IPv4 ranges: per prefix length, masked network (as a signed 32-bit integer) → decision. */
  private readonly v4 = new Map<number, Map<number, Decision>>();
  private v4Lengths: Array<[number, number, Map<number, Decision>]> = [];
  /** IPv6 ranges: per prefix length, network field (as the store's index) → decision. */
  private readonly v6 = new Map<number, Map<string, Decision>>();
  private v6Lengths: number[] = [];

  put(decision: Decision): void {
    this.remove(decision.key);
    this.byKey.set(decision.key, decision);
    if (decision.scope === 'ip') {
      const host = v4Host(decision);
      if (host !== null) this.v4Hosts.set(host, decision);
      return;
    }
    if (decision.scope !== 'range') return;
    const cidr = parseCidr(decision.value);
    if (cidr.version === 4) {
      let map = this.v4.get(cidr.prefixLength);
      if (!map) {
        map = new Map();
        this.v4.set(cidr.prefixLength, map);
        this.reindex();
      }
      map.set(cidr.network | 0, decision);
    } else {
      let map = this.v6.get(cidr.prefixLength);
      if (!map) {
        map = new Map();
        this.v6.set(cidr.prefixLength, map);
        this.reindex();
      }
      map.set(
        networkField(6, cidr.prefixLength, addressHex(parseIp(cidr.text.slice(0, cidr.text.indexOf('/')))!)),
        decision,
      );
    }
  }

  remove(key: string): void {
    const old = this.byKey.get(key);
    if (!old) return;
    this.byKey.delete(key);
    if (old.scope === 'ip') {
      const host = v4Host(old);
      if (host !== null) this.v4Hosts.delete(host);
      return;
    }
    if (old.scope !== 'range') return;
    const cidr = parseCidr(old.value);
    if (cidr.version === 4) this.v4.get(cidr.prefixLength)?.delete(cidr.network | 0);
    else {
      const field = networkField(
        6,
        cidr.prefixLength,
        addressHex(parseIp(cidr.text.slice(0, cidr.text.indexOf('/')))!),
      );
      this.v6.get(cidr.prefixLength)?.delete(field);
    }
  }

  private reindex(): void {
    this.v4Lengths = [...this.v4.entries()].sort((a, b) => b[0] - a[0]).map(([l, m]) => [l, wordMask(l), m]);
    this.v6Lengths = [...this.v6.keys()].sort((a, b) => b - a);
  }

  lookup(address: IpAddress, now: number): Decision[] {
    const found: Decision[] = [];
    if (address.version === 4) {
      const own = this.v4Hosts.get(address.value | 0);
      if (own && own.expiresAt > now) found.push(own);
      for (const [, mask, map] of this.v4Lengths) {
        const hit = map.get(address.value & mask);
        if (hit && hit.expiresAt > now) found.push(hit);
      }
      return found.length > 1 ? found.sort(compareStrength) : found;
    }
    const own = this.byKey.get(`ip:${address.text}`);
    if (own && own.expiresAt > now) found.push(own);
    if (this.v6Lengths.length > 0) {
      const hex = addressHex(address);
      for (const length of this.v6Lengths) {
        const hit = this.v6.get(length)!.get(networkField(6, length, hex));
        if (hit && hit.expiresAt > now) found.push(hit);
      }
    }
    return found.length > 1 ? found.sort(compareStrength) : found;
  }
}

/**
 * The key of an IPv4 address decision in `v4Hosts`, or null (IPv6; or a value that is not the
 * canonical text lookups build the key from, which a lookup by key would not find either).
 */
function v4Host(decision: Decision): number | null {
  const address = parseIp(decision.value);
  return address?.version === 4 && address.text === decision.value ? address.value | 0 : null;
}

/**
 * An in-process follower of the decision store: a snapshot (pages) at start, then every change
 * from the change feed. `/v1/decisions?ip=` is answered from it without a Redis round trip
 * (~100k decisions take some 60 MB). Consistency: what the store had a feed round trip ago; a gap
 * or a wiped store makes it catch up or reload (the old index keeps answering meanwhile).
 */
export class DecisionMirror extends Follower<Change> {
  private index = new Index();
  ready = false;

  constructor(
    private readonly store: DecisionStore,
    private readonly logger: Logger,
    private readonly clock: () => number = Date.now,
  ) {
    super(0, (version, limit) => store.changesSince(version, limit));
  }

  get size(): number {
    return this.index.byKey.size;
  }

  /**
   * Loads the snapshot and catches up (cursor 0 makes the store answer resync, which loads the
   * snapshot): live changes that arrive meanwhile are held and applied after. Subscribe
   * `onChanges` to the feed first.
   */
  async load(): Promise<void> {
    await this.catchUp();
  }

  protected override caughtUp(): void {
    this.ready = true;
  }

  lookupIp(ip: string): Decision[] {
    const address = parseIp(ip);
    return address ? this.index.lookup(address, this.clock()) : [];
  }

  lookupAddress(address: IpAddress): Decision[] {
    return this.index.lookup(address, this.clock());
  }

  get(key: string): Decision | undefined {
    const decision = this.index.byKey.get(key);
    return decision && decision.expiresAt > this.clock() ? decision : undefined;
  }

  protected apply(change: Change): undefined {
    if (change.op === 'add') {
      if (change.decision.scope !== 'fingerprint') this.index.put(change.decision);
    } else if (change.op === 'del') this.index.remove(change.key);
    return undefined;
  }

  protected async resync(): Promise<void> {
    const started = Date.now();
    const version = await this.store.version();
    const index = new Index();
    for await (const page of this.store.pages({ count: 1000 })) {
      for (const decision of page.decisions) if (decision.scope !== 'fingerprint') index.put(decision);
    }
    this.index = index;
    this.cursor = version;
    this.logger.info(
      { decisions: index.byKey.size, version, ms: Date.now() - started },
      'decision mirror loaded',
    );
  }

  protected failed(error: Error): void {
    this.logger.warn({ err: error }, 'decision mirror catch-up failed; retrying in 1 s');
    setTimeout(() => void this.catchUp(), 1000).unref();
  }
}
