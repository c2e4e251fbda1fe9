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
      level: logLevel(process.env.LOG_LEVEL, defaultLevel),
      base: { service: name, pid: process.pid, ...bindings },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    pino.destination({ fd: 2, sync: false }),
  );
}

/**
 * `LOG_LEVEL`, one of pino's levels or `silent`; unset or empty: `defaultLevel` (`info`). Anything
 * else is refused naming the variable (pino said only `default level:loud must be included in
 * custom levels`).
 */
export function logLevel(configured: string | undefined, defaultLevel = 'info'): string {
  if (configured === undefined || configured === '') return defaultLevel;
  const levels = [...Object.keys(pino.levels.values), 'silent'];
  if (!levels.includes(configured))
    throw new Error(`LOG_LEVEL must be one of ${levels.join(', ')}, not ${JSON.stringify(configured)}`);
  return configured;
}
