import { TOPICS } from '@edgeguard/pipeline';
import kafkajs, { type Admin, type Kafka } from 'kafkajs';

export interface TopicSpec {
  /** Name without the deployment prefix. */
  name: string;
  partitions: number;
  cleanupPolicy: 'delete' | 'compact';
  /** For `delete` topics; compacted topics keep the latest value per key forever. */
  retentionMs?: number;
  /** Why the topic exists, for `edgeguard topics ensure` output and docs. */
  purpose: string;
}

const DAY = 86_400_000;

/**
 * Every topic edgeguard uses. `access-logs` carries the volume and scales by partitions; `signals`
 * has one partition so that the decider (and its blast-radius guard) sees all of them;
 * `decisions`, `cache-policies` and `allowlist` are compacted: the latest value per key is the
 * current state and a tombstone removes it.
 */
export function edgeguardTopics(partitions = 6): TopicSpec[] {
  return [
    {
      name: TOPICS.accessLogs,
      partitions,
      cleanupPolicy: 'delete',
      retentionMs: 3 * DAY,
      purpose: 'parsed access logs, Avro batches keyed by client address',
    },
    {
      name: TOPICS.contentPartials,
      partitions,
      cleanupPolicy: 'delete',
      retentionMs: DAY,
      purpose: 'per-content partial aggregates, keyed by host+path',
    },
    {
      name: 'signals',
      partitions: 1,
      cleanupPolicy: 'delete',
      retentionMs: DAY,
      purpose: "the decider's input: client signals, fingerprint partials, traffic ticks",
    },
    {
      name: TOPICS.decisions,
      partitions: 1,
      cleanupPolicy: 'compact',
      purpose: 'current decisions by key; tombstone on expiry or removal',
    },
    {
      name: TOPICS.cachePolicies,
      partitions: 1,
      cleanupPolicy: 'compact',
      purpose: 'current cache policies by key; tombstone on expiry',
    },
    {
      name: TOPICS.allowlist,
      partitions: 1,
      cleanupPolicy: 'compact',
      purpose: 'operator allowlist entries by CIDR; tombstone on removal',
    },
    {
      name: TOPICS.alerts,
      partitions: 1,
      cleanupPolicy: 'delete',
      retentionMs: 30 * DAY,
      purpose: 'blast-radius guard and other operator alerts',
    },
    {
      name: TOPICS.deadLetter,
      partitions: 1,
      cleanupPolicy: 'delete',
      retentionMs: 14 * DAY,
      purpose: 'messages that could not be decoded or processed, with their origin in headers',
    },
  ];
}

export interface TopicCheck {
  topic: string;
  status: 'created' | 'ok' | 'mismatch';
  detail: string;
}

/**
 * Creates missing topics and checks existing ones (partition count, cleanup policy). A mismatch is
 * reported, not "fixed": changing partitions re-maps keys, which an operator must decide.
 */
export async function ensureTopics(
  admin: Admin,
  prefix: string,
  specs: TopicSpec[],
  replicationFactor = 1,
): Promise<TopicCheck[]> {
  const existing = new Set(await admin.listTopics());
  const missing = specs.filter((s) => !existing.has(prefix + s.name));
  if (missing.length > 0) {
    await admin.createTopics({
      waitForLeaders: true,
      topics: missing.map((s) => ({
        topic: prefix + s.name,
        numPartitions: s.partitions,
        replicationFactor,
        configEntries: [
          { name: 'cleanup.policy', value: s.cleanupPolicy },
          ...(s.retentionMs !== undefined ? [{ name: 'retention.ms', value: String(s.retentionMs) }] : []),
        ],
      })),
    });
  }
  const checks: TopicCheck[] = missing.map((s) => ({
    topic: prefix + s.name,
    status: 'created' as const,
    detail: `${s.partitions} partition(s), ${s.cleanupPolicy}`,
  }));
  const present = specs.filter((s) => existing.has(prefix + s.name));
  if (present.length === 0) return checks;

  const metadata = await admin.fetchTopicMetadata({ topics: present.map((s) => prefix + s.name) });
  const configs = await admin.describeConfigs({
    includeSynonyms: false,
    resources: present.map((s) => ({
      type: kafkajs.ConfigResourceTypes.TOPIC,
      name: prefix + s.name,
      configNames: ['cleanup.policy'],
    })),
  });
  for (const spec of present) {
    const topic = prefix + spec.name;
    const partitions = metadata.topics.find((t) => t.name === topic)?.partitions.length ?? 0;
    const policy = configs.resources
      .find((r) => r.resourceName === topic)
      ?.configEntries.find((e) => e.configName === 'cleanup.policy')?.configValue;
    const problems: string[] = [];
    if (partitions !== spec.partitions)
      problems.push(`${partitions} partition(s), expected ${spec.partitions}`);
    if (policy !== spec.cleanupPolicy)
      problems.push(`cleanup.policy=${policy}, expected ${spec.cleanupPolicy}`);
    checks.push(
      problems.length > 0
        ? { topic, status: 'mismatch', detail: problems.join('; ') }
        : { topic, status: 'ok', detail: `${partitions} partition(s), ${spec.cleanupPolicy}` },
    );
  }
  return checks;
}

/**
 * Partition counts of the given topics as the cluster has them (a service adapts to the deployed
 * topics instead of trusting its config). Missing topics are an error naming them and the fix;
 * `ensurable`: the caller honours EDGEGUARD_ENSURE_TOPICS (the stage services; not the shipper).
 */
export async function topicPartitions(
  admin: Admin,
  prefix: string,
  names: string[],
  ensurable = false,
): Promise<Record<string, number>> {
  const existing = new Set(await admin.listTopics());
  const missing = names.filter((n) => !existing.has(prefix + n));
  if (missing.length > 0) {
    const fix = ensurable
      ? "run 'edgeguard topics ensure' or set EDGEGUARD_ENSURE_TOPICS=1"
      : "run 'edgeguard topics ensure'";
    throw new Error(`missing topics: ${missing.map((n) => prefix + n).join(', ')} (${fix})`);
  }
  const metadata = await admin.fetchTopicMetadata({ topics: names.map((n) => prefix + n) });
  const result: Record<string, number> = {};
  for (const t of metadata.topics) result[t.name.slice(prefix.length)] = t.partitions.length;
  return result;
}

/**
 * One topic's partition count, through an admin client of its own (connected by `connect`, plain
 * `admin.connect()` by default; disconnected after). For producers that pick a key's partition
 * themselves, as the decider does: the store writer, the API's operator routes, `edgeguard
 * decisions`.
 */
export async function partitionCount(
  kafka: Kafka,
  prefix: string,
  topic: string,
  connect: (admin: Admin) => Promise<void> = (admin) => admin.connect(),
): Promise<number> {
  const admin = kafka.admin();
  await connect(admin);
  try {
    return (await topicPartitions(admin, prefix, [topic]))[topic] ?? 1;
  } finally {
    await admin.disconnect();
  }
}
