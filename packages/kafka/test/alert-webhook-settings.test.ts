import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BadInput } from '@edgeguard/schema';
import { alertText, alertWebhookSettings, parseGuardAlert, redactUrl } from '../src/index.js';

const URL_VARIABLE = 'EDGEGUARD_ALERT_WEBHOOK_URL';

function refused(env: NodeJS.ProcessEnv): BadInput {
  try {
    alertWebhookSettings(env);
  } catch (error) {
    assert.ok(error instanceof BadInput, String(error));
    return error;
  }
  assert.fail(`accepted ${JSON.stringify(env)}`);
}

describe('EDGEGUARD_ALERT_WEBHOOK_URL and _HEADERS', () => {
  it('is off when unset or empty', () => {
    assert.equal(alertWebhookSettings({}), null);
    assert.equal(alertWebhookSettings({ [URL_VARIABLE]: ' ' }), null);
  });

  it('takes an http or https URL, shown without its path (a chat webhook path is its secret)', () => {
    const settings = alertWebhookSettings({
      [URL_VARIABLE]: 'https://hooks.slack.com/services/T000/B000/s3cret',
      EDGEGUARD_ALERT_WEBHOOK_HEADERS: '{"Authorization":"Bearer t0ken"}',
    });
    assert.equal(settings?.url, 'https://hooks.slack.com/services/T000/B000/s3cret');
    assert.equal(settings?.shown, 'https://hooks.slack.com/…');
    assert.deepEqual(settings?.headers, { Authorization: 'Bearer t0ken' });
    assert.equal(
      alertWebhookSettings({ [URL_VARIABLE]: 'http://127.0.0.1:9000/' })?.shown,
      'http://127.0.0.1:9000/',
    );
  });

  it('refuses another scheme or a non-URL, naming the variable and not repeating the secret', () => {
    for (const url of [
      'ftp://user:pa55@host/s3cret',
      'hooks.slack.com/services/s3cret',
      'file:///etc/s3cret',
      'http://',
    ]) {
      const error = refused({ [URL_VARIABLE]: url });
      assert.equal(error.reason, 'bad-config');
      assert.match(error.message, /EDGEGUARD_ALERT_WEBHOOK_URL must be an http:\/\/ or https:\/\/ URL/);
      assert.doesNotMatch(error.message, /s3cret|pa55/);
    }
  });

  it("refuses credentials in the URL (fetch would refuse them, quoting the URL in every attempt's error)", () => {
    for (const url of [
      'https://alice:s3cret@hooks.example.com/T/B',
      'https://s3cret@hooks.example.com/T/B',
    ]) {
      const error = refused({ [URL_VARIABLE]: url });
      assert.equal(error.reason, 'bad-config');
      assert.match(error.message, /must not carry credentials.*EDGEGUARD_ALERT_WEBHOOK_HEADERS/);
      assert.doesNotMatch(error.message, /s3cret|alice/);
    }
  });

  it('refuses headers that are not a JSON object of one-line strings, without echoing them', () => {
    const base = { [URL_VARIABLE]: 'https://example.com/hook' };
    for (const headers of [
      'Bearer s3cret',
      '["s3cret"]',
      '{"Authorization":1}',
      '{"Bad Name":"s3cret"}',
      '{"X":"a\\r\\ns3cret"}',
      '{"Authorization":"Bearer \\u0001s3cret"}',
      '{"Authorization":"Bearer s3cret\\u007f"}',
      '{"Authorization":"Bearer \\u20acs3cret"}',
    ]) {
      const error = refused({ ...base, EDGEGUARD_ALERT_WEBHOOK_HEADERS: headers });
      assert.match(error.message, /EDGEGUARD_ALERT_WEBHOOK_HEADERS must be a JSON object/);
      assert.doesNotMatch(error.message, /s3cret/);
    }
    assert.match(refused({ EDGEGUARD_ALERT_WEBHOOK_HEADERS: '{}' }).message, /URL is not/);
  });
});

describe('redactUrl', () => {
  it('hides the path and query on request, and the password always', () => {
    assert.equal(
      redactUrl('https://u:pw@example.com:8443/a/b?token=x', { hidePath: true }),
      'https://***@example.com:8443/…',
    );
    assert.equal(redactUrl('https://t0ken@example.com/', { hidePath: true }), 'https://***@example.com/');
    assert.equal(redactUrl('redis://user:pw@host:6379/2'), 'redis://user:***@host:6379/2');
    assert.equal(
      redactUrl('not a url s3cret', { what: URL_VARIABLE }),
      `(a ${URL_VARIABLE} that is not a URL)`,
    );
  });
});

describe('alerts topic records', () => {
  const alert = {
    kind: 'blast-radius',
    time: Date.UTC(2026, 10, 29, 12, 0, 0),
    state: 'tripped',
    message: 'automatic decisions held until …',
    coveredEstablished: 6,
    activeEstablished: 40,
    threshold: 5,
    heldUntil: Date.UTC(2026, 10, 29, 12, 10, 0),
    held: 1,
    sampleKeys: ['ip:198.51.100.6'],
  };

  it('reads a GuardAlert and writes one readable line of it', () => {
    const parsed = parseGuardAlert(JSON.parse(JSON.stringify(alert)));
    assert.deepEqual(parsed, alert);
    assert.equal(
      alertText(parsed, 'decider/0'),
      'edgeguard blast-radius guard TRIPPED at 2026-11-29T12:00:00.000Z (decider/0): automatic decisions held until …',
    );
  });

  it('refuses what is not one, saying why', () => {
    assert.throws(() => parseGuardAlert({ ...alert, state: 'maybe' }), /state must be tripped or released/);
    assert.throws(() => parseGuardAlert({ ...alert, held: '1' }), /held must be a number/);
    assert.throws(() => parseGuardAlert([]), /unknown alert kind/);
    // A number no Date holds: alertText (the webhook's body) and the log line would throw.
    assert.throws(() => parseGuardAlert({ ...alert, time: 1e17 }), /time must be a time/);
    assert.throws(() => parseGuardAlert({ ...alert, heldUntil: -1e17 }), /heldUntil must be a time/);
  });
});
