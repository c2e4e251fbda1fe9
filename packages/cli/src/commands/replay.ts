import { writeFileSync } from 'node:fs';
import { loadConfig, validateConfig } from '@edgeguard/config';
import { BadInput } from '@edgeguard/schema';
import { parseCommandArgs } from '../args.js';
import { replayLog } from '../replay.js';
import { buildReport, renderSummary } from '../report.js';

export const replayHelp = `Usage: edgeguard replay <file|-> [options]

Replays an access log through the whole pipeline in this process, on the log's own timestamps,
and reports which clients are bots, why, and what the cache should change.

Input:
  <file|->                    a log file (plain or gzip, detected by content) or - for stdin
  --format NAME               auto (default: sniffed from the first lines), combined, nginx-main,
                              apache, cloudflare, or nginx:'<log_format string>'
  --trusted-proxies CIDRS     comma-separated proxies whose X-Forwarded-For is believed; the client
                              is the rightmost untrusted hop (repeatable). Never decided on; warns
                              when the format logs no X-Forwarded-For (combined, apache)
  --allowlist CIDRS           comma-separated addresses/CIDRs never blocked (repeatable)
  --config FILE               JSON config (see docs/CONFIG.md); flags override it

Outputs (NDJSON unless noted; times are log time, ISO 8601):
  --decisions FILE            every decision published: key, scope, value, action, reason, signals,
                              score, decidedAt, expiresAt
  --verdicts FILE             one line per client address: ip, requests, verdict (strongest action
                              that covered it: a decision on the address from its decidedAt on, a
                              range or fingerprint decision through the requests it matched),
                              decidedAt (first covered), caughtAt (first request blocked or
                              challenged), by (decision keys)
  --policies FILE             cache-policy updates
  --report FILE               JSON summary (the same numbers as the printed summary, and more)
  --quiet                     do not print the summary
  --no-progress               no progress bar (it is shown only on a terminal anyway)
  -h, --help                  this help
`;

export async function replayCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    'replay',
    argv,
    {
      format: { type: 'string' },
      'trusted-proxies': { type: 'string', multiple: true },
      allowlist: { type: 'string', multiple: true },
      config: { type: 'string' },
      decisions: { type: 'string' },
      verdicts: { type: 'string' },
      policies: { type: 'string' },
      report: { type: 'string' },
      quiet: { type: 'boolean' },
      'no-progress': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    1,
  );
  if (values.help) {
    process.stdout.write(replayHelp);
    return 0;
  }
  const input = positionals[0];
  if (!input)
    throw new BadInput(
      'bad-usage',
      'missing the log file to replay (a path, or - for stdin)',
      undefined,
      'edgeguard replay',
    );

  const config = loadConfig(values.config);
  if (values.format) config.input.format = values.format;
  const list = (flag: string[] | undefined) =>
    (flag ?? [])
      .flatMap((v) => v.split(','))
      .map((v) => v.trim())
      .filter(Boolean);
  if (values['trusted-proxies']) config.input.trustedProxies = list(values['trusted-proxies']);
  if (values.allowlist) config.allowlist = [...config.allowlist, ...list(values.allowlist)];
  validateConfig(config, 'command line');

  const result = await replayLog({
    input,
    config,
    decisionsPath: values.decisions,
    verdictsPath: values.verdicts,
    policiesPath: values.policies,
    progress: values['no-progress'] ? false : undefined,
  });
  const report = buildReport(result);
  if (values.report) writeFileSync(values.report, `${JSON.stringify(report, null, 2)}\n`);
  if (!values.quiet) process.stdout.write(`${renderSummary(report)}\n`);
  return 0;
}
