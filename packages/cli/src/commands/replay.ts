import { closeSync, writeFileSync } from 'node:fs';
import { commaList, loadConfig, suggest } from '@edgeguard/config';
import { checkLogInput, ENVOY_OPERATORS, NGINX_VARIABLES, unknownNginxVariables } from '@edgeguard/logformat';
import { BadInput } from '@edgeguard/schema';
import { parseCommandArgs } from '../args.js';
import { EXIT_INPUT_CUT_SHORT, EXIT_INTERRUPTED, EXIT_NOTHING_PARSED, nothingParsed } from '../exit-codes.js';
import { applyInputFlags, INPUT_FLAG_OPTIONS } from '../input-flags.js';
import { openOutputs, refuseClashingOutputs } from '../ndjson.js';
import { replayLog } from '../replay.js';
import { buildReport, renderSummary } from '../report.js';

export const replayHelp = `Usage: edgeguard replay <file|-> [options]

Replays an access log through the whole pipeline in this process, on the log's own timestamps,
and reports which clients are bots, why, and what the cache should change.

Input:
  <file|->                    a log file (plain or gzip, detected by content) or - for stdin
  --format NAME               auto (default: sniffed from the first lines), combined, nginx-main,
                              apache, cloudflare, envoy (Envoy's default format), envoy-json
                              (Envoy JSON access logs with Istio's keys: recommended over Envoy's
                              text formats, which do not escape quotes),
                              nginx:'<log_format string>' or envoy:'<format string>'; a $variable
                              or %OPERATOR% edgeguard does not know is read past and skipped, with
                              a warning naming it on stderr (a typo would leave its field empty)
  --trusted-proxies CIDRS     comma-separated proxies whose X-Forwarded-For is believed; the client
                              is the rightmost untrusted hop (repeatable). REPLACES the config's
                              input.trustedProxies: which proxies to believe depends on where the
                              log was written, so a flag for another site's log must not inherit.
                              Never decided on; warns when the format logs no X-Forwarded-For
                              (combined, apache)
  --allowlist CIDRS           comma-separated addresses/CIDRs never blocked (repeatable). ADDS to
                              the config's allowlist: entries there are never dropped by a flag
  --config FILE               JSON config (see docs/CONFIG.md); flags override it

Outputs (NDJSON unless noted; times are log time, ISO 8601). All are created or truncated before
any input is read, so a path that cannot be written fails at once (exit 2, naming flag and path),
and so does an output that is the input log or a file another output names, and an input that
cannot be opened (exit 1); then no output is created or truncated (a symlink or another spelling
of the path counts as the same file; - is refused: give /dev/stdout to print one):
  --decisions FILE            every decision published: key, scope, value, action, reason, signals,
                              score, decidedAt, expiresAt
  --verdicts FILE             one line per client address: ip, requests, verdict (strongest action
                              that covered it: a decision on the address from its decidedAt on, a
                              range or fingerprint decision through the requests it matched),
                              decidedAt (first covered), caughtAt (the log time of its first
                              request covered by a block or challenge; null if none), by (decision
                              keys)
  --policies FILE             cache-policy updates: key, match, the cache knobs, reason, signals,
                              decidedAt, expiresAt, version
  --report FILE               JSON summary (the same numbers as the printed summary, and more)
  --quiet                     do not print the summary
  --no-progress               no progress bar (it is shown only on a terminal anyway)
  -h, --help                  this help

Exit codes:
  0  done (an input with no log line at all, e.g. a pipe whose producer failed, is warned about
     on stderr and in the report's warnings)
  1  could not run: the input cannot be opened (no output is touched), an output could not be
     written
  2  bad usage or config, or an output path that cannot be written, is the input log or is
     named by two outputs (the flag or field is named; nothing was read or written)
  3  the input was cut short (a truncated or corrupt gzip): every line before the damage was
     replayed and all outputs written; the report counts it as rejected reason 'bad-gzip' with
     the file and line where reading stopped. Non-zero so that a script does not take a partial
     log's results for the whole log's.
  4  no line could be parsed (every non-empty line rejected): the format is probably wrong; the
     outputs are written and stderr names the format, the first rejection and, when another
     format reads the first lines, that one. Takes precedence over 3.
  130  interrupted (Ctrl-C): reading stopped, the lines read until then were replayed and every
     output written for them; the summary and the report (input.interruptedAfterLines) say how
     many. A second Ctrl-C quits at once, outputs unfinished.
`;

