import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { CRAWLER_RANGES_DATE } from '@edgeguard/fingerprint';

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

const t0 = Date.UTC(2024, 0, 21, 9, 0, 0);

/** `$time_local` of a log time. */
function stamp(ms: number): string {
  const d = new Date(ms);
  const mon = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][
    d.getUTCMonth()
  ];
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${mon}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

/** A small combined log: a scanner probing sensitive files, a browsing human, and two bad lines. */
function sampleLog(): string {
  const lines: string[] = [];
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

/** The four output flags, each naming its file through `out`. */
function everyOutput(out: (name: string) => string): string[] {
  return ['decisions.ndjson', 'verdicts.ndjson', 'policies.ndjson', 'report.json'].flatMap((name) => [
    `--${name.split('.')[0]}`,
    out(name),
  ]);
}

/** Replays `log` from stdin with --trusted-proxies 10.0.0.0/8; its report and decisions (`name` names the files). */
function replayBehindProxies(name: string, log: string) {
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
}

let demo: { run: ReturnType<typeof edgeguard>; out: (name: string) => string } | undefined;

/** The demo fixture replayed once with every output, for the tests that read them. */
function demoReplay() {
  if (demo) return demo;
  const fixtures = new URL('../../testkit/fixtures/', import.meta.url).pathname;
  const out = (name: string) => join(work, `demo-${name}`);
  const run = edgeguard([
    'replay',
    join(fixtures, 'demo.log.gz'),
    '--config',
    join(fixtures, 'demo.config.json'),
    '--quiet',
    ...everyOutput(out),
  ]);
  demo = { run, out };
  return demo;
}

describe('edgeguard replay', () => {
  it('writes decisions, verdicts, policies and a report, and prints a summary', () => {
    const log = join(work, 'access.log.gz');
    writeFileSync(log, gzipSync(sampleLog()));
    const out = (name: string) => join(work, name);
    const run = edgeguard(['replay', log, '--format', 'combined', ...everyOutput(out)]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /Clients by verdict/);
    assert.match(run.stdout, /Traffic over time \(requests per 1 min, UTC;/);
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
    const { run, out } = demoReplay();
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

  it('decides on a log with one forward-dated line exactly as on the clean log, and says the line was held back', () => {
    const fixtures = new URL('../../testkit/fixtures/', import.meta.url).pathname;
    const clean = gunzipSync(readFileSync(join(fixtures, 'demo.log.gz')))
      .toString('utf8')
      .split('\n');
    const replay = (name: string, lines: string[]) => {
      writeFileSync(join(work, `${name}.log`), lines.join('\n'));
      const args = ['replay', join(work, `${name}.log`), '--config', join(fixtures, 'demo.config.json')];
      const run = edgeguard([...args, '--decisions', join(work, `${name}-decisions.ndjson`)]);
      assert.equal(run.code, 0, run.stderr);
      return { stdout: run.stdout, decisions: readNdjson(join(work, `${name}-decisions.ndjson`)) };
    };
    const before = replay('demo-clean', clean);
    const keyed = (ds: Record<string, unknown>[]) => ds.map((d) => `${d.key} ${d.action} ${d.decidedAt}`);
    assert.ok(before.decisions.length > 1000, `the clean demo decides (${before.decisions.length})`);
    assert.doesNotMatch(before.stdout, /clock jump|behind the newest line/, 'a clean log prints no warning');
    // Line 1001, then line 1, three hours ahead: either alone used to move event time, dropping
    // every later line as late (the first line before any other could dispute it).
    for (const line of [1001, 1]) {
      const edited = [...clean];
      edited[line - 1] = edited[line - 1]!.replace('21/Jan/2024:09:', '21/Jan/2024:12:');
      assert.notEqual(edited[line - 1], clean[line - 1]);
      const after = replay(`demo-forward-${line}`, edited);
      assert.deepEqual(keyed(after.decisions), keyed(before.decisions), `line ${line} ahead`);
      assert.match(
        after.stdout,
        /1 line was dated more than 10m0s ahead of the newest line before it, so counted at that line's time/,
      );
      assert.match(after.stdout, new RegExp(`demo-forward-${line}\\.log:${line} logged 2024-01-21T12:`));
    }
  });

  it('counts the first requests after a quiet gap at their own time, not as a clock jump', () => {
    // A person reads at 09:00; two hours later a scanner starts. Its first 7 requests were counted
    // at 09:04:45 (a jump not yet confirmed) and reported as 7 clock jumps: a small site's every
    // quiet spell misdated its first requests (1,077 of almhuette-raith-10k's 10,000 lines).
    const lines = sampleLog().split('\n');
    const human = lines.filter((line) => line.startsWith('203.0.113.10 ') && line.includes('" 200 '));
    const gap = 2 * 3_600_000;
    const scanner = lines
      .filter((line) => line.startsWith('198.51.100.66 '))
      .map((line, i) => line.replace(/\[[^\]]+\]/, `[${stamp(t0 + gap + i * 500)}]`));
    const out = (name: string) => join(work, `gap-${name}`);
    const run = edgeguard(
      [
        'replay',
        '-',
        '--quiet',
        '--decisions',
        out('decisions.ndjson'),
        '--verdicts',
        out('verdicts.ndjson'),
        '--report',
        out('report.json'),
      ],
      `${[...human, ...scanner].join('\n')}\n`,
    );
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(readFileSync(out('report.json'), 'utf8'));
    assert.equal(report.eventTime.clockJumps, 0, 'a real gap is no clock jump');
    const decided = readNdjson(out('decisions.ndjson')).filter((d) => d.value === '198.51.100.66');
    assert.ok(decided.length > 0, 'the scanner is decided on');
    const arrived = new Date(t0 + gap).toISOString();
    for (const d of decided)
      assert.ok(String(d.decidedAt) >= arrived, `decided at ${d.decidedAt}, arrived ${arrived}`);
    const verdict = readNdjson(out('verdicts.ndjson')).find((v) => v.ip === '198.51.100.66')!;
    assert.ok(String(verdict.caughtAt) >= arrived, `caught at ${verdict.caughtAt}`);
  });

  it('says how many lines were too late to count, and what to check', () => {
    // The scanner's first probe again after 4 minutes of traffic: far behind the 60 s allowed.
    const log = sampleLog().replace(/\n([^\n]*\n)$/, (_, last) => `\n${sampleLog().split('\n')[0]}\n${last}`);
    const run = edgeguard(['replay', '-', '--format', 'combined', '--report', join(work, 'late.json')], log);
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(readFileSync(join(work, 'late.json'), 'utf8'));
    assert.equal(report.eventTime.late, 1);
    assert.equal(report.eventTime.clockJumps, 0);
    assert.match(
      run.stdout,
      /1 line arrived more than 1m0s behind the newest line and was not counted: is the input out of order/,
    );
  });

  it('says how many requests had a host + path too long to track as content, in the summary and the report', () => {
    const long = `/a/${'x'.repeat(700)}`;
    const log = [1, 2, 3]
      .map((s) => `203.0.113.5 - - [${stamp(t0 + s * 1000)}] "GET ${long} HTTP/1.1" 200 100 "-" "curl/8.4.0"`)
      .join('\n');
    const run = edgeguard(
      ['replay', '-', '--format', 'combined', '--report', join(work, 'long.json')],
      `${log}\n`,
    );
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(readFileSync(join(work, 'long.json'), 'utf8'));
    assert.equal(report.stats.untrackedContentRequests, 3);
    assert.equal(report.stats.state.contentKeys, 0);
    assert.match(run.stdout, /3 requests for a host \+ path longer than detect\.bounds\.maxContentKeyLength/);
  });

  it('replays the lines before the cut of a truncated gzip, writes every output and exits 3', () => {
    const whole = gzipSync(`${sampleLog().split('\n').slice(0, 100).join('\n')}\n`);
    const log = join(work, 'cut.log.gz');
    writeFileSync(log, whole.subarray(0, Math.floor(whole.length * 0.8)));
    const out = (name: string) => join(work, `cut-${name}`);
    const run = edgeguard([
      'replay',
      log,
      '--verdicts',
      out('verdicts.ndjson'),
      '--report',
      out('report.json'),
    ]);
    assert.equal(run.code, 3, run.stderr);
    assert.match(run.stdout, /INPUT CUT SHORT: .*cut\.log\.gz:\d+: unexpected end of file in the gzip data/);
    assert.match(run.stdout, /Clients by verdict/, 'the summary is printed');
    assert.match(run.stderr, /input cut short: .*cut\.log\.gz/);
    const report = JSON.parse(readFileSync(out('report.json'), 'utf8'));
    assert.ok(report.input.parsed > 0 && report.input.parsed < 100, `${report.input.parsed} parsed`);
    assert.equal(report.rejects.byReason['bad-gzip'], 1);
    const [sample] = report.rejects.samples['bad-gzip'];
    assert.equal(sample.location, `${log}:${report.input.lines}`, 'the file and the line it broke off');
    assert.equal(report.input.lines, report.input.parsed + report.input.rejected, 'the counts add up');
    assert.match(sample.message, /^unexpected end of file/, 'the location is said once, in its own field');
    assert.match(run.stdout, /bad-gzip +1 {2}e\.g\. \S+cut\.log\.gz:\d+ unexpected end of file/);
    assert.match(report.input.cutShort, /unexpected end of file/);
    assert.ok(readNdjson(out('verdicts.ndjson')).length > 0, 'verdicts of the lines read');
  });

  it('counts a fake gzip (magic bytes, then garbage) as cut short rather than aborting', () => {
    const log = join(work, 'fake.gz');
    writeFileSync(log, Buffer.from('\x1f\x8bgarbage that is not deflate', 'latin1'));
    const run = edgeguard(['replay', log, '--report', join(work, 'fake.json')]);
    assert.equal(run.code, 3, run.stderr);
    assert.match(run.stdout, /unknown compression method/);
    const report = JSON.parse(readFileSync(join(work, 'fake.json'), 'utf8'));
    assert.equal(report.rejects.byReason['bad-gzip'], 1);
  });

  for (const flag of ['--decisions', '--verdicts', '--policies', '--report']) {
    it(`fails before reading anything when ${flag} cannot be written, naming flag, path and cause`, () => {
      const path = join(work, 'no-such-dir', 'out.ndjson');
      const run = edgeguard(['replay', '-', flag, path], sampleLog());
      assert.equal(run.code, 2, run.stderr);
      assert.equal(
        run.stderr,
        `edgeguard replay: ${flag} ${path}: cannot write it: no such file or directory (ENOENT)\n`,
      );
      assert.equal(run.stdout, '', 'no summary: nothing was replayed');
    });
  }

  it('leaves every output as it was when one of them cannot be written: nothing emptied, nothing created', () => {
    const report = join(work, 'kept-report.json');
    writeFileSync(report, '{"kept":true}\n');
    const created = join(work, 'not-created.ndjson');
    const run = edgeguard(
      [
        'replay',
        '-',
        '--report',
        report,
        '--decisions',
        created,
        '--verdicts',
        join(work, 'no-such-dir', 'v.ndjson'),
      ],
      sampleLog(),
    );
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /--verdicts .*no-such-dir\/v\.ndjson: cannot write it/);
    assert.equal(readFileSync(report, 'utf8'), '{"kept":true}\n', 'the existing report is not emptied');
    assert.equal(existsSync(created), false, 'the decisions file opened before the failure is removed');
  });

  it('refuses two outputs naming one file before creating either, naming both flags', () => {
    const run = edgeguard(
      ['replay', '-', '--decisions', 'twice.ndjson', '--verdicts', './twice.ndjson'],
      sampleLog(),
    );
    assert.equal(run.code, 2, run.stderr);
    assert.equal(
      run.stderr,
      'edgeguard replay: --decisions twice.ndjson and --verdicts ./twice.ndjson are the same file: each output needs a file of its own\n',
    );
    assert.equal(existsSync(join(work, 'twice.ndjson')), false, 'nothing created');
    const same = edgeguard(['replay', '-', '--policies', 'p.ndjson', '--report', 'p.ndjson'], sampleLog());
    assert.equal(same.code, 2, same.stderr);
    assert.match(same.stderr, /--policies and --report both name p\.ndjson/);
  });

  it("refuses '-' as an output, which would create a file named '-', and says how to print one", () => {
    const run = edgeguard(['replay', '-', '--quiet', '--report', '-'], sampleLog());
    assert.equal(run.code, 2);
    assert.match(run.stderr, /^edgeguard replay: --report -: outputs are files .*give \/dev\/stdout/);
    assert.equal(existsSync(join(work, '-')), false, 'no file named -');
    // Through a shell pipe: the test's own stdout is a socket, which /dev/stdout cannot open (ENXIO).
    const printed = spawnSync(
      'sh',
      ['-c', `"${process.execPath}" "${bin}" replay - --quiet --report /dev/stdout | cat`],
      { encoding: 'utf8', input: sampleLog(), cwd: work },
    );
    assert.equal(printed.status, 0, printed.stderr);
    assert.equal(JSON.parse(printed.stdout).input.parsed, 100);
  });

  it('refuses an output that is the input log, however spelled, and leaves the log untouched', () => {
    const log = join(work, 'access.log');
    writeFileSync(log, sampleLog());
    symlinkSync(log, join(work, 'access-link.log'));
    for (const [flag, path] of [
      ['--report', 'access.log'],
      ['--decisions', `${work}/./access.log`],
      ['--verdicts', 'access-link.log'],
    ] as const) {
      const run = edgeguard(['replay', log, '--quiet', flag, path]);
      assert.equal(run.code, 2, run.stderr);
      assert.equal(
        run.stderr,
        `edgeguard replay: ${flag} ${path} is the input log ${log}: writing it would empty the log before it is read\n`,
      );
      assert.equal(readFileSync(log, 'utf8'), sampleLog(), `the log is untouched (${flag} ${path})`);
    }
  });

  it('names the file when an output fails while being written', () => {
    const run = edgeguard(['replay', '-', '--quiet', '--verdicts', '/dev/full'], sampleLog());
    assert.equal(run.code, 1);
    assert.match(run.stderr, /cannot write \/dev\/full: ENOSPC/);
  });

  it('writes every time of policies, verdicts and the report as ISO 8601 log time', () => {
    const { run, out } = demoReplay();
    assert.equal(run.code, 0, run.stderr);
    const iso = /^2024-01-21T\d\d:\d\d:\d\d\.\d{3}Z$/;
    const policies = readNdjson(out('policies.ndjson'));
    const report = JSON.parse(readFileSync(out('report.json'), 'utf8'));
    assert.ok(policies.length > 0 && report.cachePolicies.length > 0);
    for (const policy of [...policies, ...report.cachePolicies]) {
      assert.match(String(policy.decidedAt), iso);
      assert.match(String(policy.expiresAt), iso);
    }
    const verdicts = readNdjson(out('verdicts.ndjson'));
    const caught = verdicts.filter((v) => v.caughtAt !== null);
    assert.ok(caught.length > 0, 'some clients were blocked or challenged');
    for (const v of caught) assert.match(String(v.caughtAt), iso);
    assert.ok(
      verdicts.some((v) => v.caughtAt === null),
      'null stays null',
    );
  });

  it('lists declared crawlers off their ranges per crawler, in turns, and says how many more', () => {
    const claims = [
      ...Array.from({ length: 12 }, (_, i) => [
        `198.51.100.${10 + i}`,
        'Googlebot/2.1; +http://www.google.com/bot.html',
      ]),
      ...Array.from({ length: 2 }, (_, i) => [
        `203.0.113.${50 + i}`,
        'bingbot/2.0; +http://www.bing.com/bingbot.htm',
      ]),
    ];
    const log = claims.flatMap(([ip, bot], i) =>
      [0, 1, 2].map(
        (k) =>
          `${ip} - - [${stamp(t0 + i * 1000 + k * 20_000)}] "GET /news/${i}-${k} HTTP/1.1" 200 900 "-" "Mozilla/5.0 (compatible; ${bot})"`,
      ),
    );
    const run = edgeguard(['replay', '-', '--format', 'combined'], `${log.join('\n')}\n`);
    assert.equal(run.code, 0, run.stderr);
    const section = run.stdout.split('Declared crawlers')[1]!.split('\n\n')[0]!;
    assert.match(section, /outside their published ranges: 14 addresses/);
    assert.match(section, /Googlebot +12 addresses +36 req/);
    assert.match(section, /bingbot +2 addresses +6 req/);
    const listed = section.split('\n').filter((line) => / claims /.test(line));
    assert.equal(listed.length, 8);
    assert.equal(
      listed.filter((line) => /claims bingbot/.test(line)).length,
      2,
      'each crawler gets its turn',
    );
    assert.match(section, /… and 6 more addresses \(see --report\)/);
    assert.doesNotMatch(section, /Note:/, 'a log of 2024 is not older than the ranges');
  });

  it('notes when a log is years older than the crawler ranges it is checked against', () => {
    const old = Date.UTC(2015, 4, 20, 9, 0, 0);
    const log = [0, 1, 2].map(
      (k) =>
        `198.51.100.7 - - [${stamp(old + k * 20_000)}] "GET /news/${k} HTTP/1.1" 200 900 "-" "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"`,
    );
    const report = join(work, 'old-crawlers.json');
    const run = edgeguard(['replay', '-', '--format', 'combined', '--report', report], `${log.join('\n')}\n`);
    assert.equal(run.code, 0, run.stderr);
    const note =
      /Note: this log ends 2015-05-20, (\d+\.\d) years before the oldest published crawler list/.exec(
        run.stdout,
      );
    assert.ok(note, run.stdout);
    const last = old + 40_000;
    assert.equal(note[1], ((Date.parse(CRAWLER_RANGES_DATE) - last) / (365.25 * 86_400_000)).toFixed(1));
    assert.match(
      JSON.parse(readFileSync(report, 'utf8')).unverifiedCrawlersNote,
      /^this log ends 2015-05-20/,
    );
  });

  it('warns once per $variable of an nginx format that it does not read, and replays', () => {
    const format =
      'nginx:$remote_addr - $bogus_var [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agnet"';
    const run = edgeguard(['replay', '-', '--quiet', '--format', format], sampleLog());
    assert.equal(run.code, 0, run.stderr);
    assert.equal(
      run.stderr,
      "edgeguard replay: warning: the log format's $bogus_var is not a variable edgeguard reads; its values are skipped\n" +
        "edgeguard replay: warning: the log format's $http_user_agnet is not a variable edgeguard reads; its values are skipped (did you mean 'http_user_agent'?)\n",
    );
  });

  it('exits 4 with a hint when no line parses in the given format', () => {
    const run = edgeguard(
      ['replay', '-', '--format', 'cloudflare', '--report', join(work, 'none.json')],
      sampleLog(),
    );
    assert.equal(run.code, 4, run.stderr);
    assert.match(
      run.stderr,
      /^edgeguard replay: no line could be parsed as cloudflare: wrong --format\? \(all 102 non-empty lines rejected, e\.g\. -:1: /,
    );
    assert.match(run.stdout, /Rejected lines: 102/, 'the summary is still printed');
    assert.equal(JSON.parse(readFileSync(join(work, 'none.json'), 'utf8')).input.parsed, 0);
    assert.match(run.stderr, /; the first lines read as combined: try --format combined or auto\n$/);
  });

  it('suggests no format when nothing reads the lines', () => {
    const run = edgeguard(['replay', '-', '--format', 'apache', '--quiet'], 'hello\n\u0000\u0001 binary\n');
    assert.equal(run.code, 4, run.stderr);
    assert.doesNotMatch(run.stderr, /read as/);
  });

  it("reads lines up to the config's maxLineLength whole, cuts a long field, and says an overlong line is longer than it", () => {
    const config = join(work, 'long-lines.json');
    writeFileSync(config, JSON.stringify({ input: { maxLineLength: 200_000 } }));
    const agent = 'A'.repeat(100_000);
    const long = `203.0.113.10 - - [21/Jan/2024:09:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "${agent}"`;
    const huge = `203.0.113.11 - - [21/Jan/2024:09:00:00 +0000] "GET /${'x'.repeat(3_000_000)} HTTP/1.1" 200 1 "-" "-"`;
    const run = edgeguard(
      ['replay', '-', '--config', config, '--format', 'combined', '--report', join(work, 'long.json')],
      `${sampleLog()}${long}\n${huge}\n`,
    );
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(readFileSync(join(work, 'long.json'), 'utf8'));
    const { samples } = report.rejects;
    // Its 100 KB user agent is cut to maxFieldLength, the line kept and the cut counted.
    assert.equal(
      report.fieldCuts.samples.http_user_agent[0].location,
      '-:103',
      'the 100 KB line reached the parser whole',
    );
    assert.deepEqual(report.fieldCuts.byField, { http_user_agent: 1 });
    assert.equal(report.input.fieldsCut, 1);
    assert.match(
      run.stdout,
      /Fields cut to maxFieldLength \(lines kept\): 1\n {2}http_user_agent +1 {2}e\.g\. -:103 http_user_agent of 100000 characters/,
    );
    assert.equal(samples['oversized-field'], undefined);
    assert.equal(samples['oversized-line'][0].message, 'line longer than maxLineLength 200000');
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

    const unresolved = replayBehindProxies('lb-combined', behind(true));
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

    const resolved = replayBehindProxies('lb-main', behind(false));
    assert.equal(resolved.report.input.format, 'nginx-main');
    assert.deepEqual(resolved.report.warnings, []);
    assert.doesNotMatch(resolved.stderr, /warning/);
    assert.ok(
      resolved.decided.some((d) => d.value === '198.51.100.66'),
      'the scanner behind them is decided on',
    );
  });

  it('keeps a fingerprint decision steady when the demo sits behind load balancers it cannot see through', () => {
    // The demo log with X-Forwarded-For moved after the host: read as combined, all its traffic
    // comes from its 6 balancers (allowlisted as trusted proxies), each mixing people and bots. The
    // credential-stuffing fingerprint's block used to be replaced on every partial, escalating
    // each time: 226 publishes of one key in 10 minutes, 24 h blocks.
    const fixtures = new URL('../../testkit/fixtures/', import.meta.url).pathname;
    const log = join(work, 'demo-behind-balancers.log');
    writeFileSync(
      log,
      gunzipSync(readFileSync(join(fixtures, 'demo.log.gz')))
        .toString('utf8')
        .replace(/ ("[^"]*") (\S+) (\S+) \S+ \S+ "[^"]*"$/gm, ' $2 $3 $1'),
    );
    const decisions = join(work, 'behind-balancers-decisions.ndjson');
    const run = edgeguard([
      'replay',
      log,
      '--trusted-proxies',
      '10.0.0.0/8',
      '--quiet',
      '--decisions',
      decisions,
    ]);
    assert.equal(run.code, 0, run.stderr);
    const published = new Map<string, Record<string, unknown>[]>();
    for (const d of readNdjson(decisions))
      published.set(String(d.key), [...(published.get(String(d.key)) ?? []), d]);
    const stuffing = published.get('fp:h1:664070570986') ?? [];
    assert.ok(stuffing.length >= 1 && stuffing.length <= 4, `published ${stuffing.length} times`);
    for (const [key, list] of published) assert.ok(list.length <= 4, `${key} published ${list.length} times`);
    for (const d of stuffing) {
      assert.ok(
        Date.parse(String(d.expiresAt)) - Date.parse(String(d.decidedAt)) <= 3_600_000,
        'never escalated',
      );
    }
  });

  it('warns on stderr and in the report when the input holds no log line', () => {
    for (const [input, said] of [
      ['', /the input \(stdin\) holds no log line: nothing was replayed/],
      ['\n\n', /holds no log line \(2 blank\)/],
    ] as const) {
      const report = join(work, 'empty-report.json');
      const run = edgeguard(['replay', '-', '--quiet', '--report', report], input);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stderr, said);
      assert.match(JSON.parse(readFileSync(report, 'utf8')).warnings[0], said);
    }
  });

  it('says how to end the input when `-` is a terminal, and not when it is a pipe', (t) => {
    // util-linux `script` runs the command on a pseudo-terminal; Ctrl-D written to it ends the input.
    if (spawnSync('script', ['--version']).error) return t.skip('util-linux `script` is not installed');
    const command = `${process.execPath} ${bin} replay - --no-progress --quiet`;
    const run = spawnSync('script', ['-qec', command, '/dev/null'], {
      input: '\x04',
      encoding: 'utf8',
      cwd: work,
    });
    assert.equal(run.status, 0, run.stdout);
    assert.match(run.stdout, /reading the log from the terminal: paste lines and end with Ctrl-D/);
    assert.doesNotMatch(edgeguard(['replay', '-', '--quiet'], '').stderr, /from the terminal/);
  });

  it('reads the log from stdin with -', () => {
    const run = edgeguard(['replay', '-', '--quiet', '--report', join(work, 'stdin.json')], sampleLog());
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(readFileSync(join(work, 'stdin.json'), 'utf8'));
    assert.equal(report.input.parsed, 100);
    assert.equal(report.input.format, 'combined', 'auto sniffs the combined format');
  });

  it('counts empty lines as blank in the summary and the report, so the counts add up', () => {
    const log = sampleLog().split('\n').filter(Boolean);
    const input = `${log.slice(0, 3).join('\n')}\n\n\r\n${log.slice(3).join('\n')}\n`;
    const report = join(work, 'blank.json');
    const run = edgeguard(['replay', '-', '--report', report], input);
    assert.equal(run.code, 0, run.stderr);
    const { input: counts } = JSON.parse(readFileSync(report, 'utf8'));
    assert.equal(counts.blank, 2);
    assert.equal(counts.lines, counts.parsed + counts.rejected + counts.blank);
    assert.match(
      run.stdout,
      new RegExp(`${counts.lines} lines, ${counts.parsed} parsed, ${counts.rejected} rejected, 2 blank;`),
    );
  });

  it('names an unknown flag, the one it most likely meant, and the synopsis (not the whole help)', () => {
    const run = edgeguard(['replay', 'x.log', '--trusted-proxy', '10.0.0.0/8']);
    assert.equal(run.code, 2);
    assert.equal(
      run.stderr,
      "edgeguard replay: Unknown option '--trusted-proxy' (did you mean '--trusted-proxies'?)\n" +
        'Usage: edgeguard replay <file|-> [options]\n' +
        "Run 'edgeguard replay --help' for every option.\n",
    );
    const far = edgeguard(['replay', 'x.log', '--colour']);
    assert.match(far.stderr, /^edgeguard replay: Unknown option '--colour'\nUsage:/, 'no far-fetched guess');
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

  it("names the flag, not a config field and an index into the merged list, when a flag's value is bad", () => {
    const config = join(work, 'one-allowed.json');
    writeFileSync(config, '{"allowlist":["192.0.2.0/24"]}');
    for (const [flag, value, said] of [
      ['--allowlist', '1.2.3.4,bad', /--allowlist: "bad" is not a CIDR/],
      ['--trusted-proxies', '10.0.0.0/33', /--trusted-proxies: "10\.0\.0\.0\/33" is not a CIDR/],
      ['--format', 'nginx-mian', /--format: unknown log format "nginx-mian"/],
    ] as const) {
      const run = edgeguard(['replay', '-', '--config', config, flag, value], sampleLog());
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, said);
      assert.doesNotMatch(run.stderr, /field '/, run.stderr);
    }
  });

  it('suggests the format name a mistyped --format was meant to be', () => {
    const run = edgeguard(['replay', 'x', '--format', 'nginx-mian']);
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /unknown log format "nginx-mian" \(did you mean 'nginx-main'\?\)/);
  });

  it('says clearly when the input file does not exist', () => {
    const run = edgeguard(['replay', join(work, 'missing.log')]);
    assert.equal(run.code, 1);
    assert.match(
      run.stderr,
      /^edgeguard replay: \S*missing\.log: cannot read it: no such file or directory \(ENOENT\)\n$/,
    );
  });

  for (const [what, input] of [
    ['does not exist', 'missing-again.log'],
    ['is a directory', '.'],
  ]) {
    it(`exits 1 and leaves every output as it was when the input ${what}`, () => {
      const report = join(work, `kept-${what.length}.json`);
      writeFileSync(report, '{"yesterday":true}\n');
      const created = join(work, `never-${what.length}.ndjson`);
      const run = edgeguard(['replay', join(work, input), '--report', report, '--verdicts', created]);
      assert.equal(run.code, 1, run.stderr);
      assert.match(run.stderr, new RegExp(input === '.' ? 'is a directory' : 'missing-again\\.log'));
      assert.equal(
        readFileSync(report, 'utf8'),
        '{"yesterday":true}\n',
        'the existing report is not emptied',
      );
      assert.equal(existsSync(created), false, 'no output is created');
    });
  }

  it('reads the clients behind trusted proxies of an nginx-main log that starts with error-log lines', () => {
    // 25 error-log lines (a concatenated or mis-rotated file) before the access log: `auto` settled
    // on them, fell back to combined (which ignores X-Forwarded-For) and every request was the
    // balancer's; the scanner behind it went undecided.
    const errors = Array.from(
      { length: 25 },
      (_, i) =>
        `2024/01/21 08:59:${String(i).padStart(2, '0')} [error] 31#31: *${i} open() "/x" failed (2: No such file or directory)`,
    );
    const access = sampleLog()
      .split('\n')
      .filter((line) => /^\d+\.\d+\.\d+\.\d+ - - \[.*" \d{3} /.test(line))
      .map((line) => `10.0.0.5${line.slice(line.indexOf(' '))} "${line.slice(0, line.indexOf(' '))}"`);
    const { report, decided } = replayBehindProxies('errfirst', `${[...errors, ...access].join('\n')}\n`);
    assert.equal(report.input.format, 'nginx-main');
    assert.deepEqual(report.warnings, []);
    assert.equal(report.rejects.byReason['format-mismatch'], 25, 'the error-log lines are rejected, counted');
    assert.ok(
      decided.some((d) => d.value === '198.51.100.66'),
      'the scanner behind the balancer is decided on',
    );
  });

  it("does not settle the format on a pipe's first batch when it holds only a line no format reads", () => {
    // A slow producer (ssh, a tail): the first read is one error-log line. Sniffed from that batch
    // alone, the log was combined and every request behind the balancer was the balancer's.
    const log = join(work, 'slow-pipe.log');
    const access = sampleLog()
      .split('\n')
      .filter((line) => /^\d+\.\d+\.\d+\.\d+ - - \[.*" \d{3} /.test(line))
      .map((line) => `10.0.0.5${line.slice(line.indexOf(' '))} "${line.slice(0, line.indexOf(' '))}"`);
    writeFileSync(log, `2024/01/21 08:59:00 [error] 31#31: *1 open() "/x" failed\n${access.join('\n')}\n`);
    const report = join(work, 'slow-pipe.json');
    const run = spawnSync(
      'sh',
      [
        '-c',
        `(head -n 1 "$1"; sleep 0.5; tail -n +2 "$1") | "$2" "$3" replay - --trusted-proxies 10.0.0.0/8 --quiet --report "$4"`,
        'sh',
        log,
        process.execPath,
        bin,
        report,
      ],
      { encoding: 'utf8', cwd: work },
    );
    assert.equal(run.status, 0, run.stderr);
    const summary = JSON.parse(readFileSync(report, 'utf8'));
    assert.equal(summary.input.format, 'nginx-main');
    assert.deepEqual(summary.warnings, []);
    assert.equal(summary.input.parsed, access.length);
    assert.ok(summary.clients.total > 1, `${summary.clients.total} client(s): not all the balancer's`);
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
      'caughtAt',
      '--policies',
      '--report',
    ]) {
      assert.match(run.stdout, new RegExp(flag));
    }
    assert.match(run.stdout, /REPLACES the config's\s+input\.trustedProxies/);
    assert.match(run.stdout, /ADDS to\s+the config's allowlist/);
    for (const code of ['0', '1', '2', '3', '4']) assert.match(run.stdout, new RegExp(`^  ${code}  `, 'm'));
  });
});
