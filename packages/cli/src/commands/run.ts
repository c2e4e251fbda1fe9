import { loadConfig } from '@edgeguard/config';
import { BadInput } from '@edgeguard/schema';
import { expectedAction, parseCommandArgs, workerCount } from '../args.js';
import { applyInputFlags, INPUT_FLAG_OPTIONS } from '../input-flags.js';
import { checkLogLevel } from '../log-level.js';
import { handOverStopSignals, RUN_SERVICES } from '../stop-signals.js';

export const runHelp = `Usage: edgeguard run <service> [--config FILE] [--workers N]
       edgeguard run shipper --follow FILE [--position-file FILE] [--from-start] [--format NAME] [--trusted-proxies CIDRS] [--config FILE]
       edgeguard run shipper --listen udp://HOST:PORT|tcp://HOST:PORT [--allow CIDRS] [--format NAME] [--trusted-proxies CIDRS] [--config FILE]

Starts one edgeguard service in the foreground; it runs until SIGTERM/SIGINT, then finishes the
batch in flight, checkpoints, commits and exits: within EDGEGUARD_STOP_TIMEOUT_MS (default 30 s),
else it exits 1 (the shipper, whose broker did not acknowledge, saying how many lines were not
shipped).

Services:
  shipper         follows an access log (rotation and truncation handled), or receives it on a
                  socket (--listen), and produces it to access-logs; --from-start reads the file
                  from its beginning first
    --position-file FILE
                  where the shipper keeps its place in the followed file (what the broker
                  acknowledged; saved about once a second and at stop; default
                  EDGEGUARD_SHIP_POSITION_FILE): a restart resumes there, so lines written while
                  it was down are shipped, the rest of a file rotated meanwhile too (found next to
                  it by inode). Without it, a restart starts at the file's end. A crash ships at
                  most the last second's lines twice.
    --listen udp://HOST:PORT | tcp://HOST:PORT
                  instead of --follow: receives the access log as syslog, as nginx sends it
                  (access_log syslog:server=HOST:PORT), one message per UDP datagram, or over TCP
                  (newline-framed or octet-counted, RFC 6587); the syslog header is stripped, a
                  message without one is taken as a bare line. A stop ships what was received.
                  Do not expose the port: anyone who reaches it can write log lines.
    --allow CIDRS only these peers may send (others are refused and counted); an empty list is
                  refused (leave --allow out to let anyone who reaches the port send)
    --max-connections N
                  tcp://: connections open at once (default 64)
    --queue-mib N received messages waiting for the broker, MiB (default 16); when full, UDP
                  datagrams are dropped (counted and logged) and TCP senders paused
    --format NAME the log format, as for 'edgeguard ship' and replay; overrides the config's
                  input.format (default auto)
    --trusted-proxies CIDRS
                  as for 'edgeguard ship' and replay: REPLACES the config's input.trustedProxies
                  (repeatable, comma-separated). Only the shipper's parser sees it: the decider
                  allowlists the trusted proxies of the config file (EDGEGUARD_CONFIG), so keep
                  them there when the services run together (docs/CONFIG.md)
  profiler        per-client windows and signals; partials for content-watch and the decider
  content-watch   per-content aggregates → cache-policies
  decider         client and fingerprint signals → decisions (blast-radius guard, allowlists);
                  a guard hold shows on /metrics (edgeguard_guard_holding) and in the log, and is
                  posted to EDGEGUARD_ALERT_WEBHOOK_URL when set (README, docs/CONFIG.md)
  api             HTTP API: CrowdSec bouncer protocol, native blocklist and cache policies
                  (snapshot, changes, Server-Sent Events), explain, manual decisions, allowlist
                  (docs/API.md); port EDGEGUARD_API_PORT (default 8080), bind EDGEGUARD_API_HOST;
                  serves /healthz, /readyz, /metrics on that port

  --workers N     profiler and content-watch: worker threads that run the stage's partitions
                  (decoding, the stage, output encoding, state snapshots) while the main thread
                  fetches, produces and commits (default EDGEGUARD_WORKERS, else 0: all on the
                  main thread; at most 64)
  --config FILE   JSON config (docs/CONFIG.md; default EDGEGUARD_CONFIG); the shipper's --format
                  and --trusted-proxies override its input section

Every service serves /healthz, /readyz and /metrics on EDGEGUARD_HEALTH_PORT (default 9464).
Environment: KAFKA_BROKERS, REDIS_URL, EDGEGUARD_TOPIC_PREFIX, EDGEGUARD_CONFIG, LOG_LEVEL,
EDGEGUARD_WORKERS, EDGEGUARD_SHIP_POSITION_FILE, EDGEGUARD_STOP_TIMEOUT_MS,
EDGEGUARD_ALERT_WEBHOOK_URL, EDGEGUARD_ALERT_WEBHOOK_HEADERS (see docs/CONFIG.md).
`;

