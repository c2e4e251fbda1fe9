import { canonicalIp } from '@edgeguard/netaddr';
import { type AccessLog, type BadInput, emptyAccessLog } from '@edgeguard/schema';
import { resolveClientAddress } from './client-address.js';
import { cutLongFields, keepRightmostHops } from './field-cut.js';
import { JsonFields, JsonLineParser, missingJsonField, timestampMs } from './json-line.js';
import { NO_FIELD_CUTS } from './parser.js';
import { describeValue, quoteExcerpt, REJECT_REASONS, reject, tooFarAhead } from './reasons.js';
import { applyRequestTarget, hostOfAuthority } from './request-line.js';
import { isTooFarAhead, plausibleDurationMs } from './time.js';

/**
 * Cloudflare Logpush `http_requests` JSON lines (field names from Cloudflare's "HTTP requests"
 * dataset reference). One JSON object per line; JSON.parse is the whole cost, the mapping is cheap.
 *
 * Mapping: ClientIP → peerAddress (the client as Cloudflare's edge saw it), ClientRequestHost →
 * host, ClientRequestMethod → method, ClientRequestURI (else ClientRequestPath) → path and query,
 * ClientRequestProtocol → protocol, ClientRequestUserAgent → userAgent, ClientRequestReferer →
 * referer, EdgeStartTimestamp → time, EdgeEndTimestamp − EdgeStartTimestamp (else
 * EdgeTimeToFirstByteMs) → edgeDurationMs, EdgeResponseStatus → status, EdgeResponseBytes →
 * bytes, CacheCacheStatus → cacheStatus (upper-cased), OriginResponseDurationMs →
 * originDurationMs (null when the cache answered and no origin time was spent), ClientASN → asn,
 * ClientCountry → country (upper-cased ISO 3166 code), JA3Hash → ja3, JA4 → ja4, RayID →
 * requestId, EdgeColoCode → edgeNode, RequestHeaders["accept-language"] → acceptLanguage,
 * RequestHeaders["x-forwarded-for"] → client resolution behind trusted proxies.
 *
 * headerOrder stays null: Logpush's RequestHeaders holds only the headers named in the job's
 * custom-fields configuration, in an order set by that configuration and the JSON encoder, not
 * the order the client sent them, so it says nothing about the client.
 */
export class CloudflareParser extends JsonLineParser {
  readonly format = 'cloudflare';

