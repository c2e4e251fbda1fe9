import { commaList } from '@edgeguard/config';
import { CidrSet } from '@edgeguard/netaddr';
import { BadInput } from '@edgeguard/schema';
import { parseListenAddress, type SocketInputOptions } from '@edgeguard/service-shipper';
import { wholeNumber } from './args.js';

/**
 * The shipper's socket input options from `run shipper`'s flags: `--listen`, `--allow` (CIDRs,
 * repeated or comma-separated), `--max-connections` (1 to 10,000), `--queue-mib` (1 to 4,096). A
 * bad one is a BadInput (`bad-usage`) naming the flag. Imported only when `run shipper` runs (it
 * loads the shipper).
 */
export function socketInputOptions(flags: {
  listen: string;
  allow?: readonly string[];
  maxConnections?: string;
  queueMib?: string;
}): SocketInputOptions {
  const address = parseListenAddress(flags.listen);
  const allow = commaList(flags.allow);
  // `--allow "$SENDERS"` with SENDERS unset or blank: refused, not read as "anyone may send".
  if (flags.allow !== undefined && allow.length === 0)
    throw new BadInput(
      'bad-usage',
      `--allow was given no CIDR (${JSON.stringify(flags.allow.join(','))}); to let anyone who reaches the port send, leave --allow out`,
    );
  try {
    new CidrSet(allow);
  } catch (error) {
    if (!(error instanceof BadInput)) throw error;
    throw new BadInput('bad-usage', `--allow: ${error.message}`);
  }
  if (address.transport === 'udp' && flags.maxConnections !== undefined)
    throw new BadInput('bad-usage', '--max-connections is for tcp:// (UDP has no connections)');
  const queueMib =
    flags.queueMib === undefined ? undefined : wholeNumber(flags.queueMib, '--queue-mib', 1, 4096);
  return {
    address,
    allow,
    maxConnections:
      flags.maxConnections === undefined
        ? undefined
        : wholeNumber(flags.maxConnections, '--max-connections', 1, 10_000),
    queueBytes: queueMib === undefined ? undefined : queueMib * 1024 * 1024,
  };
}
