import {
  connectAdmin,
  createKafka,
  edgeguardTopics,
  ensureTopics,
  kafkaEnvironment,
  startupTimeoutMs,
} from '@edgeguard/kafka';
import { BadInput } from '@edgeguard/schema';
import { createLogger } from '@edgeguard/telemetry';
import { expectedAction, ONE_SHOT_LOG_LEVEL, parseCommandArgs, wholeNumber } from '../args.js';
import { checkLogLevel } from '../log-level.js';

export const topicsHelp = `Usage: edgeguard topics ensure [--partitions N] [--replication-factor N]
       edgeguard topics list

ensure  creates every edgeguard topic that is missing (with its partitions, cleanup policy and
        retention) and checks the existing ones; a mismatch is reported, not changed, and makes
        the command exit 1.
list    prints the layout edgeguard uses — each topic, the partitions and cleanup policy ensure
        would give it (with the same --partitions) and what it carries — without contacting the
        broker; 'ensure' is what checks the broker's topics against it.

  --partitions N          partitions of access-logs and content-partials, the keyed topics the
                          stages scale on (default 6; the others have 1)
  --replication-factor N  replicas of each topic ensure creates (default 1: a single broker);
                          existing topics are not checked for it

Environment: KAFKA_BROKERS (default 127.0.0.1:9092), EDGEGUARD_TOPIC_PREFIX (default edgeguard.)
`;

export async function topicsCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    'topics',
    argv,
    {
      partitions: { type: 'string' },
      'replication-factor': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    1,
  );
  if (values.help) {
    process.stdout.write(topicsHelp);
    return 0;
  }
  checkLogLevel();
  const partitions = wholeNumber(values.partitions ?? '6', '--partitions', 1);
  const replication = wholeNumber(values['replication-factor'] ?? '1', '--replication-factor', 1);
  const env = kafkaEnvironment();
  const specs = edgeguardTopics(partitions);
  if (positionals[0] === 'list') {
    for (const s of specs) {
      process.stdout.write(
        `${(env.topicPrefix + s.name).padEnd(32)} ${String(s.partitions).padStart(3)}  ${s.cleanupPolicy.padEnd(7)}  ${s.purpose}\n`,
      );
    }
    return 0;
  }
  if (positionals[0] !== 'ensure')
    throw new BadInput(
      'bad-usage',
      expectedAction(['ensure', 'list'], positionals[0]),
      undefined,
      'edgeguard topics',
    );
  const kafka = createKafka({
    brokers: env.brokers,
    clientId: 'edgeguard-topics',
    logger: createLogger('topics', {}, ONE_SHOT_LOG_LEVEL),
  });
  const admin = kafka.admin();
  await connectAdmin(admin, env.brokers, startupTimeoutMs());
  try {
    const checks = await ensureTopics(admin, env.topicPrefix, specs, replication);
    for (const c of checks) process.stdout.write(`${c.status.padEnd(8)} ${c.topic.padEnd(32)} ${c.detail}\n`);
    return checks.some((c) => c.status === 'mismatch') ? 1 : 0;
  } finally {
    await admin.disconnect();
  }
}