  protected build(entry: Record<string, unknown>, location: string | undefined): AccessLog | BadInput {
    const maxField = this.options.maxFieldLength;
    const fields = new JsonFields(entry, maxField, NO_FIELD_CUTS);
    /** A string field, null when absent or empty; a field over maxFieldLength is noted (cut below). */
    const str = (name: string): string | null => fields.text(name);
    const record = emptyAccessLog();

    const clientIp = str('ClientIP');
    if (clientIp === null) return missingJsonField('ClientIP', location);
    const peer = canonicalIp(clientIp);
    if (peer === null) {
      return reject(
        REJECT_REASONS.badAddress,
        `ClientIP ${quoteExcerpt(clientIp)} is not an IP address`,
        'ClientIP',
        location,
      );
    }

    const startRaw = entry.EdgeStartTimestamp;
    if (startRaw === undefined || startRaw === null) return missingJsonField('EdgeStartTimestamp', location);
    const time = timestampMs(startRaw);
    if (Number.isNaN(time)) {
      return reject(
        REJECT_REASONS.badTimestamp,
        `EdgeStartTimestamp ${describeValue(startRaw)} is neither RFC 3339 nor a Unix time`,
        'EdgeStartTimestamp',
        location,
      );
    }
    if (isTooFarAhead(time)) return tooFarAhead(describeValue(startRaw), 'EdgeStartTimestamp', location);
    record.time = time;

    const method = str('ClientRequestMethod');
    if (method === null) return missingJsonField('ClientRequestMethod', location);
    record.method = method;
    const target = str('ClientRequestURI') ?? str('ClientRequestPath');
    if (target === null) return missingJsonField('ClientRequestURI', location);
    applyRequestTarget(target, method, record);
    const host = str('ClientRequestHost');
    if (host !== null) record.host = hostOfAuthority(host);
    record.protocol = str('ClientRequestProtocol');

    const status = entry.EdgeResponseStatus;
    if (status === undefined) return missingJsonField('EdgeResponseStatus', location);
    if (typeof status !== 'number' || !Number.isInteger(status) || status < 0 || status > 999) {
      return reject(
        REJECT_REASONS.badStatus,
        `EdgeResponseStatus ${describeValue(status)} is not an HTTP status`,
        'EdgeResponseStatus',
        location,
      );
    }
    record.status = status;
    const bytes = entry.EdgeResponseBytes;
    if (bytes !== undefined && bytes !== null) {
      if (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes < 0) {
        return reject(
          REJECT_REASONS.badBytes,
          `EdgeResponseBytes ${describeValue(bytes)} is not a byte count`,
          'EdgeResponseBytes',
          location,
        );
      }
      record.bytes = bytes;
    }

    const cacheStatus = str('CacheCacheStatus');
    record.cacheStatus = cacheStatus === null ? null : cacheStatus.toUpperCase();
    const endMs = entry.EdgeEndTimestamp === undefined ? Number.NaN : timestampMs(entry.EdgeEndTimestamp);
    const firstByteMs = numberOrNull(entry.EdgeTimeToFirstByteMs);
    record.edgeDurationMs = plausibleDurationMs(
      !Number.isNaN(endMs) && endMs >= time ? endMs - time : firstByteMs,
    );
    const originMs = plausibleDurationMs(numberOrNull(entry.OriginResponseDurationMs));
    // Cloudflare writes 0 when no origin was contacted; the contract wants null on cache hits.
    record.originDurationMs = originMs === 0 && record.cacheStatus === 'HIT' ? null : originMs;
    record.userAgent = str('ClientRequestUserAgent');
    record.referer = str('ClientRequestReferer');
    const asn = entry.ClientASN;
    record.asn = typeof asn === 'number' && Number.isInteger(asn) && asn > 0 && asn < 2 ** 31 ? asn : null;
    const country = str('ClientCountry');
    record.country = country === null ? null : country.toUpperCase();
    record.ja3 = str('JA3Hash');
    record.ja4 = str('JA4');
    record.requestId = str('RayID');
    record.edgeNode = str('EdgeColoCode');

    let forwardedFor: string | null = null;
    const headers = entry.RequestHeaders;
    if (typeof headers === 'object' && headers !== null && !Array.isArray(headers)) {
      const byName = headers as Record<string, unknown>;
      record.acceptLanguage = headerValue(byName, 'accept-language');
      forwardedFor = headerValue(byName, 'x-forwarded-for');
      fields.noteLength('RequestHeaders.accept-language', record.acceptLanguage);
      fields.noteLength('RequestHeaders.x-forwarded-for', forwardedFor);
      if (forwardedFor !== null && forwardedFor.length > maxField) {
        forwardedFor = keepRightmostHops(forwardedFor, maxField);
      }
    }
    this.fieldCuts = fields.cuts;
    if (this.fieldCuts !== NO_FIELD_CUTS) {
      cutLongFields(record, maxField, target.length > maxField);
    }

    record.peerAddress = peer;
    record.clientAddress = resolveClientAddress(peer, forwardedFor, this.options.trustedProxies);
    return record;
  }
}

function numberOrNull(raw: unknown): number | null {
  return typeof raw === 'number' && Number.isFinite(raw) && raw >= 0 ? raw : null;
}

/** Logpush writes header names lower-case; accept any case, and a list of values joined by `, `. */
function headerValue(headers: Record<string, unknown>, name: string): string | null {
  let raw = headers[name];
  if (raw === undefined) {
    for (const key of Object.keys(headers)) {
      if (key.toLowerCase() === name) {
        raw = headers[key];
        break;
      }
    }
  }
  if (Array.isArray(raw)) raw = raw.filter((v) => typeof v === 'string').join(', ');
  return typeof raw === 'string' && raw !== '' ? raw : null;
}
