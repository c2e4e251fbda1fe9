// Exit codes beyond main's 0 (done), 1 (could not run) and 2 (bad usage or input, named); each
// command's --help and packages/cli/README.md say which of them it uses.

/**
 * The input was cut short (a truncated or corrupt gzip): every whole line before the damage was
 * processed and every output written or shipped. Not 0, so that a script does not take a partial
 * log's results for the whole log's; not 1, because what could be read was handled completely.
 */
export const EXIT_INPUT_CUT_SHORT = 3;

/** `replay`: every non-empty line was rejected, almost always a wrong --format. Takes precedence over 3. */
export const EXIT_NOTHING_PARSED = 4;

/**
 * `replay` stopped by Ctrl-C (SIGINT): the lines read until then were replayed to the end and every
 * output written for them (the report says where reading stopped). 128 + SIGINT, as a shell reports
 * a process the signal ended.
 */
export const EXIT_INTERRUPTED = 130;
