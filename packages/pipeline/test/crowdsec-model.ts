/**
 * A model of CrowdSec's HTTP scenarios, for a peer comparison on the same traffic (not used by
 * edgeguard itself). Each scenario is a per-address leaky bucket as CrowdSec's hub defines it:
 * filter, `distinct`, capacity, leak speed (crowdsecurity/hub:scenarios/crowdsecurity/*.yaml; the
 * numbers are those of ../shared/data/crowdsec-hub-tests/SCENARIO_PARAMS.json, summarised in
 * ../shared/notes/peers.md §1.3). Bucket mechanics (crowdsecurity/crowdsec:pkg/leakybucket): a
 * bucket starts with `capacity` tokens, each poured event takes one, tokens come back one per leak
 * period, an event that finds none overflows (a trigger bucket overflows on its first event); a
 * `distinct` bucket drops an event whose value it already holds; a bucket that overflows, or that
 * leaks empty, is destroyed and the next event starts a new one.
 *
 * Which field holds what: the hub test http-wordpress-scan's scenario.assert shows `http_path`
 * (Meta) with the query string (`/wp-content/plugins/…/README.md?cache=false`, `http_args_len` 11)
 * while the scenario's filter on `evt.Parsed.request` (`…\\.(txt|md))$`) matched that event: so
 * after the enricher `request` is the path alone and `http_path` the whole target.
 *
 * Approximations, all in CrowdSec's favour or neutral: buckets are keyed by address only (the hub
 * keys crawl and probing by address and host; the scenarios here have one host); the static-resource
 * extension list is the usual one of the http-logs enricher, not byte-for-byte; the verified-crawler
 * whitelist (seo-bots-whitelist) is applied by the caller. The data files (bad user agents,
 * sensitive files, traversal, backdoors, admin interfaces, sqli/xss patterns) are read from
 * ../shared/data/crowdsec-sec-lists, the snapshot the hub tests were run with.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { AccessLog } from '@edgeguard/schema';

export const SEC_LISTS = new URL('../../../../shared/data/crowdsec-sec-lists/web/', import.meta.url);

/** What the scenarios read of a request, as CrowdSec's nginx parser and http-logs enricher name it. */
interface HttpEvent {
  verb: string;
  /** `http_path`: the request target as logged, query string included. */
  httpPath: string;
  /** `http_args`: the query string, '' when none. */
  args: string;
  /** `request` after the http-logs enricher: the path without the query string. */
  request: string;
  /** `file_name`: the last path segment. */
  fileName: string;
  status: number;
  userAgent: string;
  /** `static_ressource`: a file extension of an asset. */
  isStatic: boolean;
  /** `http_version` (`1.1`), '' when the request line had none. */
  version: string;
}

// The enricher's static extensions (crowdsecurity/hub:parsers/s02-enrich/crowdsecurity/http-logs.yaml;
// peers.md §1.3 lists the usual ones).
const STATIC_EXTENSIONS = new Set([
  'js',
  'mjs',
  'css',
  'png',
  'jpg',
  'jpeg',
  'gif',
  'ico',
  'svg',
  'webp',
  'avif',
  'bmp',
  'woff',
  'woff2',
  'ttf',
  'otf',
  'eot',
  'mp4',
  'webm',
  'mp3',
  'ogg',
  'wav',
  'gz',
  'zip',
  'pdf',
  'map',
  'txt',
  'xml',
]);

function eventOf(log: AccessLog): HttpEvent {
  const slash = log.path.lastIndexOf('/');
  const fileName = log.path.slice(slash + 1);
  const dot = fileName.lastIndexOf('.');
  const extension = dot > 0 ? fileName.slice(dot + 1).toLowerCase() : '';
  const args = log.query ?? '';
  return {
    verb: log.method,
    httpPath: args ? `${log.path}?${args}` : log.path,
    args,
    request: log.path,
    fileName,
    status: log.status,
    userAgent: log.userAgent ?? '',
    isStatic: STATIC_EXTENSIONS.has(extension),
    version: log.protocol?.startsWith('HTTP/') ? log.protocol.slice(5) : '',
  };
}

export interface Scenario {
  name: string;
  /** `base-http-scenarios` (installed with CrowdSec's nginx/apache collections) or `http-dos`. */
  collection: 'base-http-scenarios' | 'http-dos';
  filter: (e: HttpEvent) => boolean;
  distinct?: (e: HttpEvent) => string;
  /** 0: a trigger (its first event overflows). */
  capacity: number;
  leakMs: number;
  blackholeMs: number;
}

