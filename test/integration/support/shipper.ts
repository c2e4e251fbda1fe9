// What the shipper put on access-logs, read as it arrives; and polling for what a test waits on.
import { setTimeout as sleep } from 'node:timers/promises';
import { kafkaEnvironment } from '@edgeguard/kafka';
import { TOPICS } from '@edgeguard/pipeline';
import { type AccessLog, decodeAccessLogMessage } from '@edgeguard/schema';
import { Kafka, logLevel } from 'kafkajs';

/** Polls `condition` every 20 ms; fails after 30 s naming what it waited for. */
export async function waitFor(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Every record (and its path) on access-logs under `prefix`, as they arrive. */
export function readFollowed(prefix: string): {
  paths: string[];
  records: AccessLog[];
  stop: () => Promise<void>;
} {
  const kafka = new Kafka({ brokers: kafkaEnvironment().brokers, logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `${prefix}follow-readback` });
  const paths: string[] = [];
  const records: AccessLog[] = [];
  const started = (async () => {
    await consumer.connect();
    await consumer.subscribe({ topic: prefix + TOPICS.accessLogs, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        if (!message.value) return;
        const schema = message.headers?.['eg-schema'] ? String(message.headers['eg-schema']) : undefined;
        for (const r of decodeAccessLogMessage(message.value, schema)) {
          paths.push(r.path);
          records.push({ ...r });
        }
      },
    });
  })();
  return {
    paths,
    records,
    stop: async () => {
      await started.catch(() => undefined);
      await consumer.disconnect();
    },
  };
}
