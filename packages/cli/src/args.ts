import { type ParseArgsConfig, parseArgs } from 'node:util';
import { suggest } from '@edgeguard/config';
import { BadInput } from '@edgeguard/schema';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;
type Parsed<O extends OptionSpec> = ReturnType<
  typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true; tokens: true }>
>;

/**
 * Parses a command's flags strictly: an unknown flag, a missing value or a stray argument is a
 * `BadInput` (reason `bad-usage`) that names it (an unknown flag with the one it most likely meant);
 * the caller prints it with the command's synopsis.
 */
export function parseCommandArgs<O extends OptionSpec>(
  command: string,
  argv: string[],
  options: O,
  maxPositionals: number,
): Parsed<O> {
  try {
    const parsed = parseArgs<{
      args: string[];
      options: O;
      allowPositionals: true;
      strict: true;
      tokens: true;
    }>({
      args: argv,
      options,
      allowPositionals: true,
      strict: true,
      tokens: true,
    });
    // parseArgs keeps the last of a repeated flag: `decisions add --ip A --ip B` would act on B
    // alone without a word. A flag that takes one value is given once; a switch (--quiet) repeated
    // means the same, and is let be (an alias that adds it, and a command line that adds it again).
    const seen = new Set<string>();
    for (const token of parsed.tokens) {
      if (token.kind !== 'option' || options[token.name]?.multiple || options[token.name]?.type === 'boolean')
        continue;
      if (seen.has(token.name))
        throw new BadInput(
          'bad-usage',
          `--${token.name} given more than once`,
          undefined,
          `edgeguard ${command}`,
        );
      seen.add(token.name);
    }
    if (parsed.positionals.length > maxPositionals) {
      throw new BadInput(
        'bad-usage',
        `unexpected argument '${parsed.positionals[maxPositionals]}'`,
        undefined,
        `edgeguard ${command}`,
      );
    }
    return parsed;
  } catch (error) {
    if (error instanceof BadInput) throw error;
    let message = (error as Error).message.replace(/\. To specify a positional.*$/, '');
    // `Unknown option '--trusted-proxy'`: the flag it most likely meant (a longer flag may be
    // further off: --trusted-proxy is 3 edits from --trusted-proxies).
    const unknown = /^Unknown option '(--[^']+)'$/.exec(message)?.[1];
    if (unknown !== undefined) {
      const flags = Object.keys(options).map((name) => `--${name}`);
      message += suggest(unknown, flags, Math.max(2, Math.floor(unknown.length / 5)));
    }
    throw new BadInput('bad-usage', message, undefined, `edgeguard ${command}`);
  }
}

/** `--workers N` of ship and run: worker threads, a whole number from 0 to 64. */
export function workerCount(value: string): number {
  return wholeNumber(value, '--workers', 0, 64);
}

/**
 * A whole-number flag, written as digits only (`1e3`, `1.0`, `-1` are refused), at least `min`;
 * given `max`, at most `max`, and the message names the range (`--queue-mib must be a whole number
 * from 1 to 4,096, not "x"`).
 */
export function wholeNumber(text: string, flag: string, min = 0, max?: number): number {
  const n = /^\d{1,15}$/.test(text.trim()) ? Number(text.trim()) : Number.NaN;
  if (max !== undefined && !(n >= min && n <= max))
    throw new BadInput(
      'bad-usage',
      `${flag} must be a whole number from ${min.toLocaleString('en-US')} to ${max.toLocaleString('en-US')}, not ${JSON.stringify(text)}`,
    );
  if (!(n >= min))
    throw new BadInput('bad-usage', `${flag}: expected a whole number ≥ ${min}, got '${text}'`);
  return n;
}

/**
 * The usage message for a command's first word when it is missing or not one of `choices`:
 * `missing the action: 'print' or 'check'`, `expected 'print' or 'check', got 'prnt'`.
 */
export function expectedAction(choices: readonly string[], got: string | undefined, noun = 'action'): string {
  const quoted = choices.map((c) => `'${c}'`);
  const list = `${quoted.slice(0, -1).join(', ')} or ${quoted[quoted.length - 1]}`;
  return got === undefined ? `missing the ${noun}: ${list}` : `expected ${list}, got '${got}'`;
}

/**
 * Log level of the one-shot Kafka commands (tail, lag, topics, decisions, allowlist) when LOG_LEVEL
 * is unset: kafkajs' retries are logged as JSON lines with socket stacks, several before the
 * command's own one-line error, which names the cause. LOG_LEVEL=info shows them.
 */
export const ONE_SHOT_LOG_LEVEL = 'silent';
