import { BadInput } from '@edgeguard/schema';
import { logLevel } from '@edgeguard/telemetry';

/**
 * `LOG_LEVEL` checked before a command that logs starts anything: a usage error (exit 2) like every
 * other bad environment variable. Left to the logger, it was a plain error (exit 1), and only once
 * the command reached the code that logs (`topics list` never did, `topics ensure` did).
 */
export function checkLogLevel(): void {
  try {
    logLevel(process.env.LOG_LEVEL);
  } catch (error) {
    throw new BadInput('bad-config', (error as Error).message, 'LOG_LEVEL');
  }
}
