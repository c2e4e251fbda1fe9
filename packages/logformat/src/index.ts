export { type ClfFormat, ClfParser } from './clf-parser.js';
export { resolveClientAddress, type TrustedProxies } from './client-address.js';
export {
  ClockJumpCounter,
  ClockJumpGuard,
  ClockJumpHold,
  type ClockJumpSample,
  type ClockJumpState,
  correctRecordTime,
  DEFAULT_CLOCK_JUMP_CONFIRMATIONS,
  DEFAULT_MAX_CLOCK_JUMP_MS,
  startClockGuard,
} from './clock-jump.js';
export { CloudflareParser } from './cloudflare.js';
export {
  compileEnvoyFormat,
  ENVOY_DEFAULT_FORMAT,
  ENVOY_OPERATORS,
  ENVOY_REQUEST_HEADERS,
  readEnvoyFormatSpec,
} from './envoy-format.js';
export { ENVOY_JSON_KEYS, EnvoyJsonParser } from './envoy-json.js';
export { type EscapeMode, unescapeValue } from './escapes.js';
export { FIELD_CUT, FieldCutCounter, keepRightmostHops } from './field-cut.js';
export { type FollowOptions, type FollowPosition, type FollowStats, followLogFile } from './follow.js';
export {
  AutoParser,
  clientCanShiftAddress,
  clientCanShiftFields,
  createParser,
  FORMAT_NAMES,
  type FormatName,
  logsClientBehindProxies,
  SNIFF_LINES,
  SNIFF_MAX_LINES,
  settledFormat,
  sniffFormat,
  unknownNginxVariables,
} from './formats.js';
export {
  type CompiledLogFormat,
  compileNginxLogFormat,
  ENVOY_NO_RESPONSE_STATUS,
  forwardedForShiftable,
  logsForwardedFor,
  NGINX_VARIABLES,
  NginxFormatParser,
  readNginxFormatSpec,
  secondsListToMs,
} from './nginx-format.js';
export {
  DEFAULT_MAX_FIELD_LENGTH,
  DEFAULT_MAX_LINE_LENGTH,
  type FieldCut,
  type LineParser,
  NO_FIELD_CUTS,
  type ParserOptions,
} from './parser.js';
export { REJECT_REASONS, type RejectReason } from './reasons.js';
export { applyRequestLine, applyRequestTarget } from './request-line.js';
export {
  checkLogInput,
  damageRejection,
  gunzipIfGzip,
  type InputDamage,
  type LineBatch,
  type LogSource,
  type LogSourceOptions,
  openLogSource,
  splitLines,
} from './source.js';
export { ClfTimeReader, epochToMs, parseEpochSeconds, parseRfc3339 } from './time.js';
