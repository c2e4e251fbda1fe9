import { loadConfig } from '@edgeguard/config';
import { BadInput } from '@edgeguard/schema';
import { ship } from '@edgeguard/service-shipper';
import { parseCommandArgs, wholeNumber, workerCount } from '../args.js';
import { EXIT_INPUT_CUT_SHORT, EXIT_NOTHING_PARSED, nothingParsed } from '../exit-codes.js';
import { applyInputFlags, INPUT_FLAG_OPTIONS } from '../input-flags.js';
import { checkLogLevel } from '../log-level.js';

export const shipHelp = `Usage: edgeguard ship <file|-> [--rate N] [--workers N] [--format NAME] [--trusted-proxies CIDRS] [--config FILE]

The shipper as a one-shot command: parses the log exactly as 'edgeguard replay' does and produces
it to the access-logs topic (Avro batches keyed by client address), then marks end of input and
exits once the broker has acknowledged everything. Bad lines are counted by reason (the
summary on stderr), never sent.

  --rate N                    at most N lines per second, N ≥ 1 (replay a log at a given speed;
                              without it, as fast as the broker takes it)
  --workers N                 worker threads that parse and Avro-encode while the main thread
                              reads and produces (default EDGEGUARD_SHIP_WORKERS, else one
                              per core, at most 8; 0 parses in the main thread)
  --format NAME               as for replay (default auto)
  --trusted-proxies CIDRS     as for replay
  --config FILE               JSON config (docs/CONFIG.md)

Environment: KAFKA_BROKERS, EDGEGUARD_TOPIC_PREFIX, EDGEGUARD_SHIP_WORKERS.

Exit codes:
  0  done: every line shipped or counted as rejected, end of input marked
  1  could not run: the input cannot be opened, Kafka did not answer or refused the shipment
  2  bad usage or config (the flag or field is named)
  3  the input was cut short (a truncated or corrupt gzip), as for replay: every whole line
     before the damage was shipped and end of input marked; counted as rejected reason
     'bad-gzip' with the file and line where reading stopped. Non-zero so that a script does
     not take a partial log for the whole log.
  4  no line could be parsed (every non-empty line rejected, none shipped), as for replay: the
     format is probably wrong; stderr names it and the first rejection. Takes precedence over 3.
`;

export async function shipCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    'ship',
    argv,
    {
      rate: { type: 'string' },
      workers: { type: 'string' },
      ...INPUT_FLAG_OPTIONS,
      config: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    1,
  );
  if (values.help) {
    process.stdout.write(shipHelp);
    return 0;
  }
  checkLogLevel();
  const input = positionals[0];
  if (!input) throw new BadInput('bad-usage', 'missing the log file to ship (a path, or - for stdin)');
  const config = loadConfig(values.config);
  applyInputFlags(config, values);
  const result = await ship({
    input,
    config,
    // Warnings only: the summary below says what the info lines would (LOG_LEVEL=info for them).
    defaultLogLevel: 'warn',
    // 0 (or an empty value) read as no pacing at all: refused, as it says the opposite.
    rate: values.rate !== undefined ? wholeNumber(values.rate, '--rate', 1) : undefined,
    workers: values.workers !== undefined ? workerCount(values.workers) : undefined,
    onProgress: (p) =>
      process.stderr.write(
        `ship: ${p.lines.toLocaleString('en-US')} lines, ${p.linesPerSecond.toLocaleString('en-US')} lines/s\n`,
      ),
  });
  // Empty lines are read and skipped: said, so that lines = produced + rejected + blank adds up.
  const blank = result.lines - result.produced - result.rejected;
  process.stderr.write(
    `ship: ${result.lines.toLocaleString('en-US')} lines, ${result.produced.toLocaleString('en-US')} produced, ${result.rejected.toLocaleString('en-US')} rejected${blank > 0 ? `, ${blank.toLocaleString('en-US')} blank` : ''}, ${result.linesPerSecond.toLocaleString('en-US')} lines/s\n`,
  );
  for (const [reason, count] of Object.entries(result.rejects.byReason()))
    process.stderr.write(`  rejected ${reason}: ${count}\n`);
  for (const [field, count] of Object.entries(result.fieldCuts.byField()))
    process.stderr.write(`  field cut to maxFieldLength (line shipped) ${field}: ${count}\n`);
  const jumps = result.clockJumps;
  if (jumps.total > 0)
    process.stderr.write(
      `  clock jumps: ${jumps.total} lines dated too far ahead of the lines before them, shipped at the newest time before them (e.g. ${jumps.samples[0]!.location} logged ${jumps.samples[0]!.loggedTime})\n`,
    );
  const unparsed = nothingParsed({ ...result, parsed: result.produced }, config.input.format);
  if (unparsed !== null) {
    process.stderr.write(`edgeguard ship: ${unparsed}\n`);
    return EXIT_NOTHING_PARSED;
  }
  if (result.cutShort) {
    process.stderr.write(`edgeguard ship: input cut short: ${result.cutShort}\n`);
    return EXIT_INPUT_CUT_SHORT;
  }
  return 0;
}
