/**
 * SIGTERM/SIGINT for `edgeguard run <service>` before the service has its own stop. Loading a
 * service's modules takes about a second (kafkajs, ioredis, the stages); a signal meanwhile killed
 * the CLI by the signal (exit 143/130) and no line said why. From the CLI's start the first such
 * signal logs one line and exits 0 (nothing is connected yet), until `handOverStopSignals`, called
 * just before the service starts, hands them to the service's own shutdown.
 *
 * One listener per signal stays in place for the whole run, and defers to the service's: removing
 * it at the hand-over lost a signal that came while the service's modules were evaluated (Node
 * dispatches a signal to the listener set of when it is read from libuv, after the microtasks that
 * did the hand-over: the service then ignored it and ran on).
 */

const STOP_SIGNALS = ['SIGTERM', 'SIGINT'] as const;

/** The services `edgeguard run` starts. */
export const RUN_SERVICES = ['shipper', 'profiler', 'content-watch', 'decider', 'api'] as const;

let installed = false;
let state: 'loading' | 'exiting' | 'running' = 'loading';
let received: NodeJS.Signals | null = null;
let service = 'edgeguard';
let onStop: ((signal: NodeJS.Signals) => void) | null = null;

/** A stop signal came (the process is stopping: once the command returned, the CLI exits). */
export function stoppedBySignal(): boolean {
  return received !== null;
}

function onSignal(signal: NodeJS.Signals): void {
  if (state === 'loading') {
    state = 'exiting';
    received = signal;
    const exit = () => process.exit(0);
    import('@edgeguard/telemetry')
      .then(({ createLogger }) =>
        createLogger(service).info({ signal }, 'stopped while starting: nothing connected yet, exiting'),
      )
      .catch(() => {
        // A LOG_LEVEL the logger refuses: the line, plain.
        process.stderr.write(`edgeguard run: ${signal}: stopped while starting: nothing connected yet\n`);
      })
      .then(exit, exit);
    return;
  }
  if (state === 'running' && onStop) {
    const stop = onStop;
    onStop = null;
    received = signal;
    stop(signal);
    return;
  }
  // The service's own handler (registered after this one) takes it.
  if (state === 'running' && process.listenerCount(signal) > 1) return;
  // A second signal while stopping, or one before the service has a handler: the process ends at
  // once by the signal (exit 143 for SIGTERM), as it does without any handler.
  for (const s of STOP_SIGNALS) process.off(s, onSignal);
  process.kill(process.pid, signal);
}

/**
 * For `edgeguard run` (`argv` without node and the script), until `handOverStopSignals`: the first
 * SIGTERM/SIGINT logs `stopped while starting: nothing connected yet, exiting` as the service's log
 * does (JSON on stderr, LOG_LEVEL) and exits 0. A second one meanwhile ends the process at once by
 * the signal, as it does for a service stopping. Once; the bin shim calls it before it loads the
 * rest of the CLI.
 */
export function exitOnStopSignalsWhileLoading(argv: readonly string[]): void {
  if (argv[0] !== 'run' || installed) return;
  installed = true;
  service = argv.find((a) => (RUN_SERVICES as readonly string[]).includes(a)) ?? 'edgeguard';
  for (const signal of STOP_SIGNALS) process.on(signal, onSignal);
}

/**
 * The service is about to start: from now on SIGTERM/SIGINT are its own — `stop`, once, when
 * given; otherwise the handlers the service installs as it starts. False when a stop signal
 * already came: the process is exiting, so the service must not start.
 */
export function handOverStopSignals(stop?: (signal: NodeJS.Signals) => void): boolean {
  if (state !== 'loading') return false;
  state = 'running';
  onStop = stop ?? null;
  return true;
}
