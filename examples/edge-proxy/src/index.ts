export {
  ACCESS_LOG_FORMAT,
  type AccessLogRecord,
  AccessLogWriter,
  type CacheStatus,
  escapeField,
  formatAccessLogLine,
  TimeLocal,
} from './access-log.js';
export { EdgeProxy, type EdgeProxyOptions, type EdgeProxyStats } from './proxy.js';
export {
  type CachedResponse,
  ResponseCache,
  type ResponseCacheOptions,
  sharedCacheLifetime,
} from './response-cache.js';
