import { commaList, type EdgeguardConfig, validateConfig } from '@edgeguard/config';

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
 * `otherFlags` maps further fields the caller set from flags to those flags.
 */
export function applyInputFlags(
  config: EdgeguardConfig,
  values: { format?: string; 'trusted-proxies'?: string[] },
  otherFlags: Parameters<typeof validateConfig>[2] = {},
): void {
  if (values.format) config.input.format = values.format;
  if (values['trusted-proxies']) config.input.trustedProxies = commaList(values['trusted-proxies']);
  validateConfig(config, 'command line', {
    ...(values.format ? { 'input.format': '--format' } : {}),
    ...(values['trusted-proxies'] ? { 'input.trustedProxies': '--trusted-proxies' } : {}),
    ...otherFlags,
  });
}
