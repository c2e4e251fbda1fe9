import { commaList, type EdgeguardConfig, validateConfig } from '@edgeguard/config';
import { BadInput } from '@edgeguard/schema';

/** The parseArgs options of the input flags `replay`, `ship` and `run shipper` share. */
export const INPUT_FLAG_OPTIONS = {
  format: { type: 'string' },
  'trusted-proxies': { type: 'string', multiple: true },
} as const;

/**
 * `--format NAME` and `--trusted-proxies CIDRS` (repeatable, comma-separated) of `replay`, `ship`
 * and `run shipper`, applied to the loaded config: `--format` overrides `input.format`,
 * `--trusted-proxies` REPLACES `input.trustedProxies` (which proxies to believe depends on where
 * the log was written: a flag for another site's log must not inherit). The config is then
 * validated, a bad value named by its flag (`--format: unknown log format "nginx-mian"`);
 * `otherFlags` maps further fields the caller set from flags to those flags. A flag given an
 * empty value (`--trusted-proxies "$UNSET"`) is refused (`bad-usage`), as `--allow` is: it
 * replaced the config's trusted proxies with none, silently (behind a load balancer every request
 * was then the balancer's), and an empty `--format` silently kept the config's.
 */
export function applyInputFlags(
  config: EdgeguardConfig,
  values: { format?: string; 'trusted-proxies'?: string[] },
  otherFlags: Parameters<typeof validateConfig>[2] = {},
): void {
  if (values.format !== undefined && values.format.trim() === '')
    throw new BadInput(
      'bad-usage',
      `--format was given no format name (${JSON.stringify(values.format)}); to use the config's input.format, leave --format out`,
    );
  const trusted = values['trusted-proxies'];
  if (trusted !== undefined && commaList(trusted).length === 0)
    throw new BadInput(
      'bad-usage',
      `--trusted-proxies was given no CIDR (${JSON.stringify(trusted.join(','))}); to use the config's input.trustedProxies, leave --trusted-proxies out`,
    );
  if (values.format) config.input.format = values.format;
  if (trusted) config.input.trustedProxies = commaList(trusted);
  validateConfig(config, 'command line', {
    ...(values.format ? { 'input.format': '--format' } : {}),
    ...(values['trusted-proxies'] ? { 'input.trustedProxies': '--trusted-proxies' } : {}),
    ...otherFlags,
  });
}