export async function replayCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    'replay',
    argv,
    {
      ...INPUT_FLAG_OPTIONS,
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
  if (values.allowlist) config.allowlist = [...config.allowlist, ...commaList(values.allowlist)];
  // The config's entries were checked when it was loaded: a bad one now is the flag's.
  applyInputFlags(config, values, values.allowlist ? { allowlist: '--allowlist' } : {});
  const envoy = config.input.format.startsWith('envoy:');
  for (const name of unknownNginxVariables(config.input.format)) {
    const shown = envoy ? `%${name}%` : `$${name}`;
    const known = Object.keys(envoy ? ENVOY_OPERATORS : NGINX_VARIABLES);
    process.stderr.write(
      `edgeguard replay: warning: the log format's ${shown} is not a ${envoy ? 'command operator' : 'variable'} edgeguard reads; its values are skipped${suggest(name, known)}\n`,
    );
  }

  const outputs: [string, string | undefined][] = [
    ['--decisions', values.decisions],
    ['--verdicts', values.verdicts],
    ['--policies', values.policies],
    ['--report', values.report],
  ];
  refuseClashingOutputs(input, outputs);
  // A log that cannot be read (a mistyped path, a rotated-away file) fails before the outputs are
  // created or truncated: a cron job with a wrong path must not empty yesterday's report.
  checkLogInput(input);
  // `replay -` typed at a terminal would otherwise wait silently for lines.
  if (input === '-' && process.stdin.isTTY)
    process.stderr.write(
      'edgeguard replay: reading the log from the terminal: paste lines and end with Ctrl-D, or pipe one in (zcat access.log.gz | edgeguard replay -)\n',
    );
  // All or none: a path that cannot be written leaves the others as they were.
  const [decisions, verdicts, policies, reportFd] = openOutputs(outputs);
  // Ctrl-C stops reading and finishes with what was read (an hour into a big log, the outputs so
  // far are worth keeping); a second one quits at once.
  const interrupt = new AbortController();
  const onInterrupt = () => {
    if (interrupt.signal.aborted) process.exit(EXIT_INTERRUPTED);
    interrupt.abort();
    process.stderr.write(
      '\nedgeguard replay: interrupted: finishing with the lines read so far (Ctrl-C again to quit at once)\n',
    );
  };
  process.on('SIGINT', onInterrupt);
  let result: Awaited<ReturnType<typeof replayLog>>;
  try {
    result = await replayLog({
      input,
      config,
      decisionsPath: values.decisions,
      verdictsPath: values.verdicts,
      policiesPath: values.policies,
      outputFds: { decisions, verdicts, policies },
      progress: values['no-progress'] ? false : undefined,
      signal: interrupt.signal,
    });
  } finally {
    process.off('SIGINT', onInterrupt);
  }
  const report = buildReport(result);
  if (reportFd != null) {
    writeFileSync(reportFd, `${JSON.stringify(report, null, 2)}\n`);
    closeSync(reportFd);
  }
  if (!values.quiet) process.stdout.write(`${renderSummary(report)}\n`);
  const unparsed = nothingParsed(result, result.format);
  if (unparsed !== null) {
    process.stderr.write(
      `edgeguard replay: ${unparsed}${result.formatSuggestion ? `; the first lines read as ${result.formatSuggestion}: try --format ${result.formatSuggestion} or auto` : ''}\n`,
    );
    return EXIT_NOTHING_PARSED;
  }
  if (result.cutShort) {
    process.stderr.write(`edgeguard replay: input cut short: ${result.cutShort}\n`);
    return EXIT_INPUT_CUT_SHORT;
  }
  if (result.interruptedAfterLines !== null) return EXIT_INTERRUPTED;
  return 0;
}
