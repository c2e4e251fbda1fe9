import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';

const bin = new URL('../bin/edgeguard.js', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'eg-cli-'));

function edgeguard(args: string[], input?: string) {
  const run = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', input, cwd: work });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

function readNdjson(path: string): Record<string, unknown>[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** A small combined log: a scanner probing sensitive files, a browsing human, and two bad lines. */
function sampleLog(): string {
  const lines: string[] = [];
  const t0 = Date.UTC(2024, 0, 21, 9, 0, 0);
  const stamp = (ms: number) => {
    const d = new Date(ms);
    const mon = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][
      d.getUTCMonth()
    ];
    const p = (n: number) => String(n).padStart(2, '0');
    return `${p(d.getUTCDate())}/${mon}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
  };
  const probes = [
    '/.env',
    '/.git/config',
    '/wp-login.php',
    '/phpmyadmin/',
    '/.aws/credentials',
    '/config.json',
    '/admin.php',
    '/backup.sql',
    '/.htpasswd',
    '/server-status',
  ];
  for (let i = 0; i < 60; i++) {
    const path = probes[i % probes.length]!;
    lines.push(
      `198.51.100.66 - - [${stamp(t0 + i * 500)}] "GET ${path}?x=${i} HTTP/1.1" 404 153 "-" "Mozilla/5.0 zgrab/0.x"`,
    );
  }
  for (let i = 0; i < 20; i++) {
    const ms = t0 + i * 15_000;
    lines.push(
      `203.0.113.10 - - [${stamp(ms)}] "GET /articles/${i} HTTP/2.0" 200 5120 "https://news.example/" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"`,
    );
    lines.push(
      `203.0.113.10 - - [${stamp(ms + 200)}] "GET /static/app.css HTTP/2.0" 200 900 "https://news.example/articles/${i}" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"`,
    );
  }
  lines.push('203.0.113.10 - - [21/Jan/2024:09:10:00 +0000] "GET /trunc');
  lines.push('\u0000\u0001binary garbage');
  return `${lines.join('\n')}\n`;
}

