import { kafkaEnvironment } from '@edgeguard/kafka';
import { BadInput } from '@edgeguard/schema';
import { ApiKeyStore, KEY_CACHE_TTL_MS } from '@edgeguard/service-api';
import { expectedAction, parseCommandArgs } from '../args.js';
import { withRedis } from './decisions.js';

export const keysHelp = `Usage: edgeguard keys create --scope bouncer|admin --name NAME
       edgeguard keys list [--json]
       edgeguard keys revoke NAME

API keys of 'edgeguard run api', in Redis (REDIS_URL) under EDGEGUARD_TOPIC_PREFIX.

  create   makes a key and prints it once: only its SHA-256 is stored. Scope bouncer may read
           (/v1/decisions*, GET /api/*); admin may also write (manual decisions, allowlist) and
           read /metrics. Send it as 'X-Api-Key: <key>' or 'Authorization: Bearer <key>'.
  list     name, scope, created, last used (to the minute), revoked; never the key
  revoke   the key stops working within ${KEY_CACHE_TTL_MS / 1000} s (API processes cache lookups that long)
`;

const time = (ms: number | null) =>
  ms === null ? '-' : new Date(ms).toISOString().slice(0, 19).replace('T', ' ');

export async function keysCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    'keys',
    argv,
    {
      scope: { type: 'string' },
      name: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    2,
  );
  if (values.help) {
    process.stdout.write(keysHelp);
    return 0;
  }
  const usage = (message: string) => new BadInput('bad-usage', message, undefined, 'edgeguard keys');
  // Checked before Redis is contacted: a typo is exit 2 naming it, not 'Redis unreachable'.
  const action = positionals[0];
  if (action !== 'create' && action !== 'list' && action !== 'revoke')
    throw usage(expectedAction(['create', 'list', 'revoke'], action));
  if (action === 'create' && (!values.name || !values.scope))
    throw usage('create needs --scope bouncer|admin and --name NAME');
  if (action === 'revoke' && !(positionals[1] ?? values.name)) throw usage('revoke needs the key name');
  const env = kafkaEnvironment();
  return withRedis(env, async (redis) => {
    const store = new ApiKeyStore(redis, env.topicPrefix);
    switch (action) {
      case 'create': {
        if (!values.name || !values.scope) throw usage('create needs --scope bouncer|admin and --name NAME');
        const { key, record } = await store.create(values.name, values.scope);
        process.stdout.write(`${key}\n`);
        process.stderr.write(
          `created ${record.scope} key '${record.name}': shown once, store it now (only its hash is kept)\n`,
        );
        return 0;
      }
      case 'list': {
        const keys = await store.list();
        if (values.json) {
          for (const key of keys) process.stdout.write(`${JSON.stringify(key)}\n`);
          return 0;
        }
        if (keys.length === 0) {
          process.stdout.write(`no API keys under prefix '${env.topicPrefix}'\n`);
          return 0;
        }
        const width = Math.max(4, ...keys.map((k) => k.name.length));
        process.stdout.write(
          `${'name'.padEnd(width)}  scope    ${'created'.padEnd(19)}  ${'last used'.padEnd(19)}  revoked\n`,
        );
        for (const k of keys) {
          process.stdout.write(
            `${k.name.padEnd(width)}  ${k.scope.padEnd(7)}  ${time(k.createdAt)}  ${time(k.lastUsedAt).padEnd(19)}  ${time(k.revokedAt)}\n`,
          );
        }
        return 0;
      }
      case 'revoke': {
        const name = positionals[1] ?? values.name;
        if (!name) throw usage('revoke needs the key name');
        if (!(await store.revoke(name))) {
          // Bad input, not a failed Redis (exit 1): `keys list` shows the names.
          process.stderr.write(`edgeguard keys: no active key named '${name}' (see edgeguard keys list)\n`);
          return 2;
        }
        process.stdout.write(
          `revoked '${name}' (API processes stop accepting it within ${KEY_CACHE_TTL_MS / 1000} s)\n`,
        );
        return 0;
      }
    }
  });
}