function listOf(file: string): string[] {
  return readFileSync(new URL(file, SEC_LISTS), 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

/** The scenarios, or null when ../shared/data (their data files) is absent. */
export function crowdsecScenarios(): Scenario[] | null {
  if (!existsSync(SEC_LISTS)) return null;
  const badAgents = listOf('bad_user_agents.regex.txt').map((source) => new RegExp(source));
  const sensitive = listOf('sensitive_data.txt');
  const traversal = listOf('path_traversal.txt');
  const backdoors = new Set(listOf('backdoors.txt'));
  const admin = listOf('admin_interfaces.txt').map((entry) => entry.toLowerCase());
  const sqli = listOf('sqli_probe_patterns.txt').map((entry) => entry.toUpperCase());
  const xss = listOf('xss_probe_patterns.txt').map((entry) => entry.toUpperCase());
  const s = 1000;
  const denied = (e: HttpEvent) => e.status === 404 || e.status === 403;
  return [
    // base-http-scenarios
    {
      name: 'http-crawl-non_statics',
      collection: 'base-http-scenarios',
      filter: (e) => !e.isStatic && (e.verb === 'GET' || e.verb === 'HEAD'),
      distinct: (e) => e.fileName,
      capacity: 40,
      leakMs: 0.5 * s,
      blackholeMs: 60 * s,
    },
    {
      name: 'http-probing',
      collection: 'base-http-scenarios',
      filter: (e) => (denied(e) || e.status === 400) && !e.isStatic,
      distinct: (e) => e.httpPath,
      capacity: 10,
      leakMs: 10 * s,
      blackholeMs: 300 * s,
    },
    {
      name: 'http-bad-user-agent',
      collection: 'base-http-scenarios',
      filter: (e) => badAgents.some((agent) => agent.test(e.userAgent)),
      capacity: 1,
      leakMs: 60 * s,
      blackholeMs: 120 * s,
    },
    {
      name: 'http-sensitive-files',
      collection: 'base-http-scenarios',
      filter: (e) => sensitive.some((suffix) => e.request.endsWith(suffix)),
      distinct: (e) => e.request,
      capacity: 4,
      leakMs: 5 * s,
      blackholeMs: 300 * s,
    },
    {
      name: 'http-path-traversal-probing',
      collection: 'base-http-scenarios',
      filter: (e) => traversal.some((pattern) => e.httpPath.includes(pattern)),
      distinct: (e) => e.httpPath,
      capacity: 3,
      leakMs: 10 * s,
      blackholeMs: 120 * s,
    },
    {
      name: 'http-backdoors-attempts',
      collection: 'base-http-scenarios',
      filter: (e) => backdoors.has(e.fileName),
      distinct: (e) => e.fileName,
      capacity: 1,
      leakMs: 5 * s,
      blackholeMs: 300 * s,
    },
    {
      name: 'http-admin-interface-probing',
      collection: 'base-http-scenarios',
      filter: (e) => denied(e) && admin.some((entry) => e.httpPath.toLowerCase().includes(entry)),
      distinct: (e) => e.httpPath,
      capacity: 2,
      leakMs: 10 * s,
      blackholeMs: 60 * s,
    },
    {
      name: 'http-sqli-probbing-detection',
      collection: 'base-http-scenarios',
      filter: (e) => sqli.some((pattern) => e.args.toUpperCase().includes(pattern)),
      distinct: (e) => e.args,
      capacity: 10,
      leakMs: 1 * s,
      blackholeMs: 300 * s,
    },
    {
      name: 'http-xss-probbing',
      collection: 'base-http-scenarios',
      filter: (e) => xss.some((pattern) => e.args.toUpperCase().includes(pattern)),
      distinct: (e) => e.args,
      capacity: 5,
      leakMs: 1 * s,
      blackholeMs: 300 * s,
    },
    {
      name: 'http-bf-wordpress_bf',
      collection: 'base-http-scenarios',
      filter: (e) => e.fileName === 'wp-login.php' && e.verb === 'POST' && e.status === 200,
      capacity: 5,
      leakMs: 10 * s,
      blackholeMs: 300 * s,
    },
    // http-generic-bf.yaml's 401 and 403 scenarios (LePresidente/http-generic-401-bf, -403-bf); its
    // `auth_fail` one needs an application parser to tag the event, which plain access logs lack.
    ...([401, 403] as const).map(
      (status): Scenario => ({
        name: `http-generic-${status}-bf`,
        collection: 'base-http-scenarios',
        filter: (e) => e.verb === 'POST' && e.status === status,
        capacity: 5,
        leakMs: 10 * s,
        blackholeMs: 60 * s,
      }),
    ),
    {
      name: 'http-wordpress-scan',
      collection: 'base-http-scenarios',
      filter: (e) => denied(e) && /(\/wp-.*\.php|\/wp-content\/plugins\/.*\.(txt|md))$/i.test(e.request),
      distinct: (e) => e.request,
      capacity: 3,
      leakMs: 10 * s,
      blackholeMs: 300 * s,
    },
    {
      name: 'http-open-proxy',
      collection: 'base-http-scenarios',
      filter: (e) =>
        (e.status === 400 || e.status === 405) && (e.verb === 'CONNECT' || /^https?:\/\//.test(e.request)),
      capacity: 0,
      leakMs: 0,
      blackholeMs: 120 * s,
    },
    // http-dos (a separate collection)
    {
      name: 'http-dos-bypass-cache',
      collection: 'http-dos',
      filter: (e) => !e.isStatic && e.args.length >= 7 && e.args.length <= 12 && /^[0-9]+$/.test(e.args),
      distinct: (e) => e.args,
      capacity: 30,
      leakMs: 1 * s,
      blackholeMs: 60 * s,
    },
    {
      name: 'http-dos-random-uri',
      collection: 'http-dos',
      filter: (e) =>
        e.verb === 'GET' &&
        !e.isStatic &&
        e.fileName.length === 6 &&
        e.fileName.toUpperCase() === e.fileName &&
        e.args === '',
      capacity: 30,
      leakMs: 1 * s,
      blackholeMs: 120 * s,
    },
    {
      name: 'http-dos-switching-ua',
      collection: 'http-dos',
      filter: () => true,
      distinct: (e) => e.userAgent,
      capacity: 10,
      leakMs: 8 * s,
      blackholeMs: 120 * s,
    },
    {
      name: 'http-dos-invalid-http-versions',
      collection: 'http-dos',
      filter: (e) => e.version !== '' && !['0.9', '1.0', '1.1', '2.0', '3.0'].includes(e.version),
      capacity: 0,
      leakMs: 0,
      blackholeMs: 120 * s,
    },
  ];
}

interface Bucket {
  tokens: number;
  last: number;
  seen: Set<string> | null;
  /** Overflowed: destroyed, and no new bucket for this key until `quietUntil`. */
  overflowed: boolean;
  /** Until when a new overflow of this key is suppressed (the blackhole). */
  quietUntil: number;
}

/** Overflows: the first time each address overflowed each scenario (epoch ms). */
export type Overflows = Map<string, Map<string, number>>;

/** Pours `logs` (in time order) into per-address buckets of `scenarios`. */
export function runScenarios(scenarios: readonly Scenario[], logs: Iterable<AccessLog>): Overflows {
  const buckets = scenarios.map(() => new Map<string, Bucket>());
  const overflows: Overflows = new Map();
  for (const log of logs) {
    const event = eventOf(log);
    const ip = log.clientAddress;
    scenarios.forEach((scenario, index) => {
      if (!scenario.filter(event)) return;
      const table = buckets[index]!;
      let bucket = table.get(ip);
      if (bucket?.overflowed) {
        if (log.time < bucket.quietUntil) return;
        bucket = undefined;
      }
      if (bucket) {
        bucket.tokens = Math.min(
          scenario.capacity,
          bucket.tokens + (log.time - bucket.last) / scenario.leakMs,
        );
        bucket.last = log.time;
        // Leaked empty: that bucket is gone, this event starts a new one.
        if (bucket.tokens >= scenario.capacity) bucket = undefined;
      }
      if (!bucket) {
        bucket = {
          tokens: scenario.capacity,
          last: log.time,
          seen: scenario.distinct ? new Set() : null,
          overflowed: false,
          quietUntil: 0,
        };
        table.set(ip, bucket);
      }
      if (bucket.seen) {
        const value = scenario.distinct!(event);
        if (bucket.seen.has(value)) return;
        bucket.seen.add(value);
      }
      if (bucket.tokens >= 1) {
        bucket.tokens -= 1;
        return;
      }
      let own = overflows.get(ip);
      if (!own) {
        own = new Map();
        overflows.set(ip, own);
      }
      if (!own.has(scenario.name)) own.set(scenario.name, log.time);
      // Destroyed on overflow; the next event after the blackhole starts afresh.
      table.set(ip, {
        tokens: 0,
        last: log.time,
        seen: null,
        overflowed: true,
        quietUntil: log.time + scenario.blackholeMs,
      });
    });
  }
  return overflows;
}
