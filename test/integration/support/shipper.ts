// What the shipper put on access-logs, read as it arrives; and polling for what a test waits on.
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
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

/**
 * A broker the test can make unreachable without stopping the shared one: a TCP relay to it, and
 * `hook`, a module to preload into a child process (`node --import <hook>`) that sends every
 * connection to the broker's port through the relay (the seed and the address the broker
 * advertises in its metadata alike: kafkajs connects with net.connect). `cut()` closes the relay
 * and every connection through it: from then on the child's requests fail and its reconnects are
 * refused, as when the broker's host goes away.
 */
export async function cuttableBroker(): Promise<{ hook: string; cut: () => void }> {
  const [host, portText] = kafkaEnvironment().brokers[0]!.split(':');
  const brokerPort = Number(portText);
  const sockets = new Set<Socket>();
  const relay = createServer((client) => {
    const upstream = connect(brokerPort, host);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => sockets.delete(socket));
    }
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  const relayPort = (relay.address() as AddressInfo).port;
  const hook = `data:text/javascript,${encodeURIComponent(
    `import net from 'node:net';
const connect = net.connect;
net.connect = net.createConnection = function (...args) {
  const o = args[0];
  if (o && typeof o === 'object' && Number(o.port) === ${brokerPort}) args[0] = { ...o, host: '127.0.0.1', port: ${relayPort} };
  return connect.apply(this, args);
};`,
  )}`;
  return {
    hook,
    cut: () => {
      relay.close();
      for (const socket of sockets) socket.destroy();
    },
  };
}
