/**
 * A tiny parser for the testkit's own output, so its tests do not depend on packages/logformat:
 * just enough to read back the two formats we write and resolve the client behind our proxies.
 */

export interface ParsedLine {
  peer: string;
  /** Epoch ms, second resolution. */
  time: number;
  method: string;
  target: string;
  path: string;
  query: string | null;
  protocol: string;
  status: number;
  bytes: number;
  referer: string | null;
  userAgent: string | null;
  /** Edge format only. */
  forwardedFor: string | null;
  host: string | null;
  requestTime: number | null;
  upstreamTime: number | null;
  cacheStatus: string | null;
  acceptLanguage: string | null;
  /** Peer in combined format; rightmost X-Forwarded-For hop outside 10.0.0.0/8 in edge format. */
  client: string;
}

const COMBINED = /^(\S+) - (\S+) \[([^\]]+)\] "(\S+) (\S+) (\S+)" (\d+) (\d+) "([^"]*)" "([^"]*)"/;
const EDGE_TAIL = / "([^"]*)" (\S+) (\S+) (\S+) (\S+) "([^"]*)"$/;
const MONTHS: Record<string, number> = {
  Jan: 0,
  Feb: 1,
  Mar: 2,
  Apr: 3,
  May: 4,
  Jun: 5,
  Jul: 6,
  Aug: 7,
  Sep: 8,
  Oct: 9,
  Nov: 10,
  Dec: 11,
};

export function parseTimeLocal(text: string): number {
  const match = /^(\d{2})\/(\w{3})\/(\d{4}):(\d{2}):(\d{2}):(\d{2}) \+0000$/.exec(text);
  if (!match) throw new Error(`bad time_local: ${text}`);
  const [, day, month, year, hours, minutes, seconds] = match;
  return Date.UTC(
    Number(year),
    MONTHS[month as string] as number,
    Number(day),
    Number(hours),
    Number(minutes),
    Number(seconds),
  );
}

const dash = (value: string | undefined): string | null =>
  value === undefined || value === '-' ? null : value;
const isLoadBalancer = (address: string) => address.startsWith('10.');

export function parseLine(line: string, format: 'combined' | 'edge'): ParsedLine {
  const head = COMBINED.exec(line);
  if (!head) throw new Error(`unparseable line: ${line}`);
  const [, peer, , time, method, target, protocol, status, bytes, referer, userAgent] =
    head as unknown as string[];
  const queryAt = (target as string).indexOf('?');
  const parsed: ParsedLine = {
    peer: peer as string,
    time: parseTimeLocal(time as string),
    method: method as string,
    target: target as string,
    path: queryAt < 0 ? (target as string) : (target as string).slice(0, queryAt),
    query: queryAt < 0 ? null : (target as string).slice(queryAt + 1),
    protocol: protocol as string,
    status: Number(status),
    bytes: Number(bytes),
    referer: dash(referer),
    userAgent: dash(userAgent),
    forwardedFor: null,
    host: null,
    requestTime: null,
    upstreamTime: null,
    cacheStatus: null,
    acceptLanguage: null,
    client: peer as string,
  };
  if (format === 'edge') {
    const tail = EDGE_TAIL.exec(line);
    if (!tail) throw new Error(`not an edge-format line: ${line}`);
    const [, forwardedFor, host, requestTime, upstreamTime, cacheStatus, acceptLanguage] =
      tail as unknown as string[];
    parsed.forwardedFor = dash(forwardedFor);
    parsed.host = host as string;
    parsed.requestTime = Number(requestTime);
    parsed.upstreamTime = upstreamTime === '-' ? null : Number(upstreamTime);
    parsed.cacheStatus = dash(cacheStatus);
    parsed.acceptLanguage = dash(acceptLanguage);
    if (isLoadBalancer(parsed.peer)) {
      const hops = (parsed.forwardedFor ?? '').split(',').map((hop) => hop.trim());
      // Rightmost hop that is not one of our trusted proxies: what the LB itself saw connecting.
      parsed.client = [...hops].reverse().find((hop) => hop !== '' && !isLoadBalancer(hop)) ?? parsed.peer;
    }
  }
  return parsed;
}

export function parseAll(lines: Iterable<string>, format: 'combined' | 'edge'): ParsedLine[] {
  const out: ParsedLine[] = [];
  for (const line of lines) out.push(parseLine(line, format));
  return out;
}

/** Lines grouped by resolved client. */
export function byClient(lines: readonly ParsedLine[]): Map<string, ParsedLine[]> {
  const groups = new Map<string, ParsedLine[]>();
  for (const line of lines) {
    let group = groups.get(line.client);
    if (!group) {
      group = [];
      groups.set(line.client, group);
    }
    group.push(line);
  }
  return groups;
}
