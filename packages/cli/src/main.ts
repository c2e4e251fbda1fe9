import { readFileSync } from 'node:fs';
import { BadInput, systemErrorText } from '@edgeguard/schema';
import { exitOnStopSignalsWhileLoading, stoppedBySignal } from './stop-signals.js';

/** A command's module: loaded only when that command runs, so `edgeguard ship` does not pay for
 *  importing the API server, the services and kafkajs' admin paths of every other command
 *  (measured: `edgeguard version` 0.43–0.70 s with every module imported eagerly, 0.15 s lazily). */
interface CommandModule {
  run: (argv: string[]) => Promise<number>;
  help: string;
}

const commands: Record<string, { summary: string; load: () => Promise<CommandModule> }> = {
  replay: {
    summary: 'replay an access log through the whole pipeline in-process',
    load: () => import('./commands/replay.js').then((m) => ({ run: m.replayCommand, help: m.replayHelp })),
  },
  run: {
    summary: 'run a service: shipper, profiler, content-watch, decider, api',
    load: () => import('./commands/run.js').then((m) => ({ run: m.runCommand, help: m.runHelp })),
  },
  ship: {
    summary: 'ship a log to Kafka and exit when the broker has it',
    load: () => import('./commands/ship.js').then((m) => ({ run: m.shipCommand, help: m.shipHelp })),
  },
  config: {
    summary: 'print the effective configuration or check a config file',
    load: () => import('./commands/config.js').then((m) => ({ run: m.configCommand, help: m.configHelp })),
  },
  topics: {
    summary: 'create or check every edgeguard Kafka topic',
    load: () => import('./commands/topics.js').then((m) => ({ run: m.topicsCommand, help: m.topicsHelp })),
  },
  tail: {
    summary: 'print an edgeguard topic as decoded JSON lines',
    load: () => import('./commands/tail.js').then((m) => ({ run: m.tailCommand, help: m.tailHelp })),
  },
  lag: {
    summary: 'consumer lag per group and partition',
    load: () => import('./commands/lag.js').then((m) => ({ run: m.lagCommand, help: m.lagHelp })),
  },
  keys: {
    summary: 'create, list or revoke API keys',
    load: () => import('./commands/keys.js').then((m) => ({ run: m.keysCommand, help: m.keysHelp })),
  },
  decisions: {
    summary: 'add, delete or list decisions (manual decisions go through Kafka)',
    load: () =>
      import('./commands/decisions.js').then((m) => ({ run: m.decisionsCommand, help: m.decisionsHelp })),
  },
  allowlist: {
    summary: 'add, delete or list allowlist entries (through Kafka)',
    load: () =>
      import('./commands/allowlist.js').then((m) => ({ run: m.allowlistCommand, help: m.allowlistHelp })),
  },
};

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((c) => c.length));
  return `Usage: edgeguard <command> [options]

Commands:
${Object.entries(commands)
  .map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`)
  .join('\n')}

Run 'edgeguard <command> --help' for a command's options, 'edgeguard version' for the version.
`;
}

/** `edgeguard shp`: the typo named with the command it most likely meant (loaded only then: startup stays lean). */
async function unknownCommand(name: string): Promise<string> {
  const { suggest } = await import('@edgeguard/config');
  return `edgeguard: unknown command '${name}'${suggest(name, Object.keys(commands))}\n\n${usage()}`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  // `run`: a stop before the service's modules are loaded (about a second) is one line, exit 0 (the
  // bin shim installed this already, before loading this module's imports).
  exitOnStopSignalsWhileLoading(argv);
  // `edgeguard topics list | head -1`: the reader is gone, so stop quietly (exit 0), as `tail` does
  // (which handles it itself, to leave its consumer group). A stdout that cannot be written (a full
  // disk) is one line on stderr, exit 1. Either was Node's unhandled 'error' event and its stack.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') {
      if (process.stdout.listenerCount('error') === 1) process.exit(0);
      return;
    }
    const who = name && Object.hasOwn(commands, name) ? `edgeguard ${name}` : 'edgeguard';
    process.stderr.write(`${who}: cannot write to stdout: ${systemErrorText(error)}\n`);
    process.exit(1);
  });
  if (!name || name === '-h' || name === '--help' || name === 'help') {
    const topic = name === 'help' ? rest[0] : undefined;
    const entry = topic !== undefined && Object.hasOwn(commands, topic) ? commands[topic] : undefined;
    if (topic !== undefined && !entry) {
      // `edgeguard help shp`: the typo named and exit 2, as `edgeguard shp` does.
      process.stderr.write(await unknownCommand(topic));
      return 2;
    }
    process.stdout.write(entry ? (await entry.load()).help : usage());
    return 0;
  }
  if (name === '--version' || name === 'version') {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    process.stdout.write(`edgeguard ${pkg.version}\n`);
    return 0;
  }
  const entry = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!entry) {
    process.stderr.write(await unknownCommand(name));
    return 2;
  }
  const command = await entry.load();
  // Errors that already name the command (BadInput located at `edgeguard <command>`) are not
  // prefixed twice.
  const prefixed = (message: string) =>
    message.startsWith(`edgeguard ${name}: `) ? message : `edgeguard ${name}: ${message}`;
  try {
    return await command.run(rest);
  } catch (error) {
    if (error instanceof BadInput) {
      process.stderr.write(`${prefixed(error.message)}\n`);
      // The synopsis (the help's first paragraph) and where the rest is, not the whole help: the
      // error scrolled away above 60 lines of it.
      if (error.reason === 'bad-usage')
        process.stderr.write(
          `${command.help.split('\n\n', 1)[0]!.trimEnd()}\nRun 'edgeguard ${name} --help' for every option.\n`,
        );
      return 2;
    }
    // Anything else (a missing file, a closed pipe, a broker that does not answer) is reported in
    // one line; EDGEGUARD_DEBUG=1 shows the stack for a bug report.
    const err = error as NodeJS.ErrnoException;
    process.stderr.write(`${prefixed(err.message)}\n`);
    if (process.env.EDGEGUARD_DEBUG) process.stderr.write(`${err.stack}\n`);
    return 1;
  }
}

const exitCode = await main(process.argv.slice(2));
process.exitCode = exitCode;
// A command that failed may leave connections, servers and timers open (a service that could not
// start, a shipment the broker refused), and so may one stopped by a signal (kafkajs goes on
// retrying a broker that never answered for about two minutes after its client was disconnected):
// exit instead of hanging half-started — once what was written to stdout and stderr is out (a pipe
// may still hold it), or after 5 s at most.
if (exitCode !== 0 || stoppedBySignal()) {
  setTimeout(() => process.exit(exitCode), 5_000).unref();
  process.stdout.write('', () => process.stderr.write('', () => process.exit(exitCode)));
}
