import type { DecisionStore, StoreKeys } from '@edgeguard/decisions';
import type { IpAddress } from '@edgeguard/netaddr';
import type { Decision } from '@edgeguard/schema';
import type { Cluster, Redis } from 'ioredis';
import type { DecisionMirror } from './mirror.js';

export interface StoreState {
  version: number;
  epoch: number;
}

/** The read side of the decision store the routes use: lookups from the mirror when it is loaded. */
export class Blocklist {
  constructor(
    readonly store: DecisionStore,
    private readonly redis: Redis | Cluster,
    readonly keys: StoreKeys,
    readonly mirror: DecisionMirror | null,
    private readonly clock: () => number = Date.now,
  ) {}

  lookupIp(ip: string): Decision[] | Promise<Decision[]> {
    if (this.mirror?.ready) return this.mirror.lookupIp(ip);
    return this.store.lookupIp(ip);
  }

  /** The same for a parsed address: synchronous (no promise) when the follower answers. */
  lookupAddress(address: IpAddress): Decision[] | Promise<Decision[]> {
    if (this.mirror?.ready) return this.mirror.lookupAddress(address);
    return this.store.lookupIp(address.text);
  }

  /** The store's version and epoch, read together (what an ETag and a resync carry). */
  async state(): Promise<StoreState> {
    const [version, epoch] = await this.redis.mget(this.keys.sequence, this.keys.epoch);
    return { version: Number(version ?? 0), epoch: Number(epoch ?? 0) };
  }

  /** Unexpired decisions (the expiry index counts entries not swept yet, so count by score). */
  activeCount(): Promise<number> {
    return this.redis.zcount(this.keys.expiry, `(${this.clock()}`, '+inf');
  }
}
