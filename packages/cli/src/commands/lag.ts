import { connectAdmin, consumerLag, createKafka, kafkaEnvironment, startupTimeoutMs } from '@edgeguard/kafka';
import { createLogger } from '@edgeguard/telemetry';
import { ONE_SHOT_LOG_LEVEL, parseCommandArgs } from '../args.js';
import { checkLogLevel } from '../log-level.js';

export const lagHelp = `Usage: edgeguard lag [--json]

Prints the consumer lag of every edgeguard consumer group (under EDGEGUARD_TOPIC_PREFIX), per
topic partition: committed offset, end offset, and how many messages are not yet processed.
`;

export async function lagCommand(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(
    'lag',
    argv,
    { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    0,
  );
  if (values.help) {
    process.stdout.write(lagHelp);
    return 0;
  }
  checkLogLevel();
  const env = kafkaEnvironment();
  const kafka = createKafka({
    brokers: env.brokers,
    clientId: 'edgeguard-lag',
    logger: createLogger('lag', {}, ONE_SHOT_LOG_LEVEL),
  });
  const admin = kafka.admin();
  await connectAdmin(admin, env.brokers, startupTimeoutMs());
  try {
    const rows = await consumerLag(admin, env.topicPrefix);
    if (values.json) {
      for (const row of rows) process.stdout.write(`${JSON.stringify(row)}\n`);
    } else if (rows.length === 0) {
      process.stdout.write(`no consumer groups under prefix '${env.topicPrefix}'\n`);
    } else {
      process.stdout.write(
        `${'group'.padEnd(34)} ${'topic'.padEnd(34)} part  committed        end       lag\n`,
      );
      for (const r of rows) {
        process.stdout.write(
          `${r.group.padEnd(34)} ${r.topic.padEnd(34)} ${String(r.partition).padStart(4)} ${r.committed.padStart(10)} ${r.high.padStart(10)} ${String(r.lag).padStart(9)}\n`,
        );
      }
    }
    return 0;
  } finally {
    await admin.disconnect();
  }
}
