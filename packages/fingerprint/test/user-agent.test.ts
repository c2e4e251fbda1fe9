import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { classifyUserAgent, MAX_SCANNED_UA_LENGTH, parseUserAgent, type UaInfo } from '../src/user-agent.js';

function expectUa(ua: string, expected: Partial<UaInfo>): void {
  const info = parseUserAgent(ua);
  for (const [field, value] of Object.entries(expected)) {
    assert.equal(info[field as keyof UaInfo], value, `${field} of ${ua}\n  got ${JSON.stringify(info)}`);
  }
}

describe('browsers are named by family, major version and OS', () => {
  const cases: Array<[string, string, number | null, string | null]> = [
    [
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
      'Chrome',
      120,
      'Windows',
    ],
    [
      'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15',
      'Safari',
      17,
      'macOS',
    ],
    [
      'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
      'Safari',
      17,
      'iOS',
    ],
    [
      'Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0',
      'Firefox',
      125,
      'Linux',
    ],
    [
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.51',
      'Edge',
      124,
      'Windows',
    ],
    [
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36 OPR/105.0.0.0',
      'Opera',
      105,
      'Windows',
    ],
    [
      'Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36',
      'Samsung Internet',
      24,
      'Android',
    ],
    [
      'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36',
      'Chrome',
      126,
      'Android',
    ],
    [
      'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/126.0.6478.54 Mobile/15E148 Safari/604.1',
      'Chrome',
      126,
      'iOS',
    ],
    [
      'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/127.0 Mobile/15E148 Safari/605.1.15',
      'Firefox',
      127,
      'iOS',
    ],
    [
      'Mozilla/5.0 (Linux; Android 9; Pixel Build/PQ3A.190801.002; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/77.0.3865.73 Mobile Safari/537.36',
      'Chrome WebView',
      77,
      'Android',
    ],
    [
      'Mozilla/5.0 (iPhone; CPU iPhone OS 12_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148',
      'WebView',
      null,
      'iOS',
    ],
    [
      'Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko',
      'Internet Explorer',
      11,
      'Windows',
    ],
    ['Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)', 'Internet Explorer', 6, 'Windows'],
    ['Opera/9.80 (Windows NT 6.1; WOW64) Presto/2.12.388 Version/12.18', 'Opera', 12, 'Windows'],
    [
      'Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36',
      'Chrome',
      125,
      'ChromeOS',
    ],
  ];
  for (const [ua, family, major, os] of cases) {
    test(`${family} ${major ?? ''} on ${os}`, () =>
      expectUa(ua, { kind: 'browser', family, major, os, crawler: null }));
  }
});

describe('declared crawlers are named', () => {
  test('Googlebot, desktop and smartphone, says Googlebot with its version', () => {
    expectUa('Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)', {
      kind: 'crawler',
      crawler: 'Googlebot',
      family: 'Googlebot',
      major: 2,
    });
    expectUa(
      'Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.126 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
      { kind: 'crawler', crawler: 'Googlebot', os: 'Android' },
    );
  });

  test('AI crawlers and user-triggered agents keep their operator spelling', () => {
    expectUa(
      'Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)',
      {
        kind: 'crawler',
        crawler: 'GPTBot',
      },
    );
    expectUa(
      'Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; ChatGPT-User/1.0; +https://openai.com/bot',
      { kind: 'crawler', crawler: 'ChatGPT-User' },
    );
    expectUa(
      'Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claudebot@anthropic.com)',
      {
        kind: 'crawler',
        crawler: 'ClaudeBot',
      },
    );
    expectUa('CCBot/2.0 (https://commoncrawl.org/faq/)', { kind: 'crawler', crawler: 'CCBot' });
  });

  test('bingbot, Yahoo! Slurp, facebookexternalhit and Google product tokens', () => {
    expectUa('Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)', {
      crawler: 'bingbot',
    });
    expectUa('Mozilla/5.0 (compatible; Yahoo! Slurp; http://help.yahoo.com/help/us/ysearch/slurp)', {
      crawler: 'Yahoo! Slurp',
    });
    expectUa('facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)', {
      crawler: 'facebookexternalhit',
    });
    expectUa('Mediapartners-Google', { kind: 'crawler', crawler: 'Mediapartners-Google' });
    expectUa('AdsBot-Google (+http://www.google.com/adsbot.html)', {
      kind: 'crawler',
      crawler: 'AdsBot-Google',
    });
  });

  test('monitors and feed readers are crawlers (the testkit polite roles)', () => {
    expectUa('Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)', {
      kind: 'crawler',
      crawler: 'UptimeRobot',
    });
    expectUa('Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)', {
      kind: 'crawler',
      crawler: 'Pingdom',
    });
    expectUa('Feedly/1.0 (+http://www.feedly.com/fetcher.html; 5 subscribers; like FeedFetcher-Google)', {
      kind: 'crawler',
      crawler: 'Feedly',
    });
    expectUa('NewsBlur Feed Fetcher - 12 subscribers - http://www.newsblur.com/site/1234/example', {
      kind: 'crawler',
      crawler: 'NewsBlur',
    });
  });

  test('a generic marker word is named with the words before it', () => {
    expectUa('Sogou web spider/4.0(+http://www.sogou.com/docs/help/webmasters.htm#07)', { crawler: 'Sogou' });
    expectUa('AddThis.com robot tech.support@clearspring.com', {
      kind: 'crawler',
      crawler: 'AddThis.com robot',
    });
  });

  test('a contact URL or e-mail declares an agent, named by the word beside it', () => {
    expectUa('Mozilla/5.0 (compatible; Cloudinary/1.0; +https://cloudinary.com/)', {
      kind: 'crawler',
      crawler: 'Cloudinary',
    });
    expectUa('Mozilla/5.0 (compatible; +http://tweetedtimes.com)', {
      kind: 'crawler',
      crawler: 'tweetedtimes.com',
    });
  });

  test('a service name slipped into the (KHTML, like Gecko) comment declares an agent', () => {
    expectUa(
      'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko; Google Page Speed Insights) Chrome/27.0.1453 Safari/537.36',
      { kind: 'crawler', crawler: 'Google Page Speed Insights' },
    );
  });
});