describe('edgeguard replay', () => {
  it('writes decisions, verdicts, policies and a report, and prints a summary', () => {
    const log = join(work, 'access.log.gz');
    writeFileSync(log, gzipSync(sampleLog()));
    const out = (name: string) => join(work, name);
    const run = edgeguard([
      'replay',
      log,
      '--format',
      'combined',
      '--decisions',
      out('decisions.ndjson'),
      '--verdicts',
      out('verdicts.ndjson'),
      '--policies',
      out('policies.ndjson'),
      '--report',
      out('report.json'),
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /Clients by verdict/);
    assert.match(run.stdout, /Rejected lines: 2/);

    const verdicts = readNdjson(out('verdicts.ndjson'));
    assert.deepEqual(verdicts.map((v) => v.ip).sort(), ['198.51.100.66', '203.0.113.10']);
    const human = verdicts.find((v) => v.ip === '203.0.113.10')!;
    assert.equal(human.verdict, 'allow');
    assert.equal(human.requests, 40);
    assert.equal(human.decidedAt, null);
    const scanner = verdicts.find((v) => v.ip === '198.51.100.66')!;
    assert.notEqual(scanner.verdict, 'allow', 'a client probing sensitive files must be acted on');
    assert.match(String(scanner.decidedAt), /^2024-01-21T09:00:\d\d/);

    const decisions = readNdjson(out('decisions.ndjson'));
    const onScanner = decisions.filter((d) => d.value === '198.51.100.66');
    assert.ok(onScanner.length > 0);
    for (const d of onScanner) {
      for (const field of [
        'key',
        'scope',
        'value',
        'action',
        'reason',
        'signals',
        'score',
        'decidedAt',
        'expiresAt',
      ]) {
        assert.ok(field in d, `decision lacks ${field}`);
      }
      assert.ok(
        Array.isArray(d.signals) && (d.signals as unknown[]).length > 0,
        'a decision carries its evidence',
      );
      assert.ok(Date.parse(String(d.expiresAt)) > Date.parse(String(d.decidedAt)));
    }
    assert.ok(!decisions.some((d) => d.value === '203.0.113.10'));

    const report = JSON.parse(readFileSync(out('report.json'), 'utf8'));
    assert.equal(report.input.lines, 102);
    assert.equal(report.input.parsed, 100);
    assert.equal(report.rejects.total, 2);
    assert.equal(
      Object.values(report.rejects.byReason as Record<string, number>).reduce((a, b) => a + b, 0),
      2,
    );
    assert.equal(report.topOffenders[0].ip, '198.51.100.66');
    const timeline = report.timeline as { minute: number; requests: number; flagged: number }[];
    assert.equal(
      timeline.reduce((sum, b) => sum + b.requests, 0),
      100,
      'every parsed request is charted once',
    );
    const flagged = timeline.reduce((sum, b) => sum + b.flagged, 0);
    assert.ok(
      flagged > 0 && flagged < 60,
      `the scanner's requests after its decision are charted as flagged (${flagged})`,
    );
  });

  it('summarises exactly what the NDJSON outputs hold: verdict counts, top offenders, decisions per key', () => {
    const fixtures = new URL('../../testkit/fixtures/', import.meta.url).pathname;
    const out = (name: string) => join(work, `demo-${name}`);
    const run = edgeguard([
      'replay',
      join(fixtures, 'demo.log.gz'),
      '--config',
      join(fixtures, 'demo.config.json'),
      '--quiet',
      '--decisions',
      out('decisions.ndjson'),
      '--verdicts',
      out('verdicts.ndjson'),
      '--report',
      out('report.json'),
    ]);
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(readFileSync(out('report.json'), 'utf8'));
    const verdicts = readNdjson(out('verdicts.ndjson')) as {
      ip: string;
      verdict: string;
      requests: number;
    }[];
    const strength: Record<string, number> = { allow: 0, throttle: 1, challenge: 2, block: 3 };
    const byVerdict: Record<string, { clients: number; requests: number }> = {};
    const ranked = [...verdicts].sort(
      (a, b) => strength[b.verdict]! - strength[a.verdict]! || b.requests - a.requests,
    );
    for (const v of ranked) {
      byVerdict[v.verdict] ??= { clients: 0, requests: 0 };
      byVerdict[v.verdict]!.clients++;
      byVerdict[v.verdict]!.requests += v.requests;
    }
    assert.deepEqual(report.clients.byVerdict, byVerdict, 'strongest first, every client counted');
    assert.equal(report.clients.total, verdicts.length);
    const top = ranked.filter((v) => v.verdict !== 'allow').slice(0, 15);
    assert.equal(top.length, 15);
    assert.deepEqual(
      report.topOffenders.map((o: { ip: string }) => o.ip),
      top.map((v) => v.ip),
    );

    const decisions = readNdjson(out('decisions.ndjson')) as {
      key: string;
      reason: string;
      action: string;
      score: number;
      signals: unknown[];
    }[];
    const latest = new Map(decisions.map((d) => [d.key, d]));
    assert.equal(report.decisions.published, decisions.length);
    assert.equal(report.decisions.keys, latest.size);
    const reasons: Record<string, number> = {};
    for (const d of latest.values()) reasons[d.reason] = (reasons[d.reason] ?? 0) + 1;
    assert.deepEqual({ ...report.decisions.byReason }, reasons);
    for (const offender of report.topOffenders as { by: string[]; reason: string; signals: unknown[] }[]) {
      const explaining = offender.by
        .map((key) => latest.get(key)!)
        .sort((a, b) => strength[b.action]! - strength[a.action]! || b.score - a.score)[0]!;
      assert.equal(offender.reason, explaining.reason);
      assert.deepEqual(offender.signals, explaining.signals, 'the evidence of its latest decision');
    }
  });

  it('never decides on a trusted proxy, and warns once when the format logs no X-Forwarded-For', () => {
    // sampleLog's clients behind two load balancers, X-Forwarded-For logged after the host (so
    // `auto` reads the lines as combined and the client is the balancer), then the same traffic in
    // nginx's `main` format, whose X-Forwarded-For the trusted proxies resolve.
    const lines = sampleLog()
      .split('\n')
      .filter((line) => /^\d+\.\d+\.\d+\.\d+ - - \[/.test(line));
    const behind = (xffLast: boolean) =>
      lines
        .map((line, i) => {
          const client = line.slice(0, line.indexOf(' '));
          const rest = line.slice(client.length);
          const peer = `10.0.0.${5 + (i % 2)}`;
          return xffLast ? `${peer}${rest} shop.example "${client}"` : `${peer}${rest} "${client}"`;
        })
        .join('\n');
    const replay = (name: string, log: string) => {
      const run = edgeguard(
        [
          'replay',
          '-',
          '--trusted-proxies',
          '10.0.0.0/8',
          '--quiet',
          '--decisions',
          join(work, `${name}-decisions.ndjson`),
          '--report',
          join(work, `${name}-report.json`),
        ],
        log,
      );
      assert.equal(run.code, 0, run.stderr);
      const report = JSON.parse(readFileSync(join(work, `${name}-report.json`), 'utf8'));
      return { stderr: run.stderr, report, decided: readNdjson(join(work, `${name}-decisions.ndjson`)) };
    };

    const unresolved = replay('lb-combined', behind(true));
    assert.equal(unresolved.report.input.format, 'combined');
    assert.deepEqual(
      unresolved.decided.filter((d) => String(d.value).startsWith('10.')),
      [],
      'blocking a load balancer blocks everyone behind it',
    );
    assert.equal(unresolved.report.warnings.length, 1);
    assert.match(unresolved.report.warnings[0], /'combined'.*no X-Forwarded-For.*--format nginx-main/);
    assert.equal(unresolved.stderr.match(/warning:/g)?.length, 1, unresolved.stderr);
    assert.match(unresolved.stderr, /\$http_x_forwarded_for/);

    const resolved = replay('lb-main', behind(false));
    assert.equal(resolved.report.input.format, 'nginx-main');
    assert.deepEqual(resolved.report.warnings, []);
    assert.doesNotMatch(resolved.stderr, /warning/);
    assert.ok(
      resolved.decided.some((d) => d.value === '198.51.100.66'),
      'the scanner behind them is decided on',
    );
  });

  it('reads the log from stdin with -', () => {
    const run = edgeguard(['replay', '-', '--quiet', '--report', join(work, 'stdin.json')], sampleLog());
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(readFileSync(join(work, 'stdin.json'), 'utf8'));
    assert.equal(report.input.parsed, 100);
    assert.equal(report.input.format, 'combined', 'auto sniffs the combined format');
  });

  it('names an unknown flag and shows the usage', () => {
    const run = edgeguard(['replay', 'x.log', '--trusted-proxy', '10.0.0.0/8']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /Unknown option '--trusted-proxy'/);
    assert.match(run.stderr, /Usage: edgeguard replay/);
  });

  it('names a bad config field with the file it came from', () => {
    const config = join(work, 'bad.json');
    writeFileSync(config, JSON.stringify({ input: { trustedProxys: ['10.0.0.0/8'] } }));
    const run = edgeguard(['replay', '-', '--config', config], sampleLog());
    assert.equal(run.code, 2);
    assert.match(
      run.stderr,
      /bad\.json: unknown field 'input\.trustedProxys' \(did you mean 'trustedProxies'\?\)/,
    );
  });

  it('rejects an unknown format name, listing the valid ones', () => {
    const run = edgeguard(['replay', '-', '--format', 'nginx-combined'], sampleLog());
    assert.equal(run.code, 2);
    assert.match(run.stderr, /nginx-combined/);
    assert.match(run.stderr, /combined/);
  });

  it('says clearly when the input file does not exist', () => {
    const run = edgeguard(['replay', join(work, 'missing.log')]);
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /missing\.log/);
  });

  it('documents every flag in --help', () => {
    const run = edgeguard(['replay', '--help']);
    assert.equal(run.code, 0);
    for (const flag of [
      '--format',
      '--trusted-proxies',
      '--allowlist',
      '--config',
      '--decisions',
      '--verdicts',
      '--policies',
      '--report',
    ]) {
      assert.match(run.stdout, new RegExp(flag));
    }
  });
});
