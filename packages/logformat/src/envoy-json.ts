import { type AccessLog, type BadInput, emptyAccessLog } from '@edgeguard/schema';
import { envoyClientAddress, envoyPeerAddress } from './client-address.js';
import { cutLongFields, keepRightmostHops } from './field-cut.js';
import { JsonFields, JsonLineParser, missingJsonField, timestampMs } from './json-line.js';
import { ENVOY_NO_RESPONSE_STATUS } from './nginx-format.js';
import { NO_FIELD_CUTS } from './parser.js';
import { describeValue, quoteExcerpt, REJECT_REASONS, reject, tooFarAhead } from './reasons.js';
import { applyRequestTarget, hostOfAuthority } from './request-line.js';
import { integerMsAt, isTooFarAhead, plausibleDurationMs } from './time.js';

/**
 * The JSON keys envoy-json reads, and what each feeds. For each field, the first key is Istio's,
 * from its default JSON access-log encoding (`meshConfig.accessLogEncoding: JSON`, no
 * accessLogFormat): EnvoyJSONLogFormatIstio in istio/istio pilot/pkg/model/telemetry_logging.go
 * (earlier releases: pilot/pkg/networking/core/v1alpha3/accesslog.go). The second, where it
 * differs, is Envoy Gateway's default (EnvoyTextLogFormat in envoyproxy/gateway
 * internal/xds/translator/accesslog.go): a JSON-shaped *text* format whose keys are header names.
 * Each value is the Envoy command operator named beside it.
 */
export const ENVOY_JSON_KEYS = {
  /** %START_TIME%: RFC 3339 in Envoy's default rendering (or a Unix time). Required. */
  time: ['start_time'],
  /** %REQ(:METHOD)%. Required. */
  method: ['method'],
  /** %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%: path and query. Required. */
  path: ['path', 'x-envoy-origin-path'],
  /** %PROTOCOL%. */
  protocol: ['protocol'],
  /** %RESPONSE_CODE%: a number, or digits; 0 (no response sent) is read as 499. Required. */
  status: ['response_code'],
  /** %BYTES_SENT%: body bytes sent. */
  bytes: ['bytes_sent'],
  /** %DURATION%: whole milliseconds → edgeDurationMs. */
  duration: ['duration'],
  /** %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%: whole milliseconds → originDurationMs. */
  upstreamTime: ['upstream_service_time', 'x-envoy-upstream-service-time'],
  /** %REQ(X-FORWARDED-FOR)%: the client behind trusted proxies (see envoyClientAddress). */
  forwardedFor: ['x_forwarded_for', 'x-forwarded-for'],
  /** %REQ(USER-AGENT)%. */
  userAgent: ['user_agent', 'user-agent'],
  /** %REQ(X-REQUEST-ID)%. */
  requestId: ['request_id', 'x-request-id'],
  /** %REQ(:AUTHORITY)%: host, port removed. */
  authority: ['authority', ':authority'],
  /** %REQUESTED_SERVER_NAME% (TLS SNI): host when no authority is logged. */
  serverName: ['requested_server_name'],
  /** %DOWNSTREAM_REMOTE_ADDRESS%: the peer, port removed (else the rightmost X-Forwarded-For hop). */
  address: ['downstream_remote_address'],
} as const satisfies Record<string, readonly string[]>;

/**
 * Envoy JSON access logs (`log_format: { json_format: … }` of the file access logger, as Istio and
 * Envoy Gateway configure it): one JSON object per line, keys as in ENVOY_JSON_KEYS. JSON escapes
 * quotes, so a client that writes `" "` into a header cannot shift the fields as it can in Envoy's
 * text format (envoyproxy/envoy#4191), where such lines are rejected and the client unseen.
 *
 * Envoy writes an unset value as null in JSON (and `-` in a JSON-shaped text format such as Envoy
 * Gateway's default); numbers may come as numbers or digits. The peer and client follow the Envoy
 * text format's rules (envoyPeerAddress, envoyClientAddress), shared with it.
 */
export class EnvoyJsonParser extends JsonLineParser {
  readonly format = 'envoy-json';

