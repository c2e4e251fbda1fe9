import { readFileSync } from 'node:fs';

/**
 * Sensitive-path matching: the probes scanners send (secrets, backdoors, admin panels, path
 * traversal). The lists are CrowdSec's (MIT, bundled in ../data with SOURCE.md); they are read once
 * at module load, the only I/O of this package. Matching walks a trie from the path's end or start
 * char by char, so a request costs a few map probes whatever the list sizes, and allocates nothing.
 */

const dataDir = new URL('../data/', import.meta.url);

function readList(name: string): string[] {
  return readFileSync(new URL(name, dataDir), 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length > 0 && !line.startsWith('#'));
}

interface TrieNode {
  next: Map<number, TrieNode>;
  /** 0: not an entry end; ANYWHERE: matches here; AT_SEGMENT: matches only at a `/` boundary. */
  terminal: number;
}

const ANYWHERE = 1;
const AT_SEGMENT = 2;

function node(): TrieNode {
  return { next: new Map(), terminal: 0 };
}

function lower(c: number): number {
  return c >= 65 && c <= 90 ? c + 32 : c;
}

/** Suffix matcher: entries are inserted reversed and walked from the end of the path. */
class SuffixTrie {
  private readonly root = node();

  add(entry: string, terminal: number): void {
    let n = this.root;
    for (let i = entry.length - 1; i >= 0; i--) {
      const c = lower(entry.charCodeAt(i));
      let child = n.next.get(c);
      if (!child) {
        child = node();
        n.next.set(c, child);
      }
      n = child;
    }
    // An entry matching anywhere subsumes one that needs a segment boundary.
    n.terminal = n.terminal === ANYWHERE || terminal === ANYWHERE ? ANYWHERE : terminal;
  }

  matches(path: string): boolean {
    let n: TrieNode | undefined = this.root;
    for (let i = path.length - 1; i >= 0; i--) {
      n = n.next.get(lower(path.charCodeAt(i)));
      if (n === undefined) return false;
      if (n.terminal === ANYWHERE) return true;
      if (n.terminal === AT_SEGMENT && (i === 0 || path.charCodeAt(i - 1) === 47)) return true;
    }
    return false;
  }
}

/** Prefix matcher: an entry matches when the path continues with its end, `/` or `.`. */
class PrefixTrie {
  private readonly root = node();

  add(entry: string): void {
    let n = this.root;
    // Entries like `/boaform/` end with a slash: the boundary rule covers it.
    const text = entry.endsWith('/') ? entry.slice(0, -1) : entry;
    for (let i = 0; i < text.length; i++) {
      const c = lower(text.charCodeAt(i));
      let child = n.next.get(c);
      if (!child) {
        child = node();
        n.next.set(c, child);
      }
      n = child;
    }
    n.terminal = ANYWHERE;
  }

  matches(path: string): boolean {
    let n: TrieNode | undefined = this.root;
    for (let i = 0; i < path.length; i++) {
      n = n.next.get(lower(path.charCodeAt(i)));
      if (n === undefined) return false;
      if (n.terminal !== 0) {
        const after = i + 1 < path.length ? path.charCodeAt(i + 1) : -1;
        if (after === -1 || after === 47 || after === 46) return true;
      }
    }
    return false;
  }
}

export class SensitivePathMatcher {
  private readonly suffixes = new SuffixTrie();
  private readonly prefixes = new PrefixTrie();
  private readonly traversal: string[];
  private readonly injection: string[];

  constructor(extraSuffixes: readonly string[] = []) {
    for (const entry of readList('sensitive_data.txt')) this.suffixes.add(entry, ANYWHERE);
    for (const entry of extraSuffixes) if (entry.length > 0) this.suffixes.add(entry, ANYWHERE);
    for (const entry of readList('backdoors.txt')) this.suffixes.add(entry, AT_SEGMENT);
    for (const entry of readList('admin_interfaces.txt')) this.prefixes.add(entry);
    this.traversal = readList('path_traversal.txt').map((entry) => entry.toLowerCase());
    this.injection = [...readList('sqli_probe_patterns.txt'), ...readList('xss_probe_patterns.txt')].map(
      (entry) => entry.toLowerCase(),
    );
  }

  /**
   * What a request for `path` (no query) probes for: PROBE_ALWAYS (secrets, backups, backdoors,
   * traversal, a WordPress config: no site serves them to visitors), PROBE_IF_REFUSED (an admin
   * interface, a WordPress script: real on the sites that run them, a probe where the answer is
   * 403 or 404 — CrowdSec's http-admin-interface-probing and http-wordpress-scan have the same
   * status condition), or 0.
   */
  pathProbe(path: string): number {
    if (this.suffixes.matches(path) || isWordPressConfig(path)) return PROBE_ALWAYS;
    if (mayTraverse(path) && this.containsTraversal(path)) return PROBE_ALWAYS;
    if (this.prefixes.matches(path) || isWordPressScript(path)) return PROBE_IF_REFUSED;
    return 0;
  }

