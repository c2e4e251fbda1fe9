import { loadConfig } from '@edgeguard/config';
import { BadInput } from '@edgeguard/schema';
import { expectedAction, parseCommandArgs } from '../args.js';

export const configHelp = `Usage: edgeguard config print [--config FILE]
       edgeguard config check --config FILE

print   the effective configuration as JSON: every field with its default, overridden by FILE.
        A good start for a config file: edgeguard config print > edgeguard.json
check   validates FILE and exits 0, or names the first bad field and exits 2.
`;

export async function configCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    'config',
    argv,
    { config: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    1,
  );
  if (values.help) {
    process.stdout.write(configHelp);
    return 0;
  }
  const action = positionals[0];
  if (action === 'print') {
    process.stdout.write(`${JSON.stringify(loadConfig(values.config), null, 2)}\n`);
    return 0;
  }
  if (action === 'check') {
    if (!values.config)
      throw new BadInput('bad-usage', 'check needs --config FILE', undefined, 'edgeguard config');
    loadConfig(values.config);
    process.stdout.write(`${values.config}: ok\n`);
    return 0;
  }
  throw new BadInput('bad-usage', expectedAction(['print', 'check'], action), undefined, 'edgeguard config');
}
