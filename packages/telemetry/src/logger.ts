import { type Logger, pino } from 'pino';

export type { Logger } from 'pino';

/**
 * The one logger factory: pino JSON lines on stderr (stdout stays free for command output), level
 * from `LOG_LEVEL` (default `defaultLevel`, `info` unless a caller says otherwise; `silent` in
 * tests). Services derive child loggers per partition.
 */
export function createLogger(
  name: string,
  bindings: Record<string, unknown> = {},
  defaultLevel = 'info',
): Logger {
  return pino(
    {
      name,
      level: process.env.LOG_LEVEL || defaultLevel,
      base: { service: name, pid: process.pid, ...bindings },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    pino.destination({ fd: 2, sync: false }),
  );
}
