#!/usr/bin/env node
// Asks a Kafka broker or a Redis server whether it answers, the way the project's clients will talk to it
// (kafkajs, ioredis), so "ready" means "a client can use it", not "a port is open" or "a log line appeared".
//
//   node infra/probe.mjs kafka --brokers 127.0.0.1:9092 [--wait-ms 60000] [--pid 1234]
//   node infra/probe.mjs redis --url redis://127.0.0.1:6379 [--wait-ms 10000]
//
// Without --wait-ms it asks once. With --wait-ms it keeps asking until the deadline; with --pid it gives up
// as soon as that process has exited (a broker that crashed at startup will never answer).
// Prints one line of facts on success. Exit codes: 0 answers, 1 no answer in time, 2 usage or missing
// node_modules, 3 the watched process exited.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const ANSWERS = 0;
const NO_ANSWER = 1;
const UNUSABLE = 2;
const PROCESS_EXITED = 3;
const POLL_INTERVAL_MS = 500;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    brokers: { type: 'string' },
    url: { type: 'string' },
    'wait-ms': { type: 'string' },
    pid: { type: 'string' },
  },
});

const target = positionals[0];
if (target !== 'kafka' && target !== 'redis') {
  console.error('usage: probe.mjs kafka --brokers host:port[,host:port] | redis --url redis://host:port');
  process.exit(UNUSABLE);
}
const waitMs = Number(values['wait-ms'] ?? 0);
const watchedPid = values.pid === undefined ? undefined : Number(values.pid);

/** Loads a client library from the repo's node_modules, or explains how to get it. */
async function loadClient(name) {
  try {
    return await import(name);
  } catch (error) {
    if (error?.code === 'ERR_MODULE_NOT_FOUND') {
      console.error(
        `probe: the ${name} package is not installed; run \`npm ci\` at the repository root first.`,
      );
      process.exit(UNUSABLE);
    }
    throw error;
  }
}

function processExited(pid) {
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM means it exists but belongs to someone else: still alive.
    return error?.code === 'ESRCH';
  }
  // A zombie (exited, not yet reaped) still accepts signal 0; on Linux its state letter says so.
  try {
    return /\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function askKafkaOnce(brokers) {
  const { Kafka, logLevel } = await loadClient('kafkajs');
  // No retries inside kafkajs: the loop below owns the pacing, and a refused connection should cost
  // milliseconds, not kafkajs's default backoff of several seconds.
  const kafka = new Kafka({
    clientId: 'edgeguard-infra-probe',
    brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1000,
    requestTimeout: 3000,
    retry: { retries: 0 },
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    const topics = await admin.listTopics();
    const userTopics = topics.filter((topic) => !topic.startsWith('__'));
    return `cluster ${cluster.clusterId}, ${cluster.brokers.length} broker(s), controller ${cluster.controller}, ${userTopics.length} topic(s)`;
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

async function askRedisOnce(url) {
  const { Redis } = await loadClient('ioredis');
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 1000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  // ioredis reports the cause (ECONNREFUSED, auth) as an 'error' event and rejects connect() with a
  // generic "Connection is closed"; keep the cause for the message.
  let cause;
  redis.on('error', (error) => {
    cause = error;
  });
  try {
    await redis.connect().catch((error) => {
      throw cause ?? error;
    });
    const pong = await redis.ping();
    const server = await redis.info('server');
    const version = /redis_version:(\S+)/.exec(server)?.[1] ?? 'unknown';
    return `${pong}, redis ${version}`;
  } finally {
    redis.disconnect();
  }
}

const ask =
  target === 'kafka'
    ? () => askKafkaOnce((values.brokers ?? '127.0.0.1:9092').split(',').map((b) => b.trim()))
    : () => askRedisOnce(values.url ?? 'redis://127.0.0.1:6379');

const deadline = Date.now() + waitMs;
let lastError = 'no attempt made';
for (;;) {
  try {
    console.log(await ask());
    process.exit(ANSWERS);
  } catch (error) {
    lastError = error instanceof Error ? error.message : String(error);
  }
  if (watchedPid !== undefined && processExited(watchedPid)) {
    console.error(`probe: process ${watchedPid} exited before ${target} answered (last error: ${lastError})`);
    process.exit(PROCESS_EXITED);
  }
  if (Date.now() >= deadline) break;
  await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
}
console.error(
  `probe: ${target} did not answer${waitMs > 0 ? ` within ${waitMs} ms` : ''} (last error: ${lastError})`,
);
process.exit(NO_ANSWER);