export async function runCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    'run',
    argv,
    {
      config: { type: 'string' },
      follow: { type: 'string' },
      'from-start': { type: 'boolean' },
      'position-file': { type: 'string' },
      listen: { type: 'string' },
      allow: { type: 'string', multiple: true },
      'max-connections': { type: 'string' },
      'queue-mib': { type: 'string' },
      ...INPUT_FLAG_OPTIONS,
      workers: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    1,
  );
  if (values.help) {
    process.stdout.write(runHelp);
    return 0;
  }
  checkLogLevel();
  const config = loadConfig(values.config);
  const workers = values.workers !== undefined ? workerCount(values.workers) : undefined;
  if (workers !== undefined && positionals[0] !== 'profiler' && positionals[0] !== 'content-watch')
    throw new BadInput(
      'bad-usage',
      '--workers is for the profiler and content-watch',
      undefined,
      'edgeguard run',
    );
  const shipperFlag = (
    [
      'follow',
      'from-start',
      'position-file',
      'listen',
      'allow',
      'max-connections',
      'queue-mib',
      'format',
      'trusted-proxies',
    ] as const
  ).find((flag) => values[flag] !== undefined);
  if (shipperFlag !== undefined && positionals[0] !== 'shipper')
    throw new BadInput('bad-usage', `--${shipperFlag} is for the shipper`, undefined, 'edgeguard run');
  // Each service's modules are imported only when that service runs.
  switch (positionals[0]) {
    case 'profiler': {
      const { runProfiler } = await import('@edgeguard/service-profiler');
      if (!handOverStopSignals()) return await forever();
      await runProfiler(config, { workers });
      return await forever();
    }
    case 'content-watch': {
      const { runContentWatch } = await import('@edgeguard/service-content-watch');
      if (!handOverStopSignals()) return await forever();
      await runContentWatch(config, { workers });
      return await forever();
    }
    case 'decider': {
      const { runDecider } = await import('@edgeguard/service-decider');
      if (!handOverStopSignals()) return await forever();
      await runDecider(config);
      return await forever();
    }
    case 'api': {
      const { apiOptions, runApi } = await import('@edgeguard/service-api');
      if (!handOverStopSignals()) return await forever();
      await runApi(apiOptions());
      return await forever();
    }
    case 'shipper': {
      if (!values.follow === !values.listen)
        throw new BadInput(
          'bad-usage',
          'the shipper service needs one of --follow FILE and --listen udp://HOST:PORT|tcp://HOST:PORT',
          undefined,
          'edgeguard run',
        );
      const { ship } = await import('@edgeguard/service-shipper');
      const socketFlags = [values.allow, values['max-connections'], values['queue-mib']];
      const fileFlags = [values['position-file'], values['from-start']];
      if (values.follow ? socketFlags.some((v) => v !== undefined) : fileFlags.some((v) => v !== undefined))
        throw new BadInput(
          'bad-usage',
          values.follow
            ? '--allow, --max-connections and --queue-mib are for --listen'
            : '--position-file and --from-start are for --follow',
          undefined,
          'edgeguard run',
        );
      // Flags override the config file (--trusted-proxies replaces its list), as for ship.
      applyInputFlags(config, values);
      const listen =
        values.listen !== undefined
          ? (await import('../listen-flags.js')).socketInputOptions({
              listen: values.listen,
              allow: values.allow,
              maxConnections: values['max-connections'],
              queueMib: values['queue-mib'],
            })
          : undefined;
      const { healthPort, stopTimeoutMs } = await import('@edgeguard/kafka');
      const stopLimit = stopTimeoutMs(); // a bad value refused before anything starts
      const abort = new AbortController();
      // The signal's name is the abort's reason (the shipper's log line says which).
      if (!handOverStopSignals((signal) => abort.abort(signal))) return await forever();
      await ship({
        input: values.follow ?? '',
        listen,
        config,
        follow: values.follow !== undefined,
        fromStart: values['from-start'] === true,
        positionFile: values['position-file'] ?? (process.env.EDGEGUARD_SHIP_POSITION_FILE || undefined),
        signal: abort.signal,
        stopTimeoutMs: stopLimit,
        healthPort: healthPort(),
      });
      return 0;
    }
    default:
      throw new BadInput(
        'bad-usage',
        expectedAction(RUN_SERVICES, positionals[0], 'service'),
        undefined,
        'edgeguard run',
      );
  }
}

/**
 * Stage services stop through their own signal handlers (which exit the process), as does the
 * CLI's before they have them.
 */
function forever(): Promise<number> {
  return new Promise(() => undefined);
}