describe('tools: libraries, CLIs, frameworks, headless browsers, scanners', () => {
  const cases: Array<[string, string, number | null]> = [
    ['curl/8.4.0', 'curl', 8],
    ['Wget/1.21.4', 'Wget', 1],
    ['python-requests/2.31.0', 'python-requests', 2],
    ['Python-urllib/3.11', 'Python-urllib', 3],
    ['Python/3.11 aiohttp/3.9.1', 'aiohttp', 3],
    ['python-httpx/0.27.0', 'httpx', 0],
    ['Go-http-client/1.1', 'Go-http-client', 1],
    ['Java/17.0.2', 'Java', 17],
    ['Apache-HttpClient/4.5.14 (Java/17.0.8)', 'Apache-HttpClient', 4],
    ['okhttp/4.12.0', 'okhttp', 4],
    ['libwww-perl/6.72', 'libwww-perl', 6],
    ['GuzzleHttp/7', 'Guzzle', 7],
    ['node-fetch/1.0 (+https://github.com/bitinn/node-fetch)', 'node-fetch', 1],
    ['axios/1.6.7', 'axios', 1],
    ['undici', 'undici', null],
    ['PostmanRuntime/7.36.1', 'PostmanRuntime', 7],
    ['Scrapy/2.11.0 (+https://scrapy.org)', 'Scrapy', 2],
    [
      'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.6099.109 Safari/537.36',
      'HeadlessChrome',
      120,
    ],
    ['Mozilla/5.0 zgrab/0.x', 'zgrab', 0],
    ['sqlmap/1.7.2#stable (https://sqlmap.org)', 'sqlmap', 1],
  ];
  for (const [ua, family, major] of cases) {
    test(`${ua} is the tool ${family}`, () => expectUa(ua, { kind: 'tool', family, major, crawler: null }));
  }

  test('a declared crawler name wins over the library it is built on', () => {
    expectUa('MyCompanyBot/1.0 (+https://example.com/bot) python-requests/2.31.0', {
      kind: 'crawler',
      crawler: 'MyCompanyBot',
    });
  });

  test('J2ME phones mentioning (Java; …) are not the Java HTTP client', () => {
    const info = parseUserAgent(
      'UNTRUSTED/1.0 UCWEB/2.0 (Java; U; MIDP-2.0; ru; MotorolaVE66) U2/1.0.0 UCBrowser/9.4.1.377',
    );
    assert.notEqual(info.kind, 'tool');
  });
});

describe('empty and other', () => {
  test('null, empty, "-" and blanks are empty', () => {
    for (const ua of [null, '', '-', '   ']) {
      const info = classifyUserAgent(ua);
      assert.equal(info.kind, 'empty', JSON.stringify(ua));
      assert.equal(info.family, 'none');
    }
  });

  test('native apps are other, named by their product, with their platform', () => {
    expectUa('ShopApp/5.2 (iPhone; iOS 17.1; Scale/3.00)', {
      kind: 'other',
      family: 'ShopApp',
      major: 5,
      os: 'iOS',
    });
    expectUa('Dalvik/2.1.0 (Linux; U; Android 9; SM-G965U Build/PPR1.180610.011)', {
      kind: 'other',
      family: 'Dalvik',
      os: 'Android',
    });
  });

  test('device and app names that merely contain "bot" stay human', () => {
    expectUa(
      'Mozilla/5.0 (Linux; Android 8.0.0; CUBOT_P20) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.110 Mobile Safari/537.36',
      {
        kind: 'browser',
        family: 'Chrome',
      },
    );
    expectUa('fuboTV/4.75.0 (Linux;Android 9; AFTDCT31 Build/PS7664.3772N) FuboPlayer/v1.34.0', {
      kind: 'other',
    });
  });

  test('an app version with an @ is not a contact address', () => {
    expectUa(
      'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/111.0.0.0 Mobile Safari/537.36 (Ecosia android@111.0.5563.116)',
      { kind: 'browser', family: 'Chrome' },
    );
  });
});

describe('hot-path behaviour', () => {
  test('classifyUserAgent returns the cached, frozen result for a repeated UA', () => {
    const ua = 'Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)';
    const first = classifyUserAgent(ua);
    assert.equal(classifyUserAgent(ua), first);
    assert.ok(Object.isFrozen(first));
    assert.deepEqual(first, parseUserAgent(ua));
  });

  test(`only the first ${MAX_SCANNED_UA_LENGTH} characters of a huge UA are scanned`, () => {
    const padding = 'x'.repeat(MAX_SCANNED_UA_LENGTH);
    assert.equal(parseUserAgent(`curl/8.0 ${padding}`).kind, 'tool');
    assert.equal(parseUserAgent(`Mozilla/5.0 ${padding} Googlebot/2.1`).crawler, null);
  });

  test('non-ASCII UAs classify without shifting token positions', () => {
    expectUa(
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64; İstanbul) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
      {
        kind: 'browser',
        family: 'Chrome',
        major: 120,
      },
    );
    expectUa('ÄÖÜbot/1.0', { kind: 'crawler' });
  });
});
