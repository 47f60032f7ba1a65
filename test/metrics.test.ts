import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { eventually } from './support/eventually.js';
import { errorCode } from './support/graphql.js';
import { parseMetrics, sumOf, type Sample } from './support/metrics.js';
import { freePort } from './support/process.js';
import { createServer } from 'node:net';
import { startTestServer } from './support/server.js';
import { startWebhookReceiver, type WebhookReceiver } from './support/webhook-receiver.js';
import { clientOf, type Client, type Session } from './support/client.js';
import { APPS, MINI_LOGIN, startWorld, type World } from './support/world.js';

const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const BIND = `mutation ($code: String!) { bindWechatPhoneNumber(code: $code) { id phoneNumber } }`;
const P = 'wechat_login_';

let w: World;
let c: Client;
let receiver: WebhookReceiver;
/** Every user id, openid and unionid the test saw: none may appear in a label. */
const seen = new Set<string>();

beforeAll(async () => {
  receiver = await startWebhookReceiver();
  w = await startWorld({
    env: {
      METRICS_PORT: String(await freePort()),
      WEBHOOK_URLS: receiver.url,
      WEBHOOK_SECRET: SECRET,
      // Low enough for the last test to reach it, high enough for the others.
      RATE_LIMIT_IP_PER_MINUTE: '12',
    },
    webhookSettings: { pollMs: 200, timeoutMs: 1000, retryDelaysMs: [200], giveUpAfterMs: 60_000 },
  });
  c = clientOf(w);
});
afterAll(async () => {
  await w?.stop();
  await receiver?.close();
});

