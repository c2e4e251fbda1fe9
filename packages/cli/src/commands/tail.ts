import { createKafka, kafkaEnvironment, tailTopic } from '@edgeguard/kafka';
import { BadInput } from '@edgeguard/schema';
import { createLogger } from '@edgeguard/telemetry';
import { ONE_SHOT_LOG_LEVEL, parseCommandArgs, wholeNumber } from '../args.js';
import { checkLogLevel } from '../log-level.js';

export const tailHelp = `Usage: edgeguard tail --topic NAME [--from-beginning] [--idle-exit SECONDS]

Decodes an edgeguard topic and prints it as JSON lines: {topic, partition, offset, key, timestamp,
value}. Name the topic without its prefix (access-logs, decisions, cache-policies, alerts,
dead-letter, ...). Tombstones print with "value": null; end-of-input markers with "control": "end".
A value tail cannot decode prints as base64 with "error" saying why. On dead-letter each record
also has "deadLetter": {error, stage, origin: {topic, partition, offset[, index]}[, truncatedFrom]}:
why the stage routed it aside and where it came from.

  --topic NAME          the topic, without EDGEGUARD_TOPIC_PREFIX
  --from-beginning      start at the oldest retained message (default: only new ones)
  --idle-exit SECONDS   exit after this long without a new message (default: run until Ctrl-C)
`;

export async function tailCommand(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(
    'tail',
    argv,
    {
      topic: { type: 'string' },
      'from-beginning': { type: 'boolean' },
      'idle-exit': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    0,
  );
  if (values.help) {
    process.stdout.write(tailHelp);
    return 0;
  }
  checkLogLevel();
  if (!values.topic) throw new BadInput('bad-usage', 'missing --topic NAME', undefined, 'edgeguard tail');
  const env = kafkaEnvironment();
  const kafka = createKafka({
    brokers: env.brokers,
    clientId: 'edgeguard-tail',
    logger: createLogger('tail', {}, ONE_SHOT_LOG_LEVEL),
  });
  const abort = new AbortController();
  // A signal (or `tail | head` closing the pipe) ends the tail and deletes its throw-away group.
  // Connecting and joining the group do not watch the abort, so a stop that does not finish
  // within STOP_GRACE_MS (an unreachable broker, a slow join), or a second signal, exits at once.
  const stop = (code: number) => {
    if (abort.signal.aborted) process.exit(code);
    abort.abort();
    setTimeout(() => process.exit(code), STOP_GRACE_MS).unref();
  };
  process.on('SIGINT', () => stop(130));
  process.on('SIGTERM', () => stop(143));
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') stop(0);
  });
  await tailTopic(
    kafka,
    {
      prefix: env.topicPrefix,
      topic: values.topic,
      fromBeginning: values['from-beginning'] === true,
      idleExitMs: values['idle-exit'] ? wholeNumber(values['idle-exit'], '--idle-exit') * 1000 : 0,
      signal: abort.signal,
      brokers: env.brokers,
    },
    (record) => {
      if (!abort.signal.aborted) process.stdout.write(`${JSON.stringify(record)}\n`);
    },
  );
  return 0;
}

/** How long a stopped tail may take to leave its group before it exits anyway. */
const STOP_GRACE_MS = 5_000;