  protected build(entry: Record<string, unknown>, location: string | undefined): AccessLog | BadInput {
    const maxField = this.options.maxFieldLength;
    const fields = new JsonFields(entry, maxField, NO_FIELD_CUTS, true);
    const K = ENVOY_JSON_KEYS;
    const record = emptyAccessLog();

    const timeKey = K.time[0];
    const timeRaw = entry[timeKey];
    if (timeRaw === undefined || timeRaw === null || timeRaw === '-')
      return missingJsonField(timeKey, location);
    const time = timestampMs(timeRaw);
    if (Number.isNaN(time)) {
      return reject(
        REJECT_REASONS.badTimestamp,
        `${timeKey} ${describeValue(timeRaw)} is neither RFC 3339 nor a Unix time`,
        timeKey,
        location,
      );
    }
    if (isTooFarAhead(time)) return tooFarAhead(describeValue(timeRaw), timeKey, location);
    record.time = time;

    // A TCP connection's entry (Istio logs them with the same keys) has no method and no path.
    const method = fields.first(...K.method);
    if (method === null) return missingJsonField(K.method[0], location);
    record.method = method;
    const target = fields.first(...K.path);
    if (target === null) return missingJsonField(K.path[0], location);
    applyRequestTarget(target, method, record);
    record.protocol = fields.first(...K.protocol);

    const statusKey = K.status[0];
    const status = integerValue(entry[statusKey]);
    if (status === null) return missingJsonField(statusKey, location);
    if (Number.isNaN(status) || status > 999 || (status < 100 && status !== 0)) {
      return reject(
        REJECT_REASONS.badStatus,
        `${statusKey} ${describeValue(entry[statusKey])} is not an HTTP status`,
        statusKey,
        location,
      );
    }
    record.status = status === 0 ? ENVOY_NO_RESPONSE_STATUS : status;
    const bytesKey = K.bytes[0];
    const bytes = integerValue(entry[bytesKey]);
    if (bytes !== null && Number.isNaN(bytes)) {
      return reject(
        REJECT_REASONS.badBytes,
        `${bytesKey} ${describeValue(entry[bytesKey])} is not a byte count`,
        bytesKey,
        location,
      );
    }
    if (bytes !== null) record.bytes = bytes;
    record.edgeDurationMs = millisecondsOf(entry, K.duration);
    record.originDurationMs = millisecondsOf(entry, K.upstreamTime);

    record.userAgent = fields.first(...K.userAgent);
    record.requestId = fields.first(...K.requestId);
    const authority = fields.first(...K.authority);
    record.host = (authority === null ? null : hostOfAuthority(authority)) ?? fields.first(...K.serverName);

    let forwardedFor = fields.first(...K.forwardedFor);
    const address = fields.first(...K.address);
    this.fieldCuts = fields.cuts;
    if (this.fieldCuts !== NO_FIELD_CUTS) {
      if (forwardedFor !== null && forwardedFor.length > maxField) {
        forwardedFor = keepRightmostHops(forwardedFor, maxField);
      }
      cutLongFields(record, maxField, target.length > maxField);
    }
    const peer = envoyPeerAddress(address, forwardedFor);
    if (peer === null) {
      const shown =
        address !== null
          ? `${K.address[0]} ${quoteExcerpt(address)}`
          : `${K.forwardedFor[0]} ${quoteExcerpt(forwardedFor ?? '-')}`;
      return reject(
        REJECT_REASONS.badAddress,
        address !== null
          ? `${shown} is not an IP address (with or without a port)`
          : `no client address: no ${K.address[0]}, and the rightmost hop of ${shown} is not an IP address`,
        address !== null ? K.address[0] : K.forwardedFor[0],
        location,
      );
    }
    record.peerAddress = peer;
    record.clientAddress = envoyClientAddress(peer, null, forwardedFor, this.options.trustedProxies);
    return record;
  }
}

/**
 * A whole number as Envoy writes one in JSON: a number, or digits in a string (a text-templated
 * JSON, or a header value). Null when unset (absent, null, empty, `-`); NaN when something else.
 */
function integerValue(raw: unknown): number | null {
  if (raw === undefined || raw === null || raw === '' || raw === '-') return null;
  if (typeof raw === 'number') return Number.isSafeInteger(raw) && raw >= 0 ? raw : Number.NaN;
  if (typeof raw === 'string' && /^[0-9]{1,15}$/.test(raw)) return Number(raw);
  return Number.NaN;
}

/** Whole milliseconds from the first of `keys` with a value, as plausibleDurationMs keeps them. */
function millisecondsOf(entry: Record<string, unknown>, keys: readonly string[]): number | null {
  for (const key of keys) {
    const raw = entry[key];
    if (typeof raw === 'number') return Number.isInteger(raw) ? plausibleDurationMs(raw) : null;
    if (typeof raw === 'string' && raw !== '' && raw !== '-') return integerMsAt(raw, 0, raw.length);
  }
  return null;
}