async function scrape(): Promise<Sample[]> {
  const response = await fetch(`${w.t.server.metricsUrl!}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseMetrics(await response.text());
}

/** A mini program login; its user id, openids and unionids go into `seen`. */
async function miniLogin(user: string): Promise<Session> {
  const login = await c.loginAs('mini', user);
  seen.add(login.user.id);
  for (const method of login.user.loginMethods) {
    seen.add(method.openId);
    if (method.unionId) seen.add(method.unionId);
  }
  return login;
}

const miniLogins = (outcome: string) => ({ kind: 'WECHAT_MINI', outcome });
const jscode2session = { endpoint: 'sns/jscode2session' };

describe('metrics', () => {
  it('are served at /metrics on METRICS_PORT (loopback by default), never on the public port', async () => {
    expect(w.t.server.config.metrics.host).toBe('127.0.0.1');
    expect(w.t.server.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(new URL(w.t.server.metricsUrl!).port).not.toBe(new URL(w.t.url).port);
    const publicAnswer = await fetch(`${w.t.url}/metrics`);
    expect(publicAnswer.status).toBe(404);
    expect(await publicAnswer.text()).not.toContain(P);
    expect((await fetch(`${w.t.server.metricsUrl!}/other`)).status).toBe(404);
    const samples = await scrape();
    expect(samples.length).toBeGreaterThan(20);
    expect(samples.every((s) => s.name.startsWith(P))).toBe(true);
  });

  it('count a successful mini program login, its WeChat call and its latency', async () => {
    const before = await scrape();
    await miniLogin('mia');
    const after = await scrape();
    const delta = (name: string, labels: Record<string, string>) =>
      sumOf(after, name, labels) - sumOf(before, name, labels);
    expect(delta(`${P}logins_total`, miniLogins('success'))).toBe(1);
    expect(delta(`${P}wechat_requests_total`, { ...jscode2session, errcode: '0' })).toBe(1);
    expect(delta(`${P}wechat_request_duration_seconds_count`, jscode2session)).toBe(1);
    expect(delta(`${P}wechat_request_duration_seconds_bucket`, { ...jscode2session, le: '+Inf' })).toBe(1);
    expect(delta(`${P}wechat_request_duration_seconds_sum`, jscode2session)).toBeGreaterThan(0);
    expect(
      delta(`${P}graphql_operation_duration_seconds_count`, {
        operation_type: 'mutation',
        root_field: 'wechatMiniLogin',
      }),
    ).toBe(1);
  });

  it('count a login WeChat refuses by its error code, and the call by its errcode', async () => {
    const before = await scrape();
    const code = await w.code(APPS.mini.appid, 'ned');
    const first = await c.run('WechatMiniLogin', { input: { code } });
    expect(first.errors).toBeUndefined();
    seen.add(first.data!.wechatMiniLogin.user.id);
    const reused = await w.gql(MINI_LOGIN, { input: { code } });
    expect(errorCode(reused)).toBe('WECHAT_INVALID_CODE');
    const errcode = String(reused.errors![0]!.extensions!.wechatErrcode);
    expect(errcode).toMatch(/^4\d{4}$/);
    const after = await scrape();
    const delta = (name: string, labels: Record<string, string>) =>
      sumOf(after, name, labels) - sumOf(before, name, labels);
    expect(delta(`${P}logins_total`, miniLogins('WECHAT_INVALID_CODE'))).toBe(1);
    expect(delta(`${P}wechat_requests_total`, { ...jscode2session, errcode })).toBe(1);
  });

  it('label transport failures by their kind (http_5xx, network)', async () => {
    const before = await scrape();
    await w.emulatorPost('/__emulator/faults', { path: '/sns/jscode2session', status: 502, times: 1 });
    const body = await w.gql(MINI_LOGIN, { input: { code: await w.code(APPS.mini.appid, 'una') } });
    expect(errorCode(body)).toBe('WECHAT_UNAVAILABLE');
    await w.emulatorPost('/__emulator/faults', { path: '/sns/jscode2session', drop: true, times: 1 });
    const dropped = await w.gql(MINI_LOGIN, { input: { code: await w.code(APPS.mini.appid, 'una') } });
    expect(errorCode(dropped)).toBe('WECHAT_UNAVAILABLE');
    const after = await scrape();
    const delta = (name: string, labels: Record<string, string>) =>
      sumOf(after, name, labels) - sumOf(before, name, labels);
    expect(delta(`${P}wechat_requests_total`, { ...jscode2session, errcode: 'http_5xx' })).toBe(1);
    expect(delta(`${P}wechat_requests_total`, { ...jscode2session, errcode: 'network' })).toBe(1);
    expect(delta(`${P}wechat_requests_total`, jscode2session)).toBe(2);
    expect(delta(`${P}logins_total`, miniLogins('WECHAT_UNAVAILABLE'))).toBe(2);
  });

  it('time GraphQL operations by root field and type; a document that does not validate gets one label', async () => {
    const login = await miniLogin('meg');
    const before = await scrape();
    const me = await w.gql(
      `query Anything123 { me { id } }`,
      {},
      { authorization: `Bearer ${login.accessToken}` },
    );
    expect(me.errors).toBeUndefined();
    const aliased = await w.gql(
      `query { mine: me { id } }`,
      {},
      { authorization: `Bearer ${login.accessToken}` },
    );
    expect(aliased.errors).toBeUndefined();
    await w.gql(`query { noSuchField }`);
    await w.gql(`query { me { id } `);
    const after = await scrape();
    const count = (labels: Record<string, string>) =>
      sumOf(after, `${P}graphql_operation_duration_seconds_count`, labels) -
      sumOf(before, `${P}graphql_operation_duration_seconds_count`, labels);
    expect(count({ operation_type: 'query', root_field: 'me' })).toBe(2);
    expect(count({ operation_type: 'unknown', root_field: '(invalid)' })).toBe(2);
    // Neither the operation name nor the alias is a label value.
    const labelValues = after.flatMap((s) => Object.values(s.labels));
    expect(labelValues).not.toContain('Anything123');
    expect(labelValues).not.toContain('mine');
    expect(labelValues).not.toContain('noSuchField');
  });

  it('count app access token fetches by mode, and the stable_token call', async () => {
    const login = await miniLogin('pia');
    const before = await scrape();
    const { code } = await w.emulatorPost<{ code: string }>('/__emulator/phone-codes', {
      appid: APPS.mini.appid,
      user: 'pia',
      phoneNumber: '13800138000',
    });
    const bound = await w.gql(BIND, { code }, { authorization: `Bearer ${login.accessToken}` });
    expect(bound.errors).toBeUndefined();
    const after = await scrape();
    const delta = (name: string, labels: Record<string, string>) =>
      sumOf(after, name, labels) - sumOf(before, name, labels);
    expect(delta(`${P}app_access_token_fetches_total`, { mode: 'normal' })).toBe(1);
    expect(delta(`${P}app_access_token_fetches_total`, { mode: 'forced' })).toBe(0);
    expect(delta(`${P}wechat_requests_total`, { endpoint: 'cgi-bin/stable_token', errcode: '0' })).toBe(1);
    expect(
      delta(`${P}wechat_requests_total`, { endpoint: 'wxa/business/getuserphonenumber', errcode: '0' }),
    ).toBe(1);
    // The number is nowhere in the scrape.
    expect(after.some((s) => Object.values(s.labels).some((v) => v.includes('13800138000')))).toBe(false);
  });

  it('count webhook deliveries by outcome and show the outbox backlog', async () => {
    await eventually(async () => expect(sumOf(await scrape(), `${P}webhook_outbox_pending`)).toBe(0));
    const before = await scrape();
    let refused = 0;
    receiver.answer = () => (refused++ === 0 ? 500 : 204);
    const login = await miniLogin('wes');
    expect(login.isNewUser).toBe(true);
    await eventually(async () => {
      const after = await scrape();
      const delta = (outcome: string) =>
        sumOf(after, `${P}webhook_deliveries_total`, { outcome }) -
        sumOf(before, `${P}webhook_deliveries_total`, { outcome });
      expect(delta('retried')).toBe(1);
      // At least wes's user.created; an earlier event's outcome may be counted just after the scrape.
      expect(delta('delivered')).toBeGreaterThanOrEqual(1);
      expect(delta('failed')).toBe(0);
      expect(sumOf(after, `${P}webhook_outbox_pending`)).toBe(0);
    });
    receiver.answer = () => 204;
    // While a delivery waits, the backlog shows it.
    await c.sql(
      `insert into webhook_delivery (message_id, endpoint, type, user_id, body, state, attempts, next_attempt_at, created_at)
       values ('msg_metrics_test_backlog', ?, 'user.updated', ?, '{}', 'pending', 0, now() + interval '1 hour', now())`,
      [receiver.url, login.user.id],
    );
    expect(sumOf(await scrape(), `${P}webhook_outbox_pending`)).toBe(1);
    await c.sql(`delete from webhook_delivery where message_id = 'msg_metrics_test_backlog'`);
  });

  it('show the database pool and the default Node metrics', async () => {
    const samples = await scrape();
    const names = new Set(samples.map((s) => s.name));
    for (const name of ['used_connections', 'free_connections', 'pending_acquires']) {
      expect(names).toContain(`${P}db_pool_${name}`);
    }
    const pool = (name: string) => sumOf(samples, `${P}db_pool_${name}`);
    expect(pool('used_connections') + pool('free_connections')).toBeGreaterThan(0);
    expect(pool('used_connections') + pool('free_connections')).toBeLessThanOrEqual(
      w.t.server.config.database.poolMax,
    );
    expect(pool('pending_acquires')).toBeGreaterThanOrEqual(0);
    for (const name of [
      'process_cpu_user_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_eventloop_lag_p99_seconds',
      'nodejs_heap_size_used_bytes',
    ]) {
      expect(names).toContain(`${P}${name}`);
    }
  });

  it('count rate-limit refusals by action, and the refused logins by their code', async () => {
    const before = await scrape();
    let refusedAt = 0;
    for (let i = 1; i <= 20 && refusedAt === 0; i++) {
      const body = await w.gql(MINI_LOGIN, { input: { code: await w.code(APPS.mini.appid, `rob-${i}`) } });
      if (errorCode(body) === 'RATE_LIMITED') refusedAt = i;
    }
    expect(refusedAt).toBeGreaterThan(0);
    const after = await scrape();
    const delta = (name: string, labels: Record<string, string>) =>
      sumOf(after, name, labels) - sumOf(before, name, labels);
    expect(delta(`${P}rate_limit_refusals_total`, { action: 'login' })).toBe(1);
    expect(delta(`${P}rate_limit_refusals_total`, { action: 'identity' })).toBe(0);
    expect(delta(`${P}logins_total`, miniLogins('RATE_LIMITED'))).toBe(1);
  });

  it('carry no user id, openid or unionid in any label', async () => {
    expect(seen.size).toBeGreaterThanOrEqual(8);
    const text = await (await fetch(`${w.t.server.metricsUrl!}/metrics`)).text();
    for (const value of seen) expect(text).not.toContain(value);
    const labelValues = new Set(parseMetrics(text).flatMap((s) => Object.values(s.labels)));
    // Every label value is short and of a fixed vocabulary: no free text.
    for (const value of labelValues) expect(value).toMatch(/^[A-Za-z0-9_.:/+()-]{1,64}$/);
  });
});

describe('the metrics listener', () => {
  it('closes with the server', async () => {
    const t = await startTestServer({ METRICS_PORT: String(await freePort()) });
    const url = `${t.server.metricsUrl!}/metrics`;
    try {
      expect((await fetch(url)).status).toBe(200);
    } finally {
      await t.stop();
    }
    await expect(fetch(url)).rejects.toThrow();
    await expect(fetch(`${t.url}/healthz`)).rejects.toThrow();
  });

  it('is not started without METRICS_PORT', async () => {
    const t = await startTestServer();
    try {
      expect(t.server.metricsUrl).toBeUndefined();
      expect(t.server.config.metrics.port).toBeUndefined();
      expect((await fetch(`${t.url}/metrics`)).status).toBe(404);
    } finally {
      await t.stop();
    }
  });

  it('stops the start when its port is taken, leaving nothing listening', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    const publicPort = await freePort();
    try {
      await expect(startTestServer({ METRICS_PORT: String(port), PORT: String(publicPort) })).rejects.toThrow(
        /EADDRINUSE/,
      );
      await expect(fetch(`http://127.0.0.1:${publicPort}/healthz`)).rejects.toThrow();
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });
});