  /**
   * Whether a request for `path` with `query`, answered `status`, is a probe for something
   * sensitive (pathProbe, and the query's probes).
   */
  matches(path: string, query: string | null, status: number): boolean {
    if (isProbeAnswer(this.pathProbe(path), status)) return true;
    return query !== null && this.queryMatches(query);
  }

  /** Whether a query string carries a traversal, file-scheme, SQL-injection or XSS probe. */
  queryMatches(query: string): boolean {
    return mayProbe(query) && this.probeMatches(query);
  }

  /**
   * {@link queryMatches} of a query known to hold a probe character ({@link isProbeChar}): for a
   * caller that already read the query once for another reason and noted them on the way.
   */
  probeMatches(query: string): boolean {
    if (mayTraverse(query) && this.containsTraversal(query)) return true;
    if (!mayInject(query)) return false;
    const lowered = query.toLowerCase();
    for (const pattern of this.injection) if (lowered.includes(pattern)) return true;
    return false;
  }

  private containsTraversal(text: string): boolean {
    const lowered = text.toLowerCase();
    for (const pattern of this.traversal) if (lowered.includes(pattern)) return true;
    return false;
  }
}

/** {@link SensitivePathMatcher.pathProbe}: a probe whatever the answer. */
export const PROBE_ALWAYS = 2;
/** {@link SensitivePathMatcher.pathProbe}: a probe when refused (403 or 404). */
export const PROBE_IF_REFUSED = 4;

/** 403 or 404: the site has no such thing, or will not show it. */
function isRefused(status: number): boolean {
  return status === 404 || status === 403;
}

/** Whether a request for a path of probe fact `pathProbe` (see pathProbe) answered `status` is a probe. */
export function isProbeAnswer(pathProbe: number, status: number): boolean {
  return pathProbe === PROBE_ALWAYS || (pathProbe === PROBE_IF_REFUSED && isRefused(status));
}

/**
 * `wp-config.php` and its editors' and backups' copies (`.wp-config.php.swp`, `wp-config.php~`,
 * `wp-config.php.orig`, …): WordPress never serves it (CrowdSec: http-wordpress_wpconfig matches
 * a file name containing `wp-config.php`).
 */
function isWordPressConfig(path: string): boolean {
  const at = path.lastIndexOf('/');
  return path.indexOf('wp-config', at) >= 0 || path.indexOf('WP-CONFIG', at) >= 0;
}

/**
 * A WordPress script (`/wp-…/….php`) or a plugin's readme (`/wp-content/plugins/x/readme.txt`):
 * what scanners fetch to find a vulnerable plugin (CrowdSec: http-wordpress-scan,
 * `(/wp-.*\.php|/wp-content/plugins/.*\.(txt|md))$` answered 403/404). Only a probe when refused:
 * a WordPress site serves its own.
 */
function isWordPressScript(path: string): boolean {
  const wp = path.indexOf('/wp-');
  if (wp < 0) return false;
  if (path.endsWith('.php')) return true;
  return path.startsWith('/wp-content/plugins/', wp) && (path.endsWith('.txt') || path.endsWith('.md'));
}

/** 1 at the character codes of `.`, `%`, `:`, `\`, `/`, `<`, `(` and `_` (see mayProbe). */
const PROBE_CHARS = new Uint8Array(128);
for (const c of '.%:\\/<(_') PROBE_CHARS[c.charCodeAt(0)] = 1;

/**
 * Whether a character code is one that every text the query checks look for contains (see
 * mayProbe): a query without any is no probe. One table load instead of eight comparisons.
 */
export function isProbeChar(c: number): boolean {
  return c < 128 && PROBE_CHARS[c] === 1;
}

/**
 * One pass over a query before the pre-checks below (each a scan of its own): every text either
 * of them looks for contains `.`, `%`, `:`, `\\`, `/`, `<`, `(` or `_`, and most queries (`id=42`,
 * `since=1705815115&device=41d7e1`) contain none.
 */
export function mayProbe(query: string): boolean {
  for (let i = 0; i < query.length; i++) if (isProbeChar(query.charCodeAt(i))) return true;
  return false;
}

/**
 * Cheap pre-check before the injection scan: every SQL-injection or XSS entry contains `%`, `<`,
 * `(`, `:` or one of two keywords. Cache-busting queries (`_=1705827706309`) skip the scan.
 */
function mayInject(query: string): boolean {
  return (
    query.includes('%') ||
    query.includes('<') ||
    query.includes('(') ||
    query.includes(':') ||
    query.includes('information_schema') ||
    query.includes('xp_cmdshell')
  );
}

/**
 * Cheap pre-check before the substring scan: every traversal entry contains `..`, `%`, `:`, `\`
 * or a system directory name. Plain page paths skip the scan.
 */
function mayTraverse(path: string): boolean {
  return (
    path.includes('..') ||
    path.includes('%') ||
    path.includes(':') ||
    path.includes('\\') ||
    path.includes('/etc/') ||
    path.includes('/proc/') ||
    path.includes('/var/log/') ||
    path.includes('.ini') ||
    path.includes('.asa')
  );
}
