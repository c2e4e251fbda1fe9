import { formatGoDuration } from '@edgeguard/config';
import {
  allowEntry,
  allowKey,
  kafkaEnvironment,
  publishAllowDelete,
  publishAllowEntry,
} from '@edgeguard/kafka';
import { TOPICS } from '@edgeguard/pipeline';
import { BadInput } from '@edgeguard/schema';
import { expectedAction, parseCommandArgs } from '../args.js';
import { checkLogLevel } from '../log-level.js';
import { durationFlag, withProducer, withStore } from './decisions.js';

export const allowlistHelp = `Usage: edgeguard allowlist add CIDR [--comment TEXT] [--duration 30d] [--force]
       edgeguard allowlist delete CIDR
       edgeguard allowlist list [--json]

Addresses and ranges that edgeguard never decides on. Allowlists always win: edges and bouncers
check them before any decision, and the decider stops deciding on an entry's addresses (lifting
its automatic decisions on them) as soon as the entry is in effect.

add     produces the entry to the allowlist topic and exits once the broker has it. CIDR is an
        address (stored as /32 or /128) or a range. Without --duration it stays until deleted.
        A range with bits set after its prefix length (203.0.113.7/8) is refused as a typo, and
        one wider than an IPv4 /8 or an IPv6 /32 unless --force: an allowlist entry switches
        every block on its addresses off, everywhere.
delete  produces a tombstone: the entry is removed everywhere.
list    reads the current entries from the Redis store.

  --comment TEXT    who asked and why (kept with the entry)
  --duration D      the entry expires after this long: 30m, 12h, 30d (at most 366d)
  --force           allow a range wider than an IPv4 /8 or an IPv6 /32
  --json            list as JSON lines {cidr, comment, createdAt, expiresAt}

Entries in the edgeguard config file ("allowlist") apply too; they are not listed here.
Environment: KAFKA_BROKERS, REDIS_URL, EDGEGUARD_TOPIC_PREFIX.
Exit codes: 0 done, 1 Kafka or Redis failed, 2 bad usage or input.
`;

export async function allowlistCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    'allowlist',
    argv,
    {
      comment: { type: 'string' },
      duration: { type: 'string' },
      force: { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    2,
  );
  if (values.help) {
    process.stdout.write(allowlistHelp);
    return 0;
  }
  checkLogLevel();
  const env = kafkaEnvironment();
  const usage = (message: string) => new BadInput('bad-usage', message);
  const [action, cidr] = positionals;
  if ((action === 'add' || action === 'delete') && cidr === undefined) throw usage(`${action} needs a CIDR`);
  switch (action) {
    case 'add': {
      const entry = allowEntry({
        cidr: cidr!,
        comment: values.comment,
        duration: values.duration === undefined ? undefined : durationFlag(values.duration, '--duration'),
        force: values.force === true,
      });
      await withProducer(env, 'allowlist', TOPICS.allowlist, (producer) =>
        publishAllowEntry(producer, env.topicPrefix, entry),
      );
      const until =
        entry.expiresAt === null
          ? 'until deleted'
          : `for ${formatGoDuration(entry.expiresAt - entry.createdAt)} (until ${new Date(entry.expiresAt).toISOString()})`;
      process.stdout.write(`allowed ${entry.cidr} ${until}\n`);
      return 0;
    }
    case 'delete': {
      const key = allowKey(cidr!);
      await withProducer(env, 'allowlist', TOPICS.allowlist, (producer) =>
        publishAllowDelete(producer, env.topicPrefix, key),
      );
      process.stdout.write(`deleted ${key}\n`);
      return 0;
    }
    case 'list': {
      if (cidr !== undefined) throw usage(`list takes no CIDR, got '${cidr}'`);
      const entries = await withStore(env, (store) => store.listAllowlist());
      if (values.json) {
        for (const entry of entries) process.stdout.write(`${JSON.stringify(entry)}\n`);
        return 0;
      }
      process.stdout.write(`${'cidr'.padEnd(44)} ${'expires'.padEnd(24)} comment\n`);
      for (const entry of entries) {
        const expires = entry.expiresAt === null ? 'never' : new Date(entry.expiresAt).toISOString();
        process.stdout.write(`${entry.cidr.padEnd(44)} ${expires.padEnd(24)} ${entry.comment}\n`);
      }
      process.stdout.write(`${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}\n`);
      return 0;
    }
    default:
      throw usage(expectedAction(['add', 'delete', 'list'], action));
  }
}
