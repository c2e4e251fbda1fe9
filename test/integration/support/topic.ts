// Reading a topic back with its records' headers (what `edgeguard tail` does not print).
import { randomUUID } from 'node:crypto';
import type { IHeaders, Kafka } from 'kafkajs';

export interface TopicRecord {
  offset: string;
  key: string;
  value: Buffer | null;
  headers: Record<string, string>;
}

function text(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    const first = Array.isArray(value) ? value[0] : value;
    if (first !== undefined) out[name] = first.toString();
  }
  return out;
}

/** Every record of a one-partition topic, from its beginning to its end offset now. */
export async function readTopic(kafka: Kafka, topic: string): Promise<TopicRecord[]> {
  const admin = kafka.admin();
  await admin.connect();
  const [offsets] = await admin.fetchTopicOffsets(topic);
  const end = BigInt(offsets!.high);
  const records: TopicRecord[] = [];
  if (end > BigInt(offsets!.low)) {
    const groupId = `${topic}.tail-test-${randomUUID()}`;
    const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100 });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      consumer
        .run({
          eachMessage: async ({ message }) => {
            if (BigInt(message.offset) >= end) return;
            records.push({
              offset: message.offset,
              key: message.key?.toString() ?? '',
              value: message.value,
              headers: text(message.headers),
            });
            if (BigInt(message.offset) + 1n >= end) resolve();
          },
        })
        .catch(reject);
    });
    await consumer.disconnect();
    await admin.deleteGroups([groupId]).catch(() => undefined);
  }
  await admin.disconnect();
  return records;
}
