/**
 * The AccessLog record: one request as the edge saw it. Every parser produces it, every stage
 * consumes it, and it is the Avro record on `edgeguard.access-logs`.
 *
 * Conventions (all parsers keep them, so stages never re-check):
 * - `time` is event time in Unix epoch milliseconds (the log's own timestamp, never the wall clock).
 * - `clientAddress` is the resolved client (peer, or the rightmost untrusted X-Forwarded-For hop
 *   when the peer is a trusted proxy), in canonical text form (IPv4 dotted quad, IPv6 RFC 5952).
 * - Optional fields are `null` when the log does not carry them, never `""` or `"-"`.
 * - `path` never contains the query; `query` is the raw text after `?` (without the `?`), or null.
 * - `cacheStatus` is upper-cased (`HIT`, `MISS`, `EXPIRED`, `STALE`, `UPDATING`, `REVALIDATED`,
 *   `BYPASS`, `DYNAMIC`, ...), or null when not logged.
 */
export interface AccessLog {
  /** Event time, Unix epoch milliseconds. */
  time: number;
  /** Resolved client address (see conventions above). */
  clientAddress: string;
  /** TCP peer as logged (`$remote_addr`); null when the format only has the client. */
  peerAddress: string | null;
  /**
   * The request method; '' when the request field was not an HTTP request line (binary sent to
   * the HTTP port, a lone word, `-` for none): then `path` holds that field as logged.
   */
  method: string;
  host: string | null;
  path: string;
  query: string | null;
  /** e.g. `HTTP/1.1`, `HTTP/2.0`; null when the request line had none. */
  protocol: string | null;
  status: number;
  /** Response bytes sent to the client (body bytes when that is all the log has). */
  bytes: number;
  /** Time the edge spent on the request, milliseconds (`$request_time` × 1000). */
  edgeDurationMs: number | null;
  /** Time the origin took, milliseconds (`$upstream_response_time` × 1000); null on cache hits. */
  originDurationMs: number | null;
  cacheStatus: string | null;
  userAgent: string | null;
  referer: string | null;
  acceptLanguage: string | null;
  /** TLS client fingerprints when the edge logs them. */
  ja3: string | null;
  ja4: string | null;
  /** Request header names in the order the client sent them, comma-separated, lower-case. */
  headerOrder: string | null;
  asn: number | null;
  country: string | null;
  edgeNode: string | null;
  requestId: string | null;
}

/** Avro schema of {@link AccessLog} (namespace `io.edgeguard`, version 1). */
export const accessLogSchema = {
  type: 'record',
  name: 'AccessLog',
  namespace: 'io.edgeguard',
  doc: 'One request as seen by an edge node. Times are event time.',
  fields: [
    { name: 'time', type: { type: 'long', logicalType: 'timestamp-millis' }, doc: 'event time, epoch ms' },
    { name: 'clientAddress', type: 'string' },
    { name: 'peerAddress', type: ['null', 'string'], default: null },
    { name: 'method', type: 'string' },
    { name: 'host', type: ['null', 'string'], default: null },
    { name: 'path', type: 'string' },
    { name: 'query', type: ['null', 'string'], default: null },
    { name: 'protocol', type: ['null', 'string'], default: null },
    { name: 'status', type: 'int' },
    { name: 'bytes', type: 'long' },
    { name: 'edgeDurationMs', type: ['null', 'float'], default: null },
    { name: 'originDurationMs', type: ['null', 'float'], default: null },
    { name: 'cacheStatus', type: ['null', 'string'], default: null },
    { name: 'userAgent', type: ['null', 'string'], default: null },
    { name: 'referer', type: ['null', 'string'], default: null },
    { name: 'acceptLanguage', type: ['null', 'string'], default: null },
    { name: 'ja3', type: ['null', 'string'], default: null },
    { name: 'ja4', type: ['null', 'string'], default: null },
    { name: 'headerOrder', type: ['null', 'string'], default: null },
    { name: 'asn', type: ['null', 'int'], default: null },
    { name: 'country', type: ['null', 'string'], default: null },
    { name: 'edgeNode', type: ['null', 'string'], default: null },
    { name: 'requestId', type: ['null', 'string'], default: null },
  ],
} as const;

/** A record with every optional field null: parsers start from it. */
export function emptyAccessLog(): AccessLog {
  return {
    time: 0,
    clientAddress: '',
    peerAddress: null,
    method: '',
    host: null,
    path: '',
    query: null,
    protocol: null,
    status: 0,
    bytes: 0,
    edgeDurationMs: null,
    originDurationMs: null,
    cacheStatus: null,
    userAgent: null,
    referer: null,
    acceptLanguage: null,
    ja3: null,
    ja4: null,
    headerOrder: null,
    asn: null,
    country: null,
    edgeNode: null,
    requestId: null,
  };
}
