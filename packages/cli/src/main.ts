import { readFileSync } from 'node:fs';
import { BadInput } from '@edgeguard/schema';
import { allowlistCommand, allowlistHelp } from './commands/allowlist.js';
import { configCommand, configHelp } from './commands/config.js';
import { decisionsCommand, decisionsHelp } from './commands/decisions.js';
import { keysCommand, keysHelp } from './commands/keys.js';
import { lagCommand, lagHelp } from './commands/lag.js';
import { replayCommand, replayHelp } from './commands/replay.js';
import { runCommand, runHelp } from './commands/run.js';
import { shipCommand, shipHelp } from './commands/ship.js';
import { tailCommand, tailHelp } from './commands/tail.js';
import { topicsCommand, topicsHelp } from './commands/topics.js';

const commands: Record<string, { run: (argv: string[]) => Promise<number>; summary: string; help: string }> =
  {
    replay: {
      run: replayCommand,
      summary: 'replay an access log through the whole pipeline in-process',
      help: replayHelp,
    },
    run: {
      run: runCommand,
      summary: 'run a service: shipper, profiler, content-watch, decider, api',
      help: runHelp,
    },
    ship: {
      run: shipCommand,
      summary: 'ship a log to Kafka and exit when the broker has it',
      help: shipHelp,
    },
    config: {
      run: configCommand,
      summary: 'print the effective configuration or check a config file',
      help: configHelp,
    },
    topics: { run: topicsCommand, summary: 'create or check every edgeguard Kafka topic', help: topicsHelp },
    tail: { run: tailCommand, summary: 'print an edgeguard topic as decoded JSON lines', help: tailHelp },
    lag: { run: lagCommand, summary: 'consumer lag per group and partition', help: lagHelp },
    keys: { run: keysCommand, summary: 'create, list or revoke API keys', help: keysHelp },
    decisions: {
      run: decisionsCommand,
      summary: 'add, delete or list decisions (manual decisions go through Kafka)',
      help: decisionsHelp,
    },
    allowlist: {
      run: allowlistCommand,
      summary: 'add, delete or list allowlist entries (through Kafka)',
      help: allowlistHelp,
    },
  };

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((c) => c.length));
  return `Usage: edgeguard <command> [options]

Commands:
${Object.entries(commands)
  .map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`)
  .join('\n')}

Run 'edgeguard <command> --help' for a command's options.
`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '-h' || name === '--help' || name === 'help') {
    const topic = name === 'help' ? rest[0] : undefined;
    process.stdout.write(topic && commands[topic] ? commands[topic].help : usage());
    return 0;
  }
  if (name === '--version' || name === 'version') {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    process.stdout.write(`edgeguard ${pkg.version}\n`);
    return 0;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`edgeguard: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  try {
    return await command.run(rest);
  } catch (error) {
    if (error instanceof BadInput) {
      process.stderr.write(`edgeguard ${name}: ${error.message}\n`);
      if (error.reason === 'bad-usage') process.stderr.write(`\n${command.help}`);
      return 2;
    }
    // Anything else (a missing file, a closed pipe, a broker that does not answer) is reported in
    // one line; EDGEGUARD_DEBUG=1 shows the stack for a bug report.
    const err = error as NodeJS.ErrnoException;
    process.stderr.write(`edgeguard ${name}: ${err.message}\n`);
    if (process.env.EDGEGUARD_DEBUG) process.stderr.write(`${err.stack}\n`);
    return 1;
  }
}

const exitCode = await main(process.argv.slice(2));
process.exitCode = exitCode;
