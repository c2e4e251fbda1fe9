import { randomUUID } from 'node:crypto';
import { TOPICS } from '@edgeguard/pipeline';
import type { CachePolicy } from '@edgeguard/schema';
import type { Logger } from '@edgeguard/telemetry';
import type { Consumer, Kafka } from 'kafkajs';
import type { Page } from './follower.js';

export interface PolicyChange {
  version: number;
  op: 'put' | 'del';
  key: string;
  policy?: CachePolicy;
}

/** Policies held; content-watch keeps far fewer. Past it, new keys are refused (counted). */
export const MAX_POLICIES = 100_000;
/** Changes kept for `changes?since=` and SSE resume; older followers resync. */
export const MAX_POLICY_CHANGES = 10_000;

/**
 * The cache policies, from the compacted `cache-policies` topic (one partition) read from its
 * beginning: the latest value per key, bounded. Version = offset + 1 of the last record applied,
 * so versions survive an API restart (the topic is re-read) and are the same in every API process.
 */
export class CachePolicyState {
  readonly policies = new Map<string, CachePolicy>();
  private readonly log: PolicyChange[] = [];
  version = 0;
  refused = 0;
  private readonly listeners = new Set<(changes: readonly PolicyChange[]) => void>();

  subscribe(listener: (changes: readonly PolicyChange[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Applies the record at `offset` (`value` null: a tombstone). Returns false when refused (bound). */
  apply(offset: number, key: string, value: CachePolicy | null): boolean {
    const version = offset + 1;
    if (version <= this.version) return true;
    let change: PolicyChange;
    if (value === null) {
      this.policies.delete(key);
      change = { version, op: 'del', key };
    } else {
      if (!this.policies.has(key) && this.policies.size >= MAX_POLICIES) {
        this.refused++;
        this.version = version;
        return false;
      }
      this.policies.set(key, value);
      change = { version, op: 'put', key, policy: value };
    }
    this.version = version;
    this.log.push(change);
    if (this.log.length > MAX_POLICY_CHANGES) this.log.splice(0, this.log.length - MAX_POLICY_CHANGES);
    for (const listener of this.listeners) listener([change]);
    return true;
  }

  /**
   * Changes after `since`, oldest first. Compaction leaves offsets sparse, so versions are
   * increasing, not consecutive; resync when `since` is older than the changes kept, or ahead.
   */
  changesSince(since: number, limit = 1000): Page<PolicyChange> {
    if (since === this.version) return { changes: [], version: since, resync: false };
    const oldest = this.log[0];
    // Older than what is kept, unless nothing was trimmed yet (the log then starts at the topic's
    // first record, so replaying it from there rebuilds the whole state).
    const complete = oldest !== undefined && oldest.version === this.firstOffsetSeen + 1;
    if (since > this.version || !oldest || (since < oldest.version - 1 && !complete)) {
      return { changes: [], version: this.version, resync: true };
    }
    let lo = 0;
    let hi = this.log.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.log[mid]!.version <= since) lo = mid + 1;
      else hi = mid;
    }
    const changes = this.log.slice(lo, lo + limit);
    return { changes, version: changes.at(-1)?.version ?? since, resync: false };
  }

  /** An undecodable record: its offset is consumed, nothing changes. */
  skip(offset: number): void {
    this.version = Math.max(this.version, offset + 1);
  }

  /** Offset of the first record read (the topic's start after compaction), -1 before any. */
  firstOffsetSeen = -1;
}

/**
 * Consumes the cache-policies topic into the state with a throw-away consumer group (deleted at
 * stop): every API process reads the whole compacted topic. `caughtUp` resolves once the state
 * reached the topic's end offset seen at start.
 */
export async function followCachePolicies(
  kafka: Kafka,
  prefix: string,
  state: CachePolicyState,
  logger: Logger,
  onBad: () => void,
): Promise<{ caughtUp: Promise<void>; crashed: Promise<Error>; stop(): Promise<void> }> {
  const topic = prefix + TOPICS.cachePolicies;
  const admin = kafka.admin();
  await admin.connect();
  let end = 0;
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    end = Math.max(0, ...offsets.map((o) => Number(o.high)));
  } finally {
    await admin.disconnect();
  }
  const groupId = `${prefix}api-policies-${randomUUID()}`;
  const consumer: Consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100, allowAutoTopicCreation: false });
  let markCaughtUp: () => void = () => undefined;
  const caughtUp = new Promise<void>((resolve) => {
    markCaughtUp = resolve;
  });
  if (end === 0) markCaughtUp();
  // kafkajs restarts the consumer after retriable errors; after any other it is done for good.
  const crashed = new Promise<Error>((resolve) => {
    consumer.on(consumer.events.CRASH, (event) => {
      if (!event.payload.restart) resolve(event.payload.error);
    });
  });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ message }) => {
      const offset = Number(message.offset);
      if (state.firstOffsetSeen < 0) state.firstOffsetSeen = offset;
      const key = message.key?.toString() ?? '';
      let value: CachePolicy | null | undefined = null;
      if (message.value !== null) {
        try {
          value = JSON.parse(message.value.toString('utf8')) as CachePolicy;
          if (typeof value !== 'object' || value === null || typeof value.key !== 'string') {
            throw new Error('not a cache policy');
          }
        } catch (error) {
          onBad();
          logger.warn({ offset, err: error }, 'undecodable cache policy skipped');
          value = undefined;
        }
      }
      if (value === undefined) state.skip(offset);
      else state.apply(offset, key, value);
      if (offset + 1 >= end) markCaughtUp();
    },
  });
  return {
    caughtUp,
    crashed,
    stop: async () => {
      await consumer.disconnect();
      const cleanup = kafka.admin();
      await cleanup.connect();
      await cleanup.deleteGroups([groupId]).catch(() => undefined);
      await cleanup.disconnect();
    },
  };
}
