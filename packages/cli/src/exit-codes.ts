import type { RejectCounter } from '@edgeguard/schema';

// Exit codes beyond main's 0 (done), 1 (could not run) and 2 (bad usage or input, named); each
// command's --help and packages/cli/README.md say which of them it uses.

/**
 * The input was cut short (a truncated or corrupt gzip): every whole line before the damage was
 * processed and every output written or shipped. Not 0, so that a script does not take a partial
 * log's results for the whole log's; not 1, because what could be read was handled completely.
 */
export const EXIT_INPUT_CUT_SHORT = 3;

/** `replay`, `ship`: every non-empty line was rejected, almost always a wrong --format. Takes precedence over 3. */
export const EXIT_NOTHING_PARSED = 4;

/**
 * Why a run ends with EXIT_NOTHING_PARSED — no line parsed and every non-empty line rejected (the
 * rejection a cut gzip adds is not a line) — naming `format` and the first rejection; null when
 * it does not.
 */
export function nothingParsed(
  run: { parsed: number; rejects: RejectCounter; cutShort: string | null },
  format: string,
): string | null {
  const linesRejected = run.rejects.total - (run.cutShort ? 1 : 0);
  if (run.parsed > 0 || linesRejected === 0) return null;
  const [first] = Object.values(run.rejects.toJSON().samples).flat();
  const where = first?.location ? `${first.location}: ` : '';
  return `no line could be parsed as ${format}: wrong --format? (all ${linesRejected} non-empty lines rejected, e.g. ${where}${first?.message})`;
}

/**
 * `replay` stopped by Ctrl-C (SIGINT): the lines read until then were replayed to the end and every
 * output written for them (the report says where reading stopped). 128 + SIGINT, as a shell reports
 * a process the signal ended.
 */
export const EXIT_INTERRUPTED = 130;
