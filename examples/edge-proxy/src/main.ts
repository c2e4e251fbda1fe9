#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { EdgeAgent, HttpSource, KafkaSource, type Source } from '@edgeguard/edge-agent';
import { CidrSet } from '@edgeguard/netaddr';
import { ACCESS_LOG_FORMAT, AccessLogWriter } from './access-log.js';
import { EdgeProxy } from './proxy.js';

const usage = `edge-proxy: a caching reverse proxy on the edgeguard edge agent

  edge-proxy --origin URL [--port 8080] [--host 127.0.0.1] [--access-log FILE]
             (--api URL --api-key KEY | --kafka host:port[,...] [--topic-prefix edgeguard.])
             [--trusted-proxies CIDR,...] [--cold-start open|closed] [--cache-mb 64]
             [--shutdown-grace-ms 10000]

Environment: EDGEGUARD_API_URL, EDGEGUARD_API_KEY, KAFKA_BROKERS, EDGEGUARD_TOPIC_PREFIX,
EDGE_PROXY_SHUTDOWN_GRACE_MS stand in for the flags. The access log is written in this nginx log_format (ship it with
edgeguard run shipper --follow FILE, config input.format = "nginx:<format>"):

  ${ACCESS_LOG_FORMAT}
`;

function fail(message: string): never {
  process.stderr.write(`edge-proxy: ${message}\n\n${usage}`);
  process.exit(2);
}

/** parseArgs throws on an unknown flag or a stray argument: a usage error (exit 2), not a crash. */
function parseFlags() {
  try {
    return parseArgs({ options, allowPositionals: false });
  } catch (error) {
    fail((error as Error).message);
  }
}

const options = {
  origin: { type: 'string' },
  port: { type: 'string', default: '8080' },
  host: { type: 'string', default: '127.0.0.1' },
  'access-log': { type: 'string' },
  api: { type: 'string', default: process.env.EDGEGUARD_API_URL },
  'api-key': { type: 'string', default: process.env.EDGEGUARD_API_KEY },
  kafka: { type: 'string', default: process.env.KAFKA_BROKERS },
  'topic-prefix': { type: 'string', default: process.env.EDGEGUARD_TOPIC_PREFIX ?? 'edgeguard.' },
  'trusted-proxies': { type: 'string', default: '' },
  'cold-start': { type: 'string', default: 'open' },
  'cache-mb': { type: 'string', default: '64' },
  // Empty is unset, as for the EDGEGUARD_* numbers (a compose file's `${GRACE:-}`).
  'shutdown-grace-ms': { type: 'string', default: process.env.EDGE_PROXY_SHUTDOWN_GRACE_MS || '10000' },
  help: { type: 'boolean', default: false },
} as const;
const { values } = parseFlags();
if (values.help) {
  process.stdout.write(usage);
  process.exit(0);
}
if (!values.origin) fail('--origin is required');
const origin = URL.canParse(values.origin) ? new URL(values.origin) : null;
// The proxy speaks plain HTTP/1.1 to its origin (README, Limits): an https: origin would fail every request.
if (origin?.protocol !== 'http:' || origin.hostname === '')
  fail(`--origin must be an http:// URL (e.g. http://127.0.0.1:8081), got ${JSON.stringify(values.origin)}`);
const coldStart = values['cold-start'];
if (coldStart !== 'open' && coldStart !== 'closed') fail('--cold-start must be open or closed');
let source: Source;
if (values.api) {
  if (!values['api-key'])
    fail('--api needs --api-key (a bouncer key: edgeguard keys create --scope bouncer)');
  const api = URL.canParse(values.api) ? new URL(values.api) : null;
  if (api === null || (api.protocol !== 'http:' && api.protocol !== 'https:'))
    fail(`--api must be an http:// or https:// URL, got ${JSON.stringify(values.api)}`);
  source = new HttpSource({ url: values.api, apiKey: values['api-key'] });
} else if (values.kafka) {
  source = new KafkaSource({ brokers: values.kafka.split(','), topicPrefix: values['topic-prefix'] });
} else {
  fail('give --api URL --api-key KEY, or --kafka BROKERS');
}
const port = Number(values.port);
if (!/^\d+$/.test(values.port) || port > 65535) fail('--port must be a port number (0-65535)');
const cacheMb = Number(values['cache-mb']);
const cacheBytes = Math.floor(cacheMb * (1 << 20));
if (!Number.isFinite(cacheMb) || cacheBytes < 1) fail('--cache-mb must be a positive number of MiB');
// setTimeout's largest delay: past it Node fires after 1 ms instead (TimeoutOverflowWarning). 0 is
// refused, as EDGEGUARD_STOP_TIMEOUT_MS refuses it: it would read as "no limit" and mean "cut at once".
const graceMs = Number(values['shutdown-grace-ms']);
if (!/^\d+$/.test(values['shutdown-grace-ms']) || graceMs < 1 || graceMs > 2 ** 31 - 1)
  fail(
    `--shutdown-grace-ms (or EDGE_PROXY_SHUTDOWN_GRACE_MS) must be a whole number of milliseconds from 1 to ${2 ** 31 - 1}, got ${JSON.stringify(values['shutdown-grace-ms'])}`,
  );
const trustedProxies = values['trusted-proxies']
  ? values['trusted-proxies'].split(',').map((cidr) => cidr.trim())
  : [];
try {
  new CidrSet(trustedProxies);
} catch (error) {
  fail(`--trusted-proxies: ${(error as Error).message}`);
}

const log = (level: string) => (fields: object, message?: string) =>
  process.stderr.write(`${JSON.stringify({ level, time: Date.now(), msg: message, ...fields })}\n`);
const agent = new EdgeAgent({
  source,
  coldStart,
  logger: { debug: () => {}, info: log('info'), warn: log('warn'), error: log('error') },
});
agent.on('error', () => {}); // logged by the agent; an edge keeps serving
const accessLog = values['access-log'] ? new AccessLogWriter(values['access-log']) : null;
const proxy = new EdgeProxy({
  agent,
  origin: values.origin,
  trustedProxies,
  accessLog,
  cache: { maxBytes: cacheBytes },
});
await agent.start();
const url = await proxy.listen(port, values.host).catch((error: Error) => {
  process.stderr.write(`edge-proxy: cannot listen on ${values.host} port ${port}: ${error.message}\n`);
  process.exit(1);
});
process.stderr.write(`edge-proxy listening on ${url}, origin ${values.origin}, ${source.kind} source\n`);

// SIGTERM/SIGINT: stop accepting, let the requests in flight finish (at most --shutdown-grace-ms),
// stop the agent, flush the access log, exit 0. A second signal exits at once (1).
let stopping = false;
const stop = async (signal: string) => {
  if (stopping) process.exit(1);
  stopping = true;
  process.stderr.write(`edge-proxy: ${signal}: finishing the requests in flight\n`);
  try {
    await proxy.close(graceMs);
    await agent.stop();
    await accessLog?.close();
  } catch (error) {
    process.stderr.write(`edge-proxy: shutdown failed: ${(error as Error).message}\n`);
    process.exit(1);
  }
  process.exit(0);
};
process.on('SIGTERM', () => void stop('SIGTERM'));
// SIGHUP reopens the access log by its path, for logrotate (nginx uses USR1, which Node keeps for
// its inspector): postrotate `kill -HUP <pid>`.
process.on('SIGHUP', () => void accessLog?.reopen());
process.on('SIGINT', () => void stop('SIGINT'));
