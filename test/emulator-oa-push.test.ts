import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { loadConfig } from '../src/config.js';
import { DEMO_APPS, DEMO_OA_TOKEN, parseEmulatorApps, type EmulatorApp } from '../src/emulator/apps.js';
import { startAttachedEmulator } from '../src/emulator/attach.js';
import { createEmulator, type Emulator } from '../src/emulator/emulator.js';
import {
  aesKeyOf,
  decryptPush,
  encryptPush,
  pushSignature,
  signatureMatches,
} from '../src/wechat/message-crypto.js';
import { emulatorCalls, type Body } from './support/emulator.js';
import { fakePage } from './support/fake-page.js';
import { captureLog } from './support/logger.js';

/**
 * The WeChat emulator (src/emulator) pushing an Official Account's events to its server, as WeChat
 * does for login by follow: a scan of a parametric QR code (subscribe with `qrscene_<scene>`, or
 * SCAN), follows and unfollows, signed (and in safe mode encrypted) with the account's Token and
 * EncodingAESKey, retried when unanswered, the passive reply read back; the phone page of a QR code.
 * A local HTTP server stands in for the login server's POST /wechat/events/:appId.
 */

const AES_KEY = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG';
const TOKEN = 'pushToken123';
const SAFE_TOKEN = 'safeToken456';
const PUSH_TIMEOUT_MS = 150;

/** One POST the stand-in server got. */
interface Received {
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: string;
}

/** What the stand-in server answers a push: a status and body, or no answer at all. */
type Answer = { status?: number; body?: string } | 'hang';

let clock = Date.parse('2026-12-08T00:00:00Z');
let emulator: Emulator;
let server: Server;
let serverUrl = '';
let received: Received[] = [];
let answer: (push: Received) => Answer = () => ({ body: 'success' });
const held = new Set<ServerResponse>();
const { get, post } = emulatorCalls(() => emulator.url);

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const url = new URL(req.url!, 'http://x');
      const push = {
        path: url.pathname,
        query: url.searchParams,
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      received.push(push);
      const a = answer(push);
      if (a === 'hang') {
        held.add(res);
        res.on('close', () => held.delete(res));
        return;
      }
      res.statusCode = a.status ?? 200;
      res.end(a.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  serverUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const apps: EmulatorApp[] = [
    { appid: 'wxoa', secret: 'oa-secret', kind: 'official', bound: true, token: TOKEN },
    {
      appid: 'wxoasafe',
      secret: 'oasafe-secret',
      kind: 'official',
      bound: false,
      token: SAFE_TOKEN,
      aesKey: AES_KEY,
      eventUrl: `${serverUrl}/custom/safe?account=safe`,
    },
    { appid: 'wxoaquiet', secret: 'oaquiet-secret', kind: 'official', bound: false },
    { appid: 'wxmini', secret: 'mini-secret', kind: 'mini', bound: true },
  ];
  emulator = await createEmulator({
    apps,
    now: () => clock,
    loginServerUrl: `${serverUrl}/graphql`,
    pushTimeoutMs: PUSH_TIMEOUT_MS,
  });
});
afterAll(async () => {
  await emulator?.close();
  for (const res of held) res.destroy();
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
});
beforeEach(async () => {
  await post('/__emulator/reset', {});
  received = [];
  answer = () => ({ body: 'success' });
});

/** A field of a flat WeChat XML message, CDATA or not; undefined when absent. */
function field(xml: string, name: string): string | undefined {
  const match = new RegExp(`<${name}>(?:<!\\[CDATA\\[([\\s\\S]*?)\\]\\]>|([^<]*))</${name}>`).exec(xml);
  return match ? (match[1] ?? match[2]) : undefined;
}

async function issueQr(appid: string, scene: string, expireSeconds = 300): Promise<Body> {
  const { access_token } = await post('/cgi-bin/stable_token', {
    grant_type: 'client_credential',
    appid,
    secret: `${appid.slice(2)}-secret`,
  });
  return post(
    '/cgi-bin/qrcode/create',
    {
      action_name: 'QR_STR_SCENE',
      expire_seconds: expireSeconds,
      action_info: { scene: { scene_str: scene } },
    },
    { access_token: access_token as string },
  );
}

async function scan(body: Record<string, unknown>): Promise<{ status: number; body: Body }> {
  const response = await fetch(`${emulator.url}/__emulator/scan`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Body };
}

/** The push's plain signature checks out with this Token. */
function expectSigned(push: Received, token: string): void {
  const q = push.query;
  expect(q.get('timestamp')).toMatch(/^\d+$/);
  expect(q.get('nonce')).toMatch(/^\d+$/);
  expect(
    signatureMatches(q.get('signature')!, pushSignature(token, q.get('timestamp')!, q.get('nonce')!)),
  ).toBe(true);
}

/** The plain reply a server gives to a push: a text message to the person, from the account. */
function textReply(push: Received, content: string): string {
  const xml = push.body;
  return (
    `<xml><ToUserName><![CDATA[${field(xml, 'FromUserName')}]]></ToUserName>` +
    `<FromUserName><![CDATA[${field(xml, 'ToUserName')}]]></FromUserName><CreateTime>${field(xml, 'CreateTime')}</CreateTime>` +
    `<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[${content}]]></Content></xml>`
  );
}

describe('a scan of an official account’s QR code (POST /__emulator/scan)', () => {
  it('follows through the code and pushes subscribe with qrscene_<scene>, signed with the Token', async () => {
    const qr = await issueQr('wxoa', 'login-abc');
    const result = await scan({ appid: 'wxoa', scene: 'login-abc', user: 'alice' });
    expect(result).toEqual({
      status: 200,
      body: {
        scene: 'login-abc',
        event: 'subscribe',
        delivered: true,
        attempts: 1,
        status: 200,
        reply: null,
      },
    });
    expect(received).toHaveLength(1);
    const push = received[0]!;
    const openid = emulator.people.openid('wxoa', 'alice');
    expect(push.path).toBe('/wechat/events/wxoa');
    expect(push.headers['content-type']).toBe('text/xml');
    expect(push.query.get('openid')).toBe(openid);
    expect(push.query.has('encrypt_type')).toBe(false);
    expectSigned(push, TOKEN);
    expect(field(push.body, 'ToUserName')).toMatch(/^gh_[0-9a-f]{12}$/);
    expect(field(push.body, 'FromUserName')).toBe(openid);
    expect(field(push.body, 'CreateTime')).toBe(String(clock / 1000));
    expect(push.query.get('timestamp')).toBe(String(clock / 1000));
    expect(field(push.body, 'MsgType')).toBe('event');
    expect(field(push.body, 'Event')).toBe('subscribe');
    expect(field(push.body, 'EventKey')).toBe('qrscene_login-abc');
    expect(field(push.body, 'Ticket')).toBe(qr.ticket);

    // The server then asks who that is: a follower, through that scene.
    const { access_token } = await post('/cgi-bin/stable_token', {
      grant_type: 'client_credential',
      appid: 'wxoa',
      secret: 'oa-secret',
    });
    const info = await get('/cgi-bin/user/info', { access_token: access_token as string, openid });
    expect(info).toMatchObject({
      subscribe: 1,
      openid,
      unionid: emulator.people.unionidOf('alice'),
      subscribe_scene: 'ADD_SCENE_QR_CODE',
      qr_scene_str: 'login-abc',
    });
  });

  it('pushes SCAN with the bare scene for a person who follows already; `event` must be what WeChat pushes', async () => {
    const qr = await issueQr('wxoa', 'scene-2');
    await post('/__emulator/follows', { appid: 'wxoa', user: 'bob' });
    const wrong = await scan({ appid: 'wxoa', scene: 'scene-2', user: 'bob', event: 'subscribe' });
    expect(wrong.status).toBe(409);
    expect(wrong.body.error).toMatch(/SCAN/);
    expect(received).toHaveLength(0);
    const result = await scan({ appid: 'wxoa', scene: 'scene-2', user: 'bob', event: 'SCAN' });
    expect(result.body).toMatchObject({ event: 'SCAN', delivered: true });
    const push = received[0]!;
    expect(field(push.body, 'Event')).toBe('SCAN');
    expect(field(push.body, 'EventKey')).toBe('scene-2');
    expect(field(push.body, 'Ticket')).toBe(qr.ticket);
  });

  it('in safe mode sends only Encrypt, signed by msg_signature, which decrypts to the event for the appid', async () => {
    await issueQr('wxoasafe', 'safe-1');
    const result = await scan({ appid: 'wxoasafe', scene: 'safe-1', user: 'alice' });
    expect(result.body).toMatchObject({ event: 'subscribe', delivered: true, attempts: 1 });
    const push = received[0]!;
    expect(push.path).toBe('/custom/safe');
    const q = push.query;
    // The eventUrl's own query is kept.
    expect(q.get('account')).toBe('safe');
    expect(q.get('encrypt_type')).toBe('aes');
    expectSigned(push, SAFE_TOKEN);
    const encrypted = field(push.body, 'Encrypt')!;
    expect(field(push.body, 'ToUserName')).toMatch(/^gh_[0-9a-f]{12}$/);
    expect(field(push.body, 'Event')).toBeUndefined();
    expect(
      signatureMatches(
        q.get('msg_signature')!,
        pushSignature(SAFE_TOKEN, q.get('timestamp')!, q.get('nonce')!, encrypted),
      ),
    ).toBe(true);
    const plain = decryptPush(aesKeyOf(AES_KEY), encrypted, 'wxoasafe');
    expect(field(plain, 'Event')).toBe('subscribe');
    expect(field(plain, 'EventKey')).toBe('qrscene_safe-1');
    expect(field(plain, 'FromUserName')).toBe(emulator.people.openid('wxoasafe', 'alice'));
    expect(() => decryptPush(aesKeyOf(AES_KEY), encrypted, 'wxoa')).toThrow();
  });

  it('reports a plain passive reply’s text, and refuses one to someone else', async () => {
    await issueQr('wxoa', 'reply-1');
    answer = (push) => ({ body: textReply(push, '登录成功') });
    expect((await scan({ appid: 'wxoa', scene: 'reply-1', user: 'alice' })).body).toMatchObject({
      delivered: true,
      reply: '登录成功',
    });
    answer = (push) => ({
      body: textReply(push, 'hi').replace(/<ToUserName>.*?<\/ToUserName>/, '<ToUserName>o-x</ToUserName>'),
    });
    const refused = (await scan({ appid: 'wxoa', scene: 'reply-1', user: 'alice' })).body;
    expect(refused).toMatchObject({
      delivered: true,
      reply: null,
      replyError: expect.stringMatching(/ToUserName/),
    });
  });

  it('reports an encrypted passive reply’s text once its MsgSignature and decryption check out', async () => {
    await issueQr('wxoasafe', 'reply-2');
    const key = aesKeyOf(AES_KEY);
    const encryptedReply = (push: Received, sign: (e: string) => string) => {
      const inner = decryptPush(key, field(push.body, 'Encrypt')!, 'wxoasafe');
      const e = encryptPush(key, textReply({ ...push, body: inner }, '登录成功'), 'wxoasafe');
      return `<xml><Encrypt><![CDATA[${e}]]></Encrypt><MsgSignature><![CDATA[${sign(e)}]]></MsgSignature><TimeStamp>1800000000</TimeStamp><Nonce><![CDATA[42]]></Nonce></xml>`;
    };
    answer = (push) => ({
      body: encryptedReply(push, (e) => pushSignature(SAFE_TOKEN, '1800000000', '42', e)),
    });
    expect((await scan({ appid: 'wxoasafe', scene: 'reply-2', user: 'alice' })).body).toMatchObject({
      delivered: true,
      reply: '登录成功',
    });
    answer = (push) => ({
      body: encryptedReply(push, (e) => pushSignature('wrongToken', '1800000000', '42', e)),
    });
    expect((await scan({ appid: 'wxoasafe', scene: 'reply-2', user: 'alice' })).body).toMatchObject({
      delivered: true,
      reply: null,
      replyError: expect.stringMatching(/MsgSignature/),
    });
  });

  it('tries three times in all, the same message, when the server does not answer; a status is an answer', async () => {
    await issueQr('wxoa', 'retry-1');
    answer = () => 'hang';
    const result = await scan({ appid: 'wxoa', scene: 'retry-1', user: 'alice' });
    expect(result.body).toEqual({
      scene: 'retry-1',
      event: 'subscribe',
      delivered: false,
      attempts: 3,
      status: null,
      reply: null,
    });
    expect(received).toHaveLength(3);
    expect(new Set(received.map((r) => r.body)).size).toBe(1);
    expect(new Set(received.map((r) => field(r.body, 'CreateTime'))).size).toBe(1);

    received = [];
    answer = () => ({ status: 500, body: 'oops' });
    const failed = await scan({ appid: 'wxoa', scene: 'retry-1', user: 'alice' });
    expect(failed.body).toMatchObject({ event: 'SCAN', delivered: false, attempts: 1, status: 500 });
    expect(received).toHaveLength(1);
  });

  it('answers 410 for an expired code and pushes nothing; 404 for a scene never issued', async () => {
    await issueQr('wxoa', 'short', 60);
    clock += 61_000;
    const expired = await scan({ appid: 'wxoa', scene: 'short', user: 'alice' });
    expect(expired.status).toBe(410);
    expect(expired.body.error).toMatch(/二维码已过期/);
    const unknown = await scan({ appid: 'wxoa', scene: 'never', user: 'alice' });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toMatch(/never issued/);
    // Another account's scene is not this one's.
    await issueQr('wxoasafe', 'theirs');
    expect((await scan({ appid: 'wxoa', scene: 'theirs', user: 'alice' })).status).toBe(404);
    expect(received).toHaveLength(0);
  });

  it('pushes nothing for an account without a Token (no server configuration), but the person follows', async () => {
    await issueQr('wxoaquiet', 'quiet');
    const result = await scan({ appid: 'wxoaquiet', scene: 'quiet', user: 'alice' });
    expect(result.body).toMatchObject({ event: 'subscribe', delivered: false, attempts: 0, status: null });
    expect(received).toHaveLength(0);
    expect((await scan({ appid: 'wxoaquiet', scene: 'quiet', user: 'alice' })).body.event).toBe('SCAN');
  });

  it('still scans mini program codes as before, and refuses other kinds', async () => {
    expect((await scan({ appid: 'wxmini', scene: 'nope', user: 'alice' })).status).toBe(404);
    expect((await scan({ appid: 'wxnobody', scene: 'x', user: 'alice' })).status).toBe(400);
  });
});

describe('follows with push (POST /__emulator/follows)', () => {
  it('pushes subscribe without an EventKey or Ticket, then unsubscribe; nothing when nothing changes', async () => {
    const followed = await post('/__emulator/follows', { appid: 'wxoa', user: 'carol', push: true });
    expect(followed).toEqual({
      appid: 'wxoa',
      user: 'carol',
      following: true,
      event: 'subscribe',
      delivered: true,
      attempts: 1,
      status: 200,
      reply: null,
    });
    expect(field(received[0]!.body, 'Event')).toBe('subscribe');
    expect(field(received[0]!.body, 'EventKey')).toBe('');
    expect(field(received[0]!.body, 'Ticket')).toBeUndefined();
    const again = await post('/__emulator/follows', { appid: 'wxoa', user: 'carol', push: true });
    expect(again).toMatchObject({ event: null, attempts: 0 });
    const unfollowed = await post('/__emulator/follows', {
      appid: 'wxoa',
      user: 'carol',
      following: false,
      push: true,
    });
    expect(unfollowed).toMatchObject({ following: false, event: 'unsubscribe', delivered: true });
    expect(received).toHaveLength(2);
    expect(field(received[1]!.body, 'Event')).toBe('unsubscribe');
    expect(field(received[1]!.body, 'EventKey')).toBe('');
    expectSigned(received[1]!, TOKEN);
  });

  it('lists the pushes newest first (GET /__emulator/pushes), without secrets; reset forgets them', async () => {
    await post('/__emulator/follows', { appid: 'wxoa', user: 'carol', push: true });
    await issueQr('wxoasafe', 'listed');
    await scan({ appid: 'wxoasafe', scene: 'listed', user: 'dave' });
    const response = await fetch(`${emulator.url}/__emulator/pushes`);
    const text = await response.text();
    expect(text).not.toContain(TOKEN);
    expect(text).not.toContain(AES_KEY);
    const { pushes } = JSON.parse(text) as { pushes: Body[] };
    expect(pushes).toEqual([
      {
        appid: 'wxoasafe',
        openid: emulator.people.openid('wxoasafe', 'dave'),
        user: 'dave',
        event: 'subscribe',
        eventKey: 'qrscene_listed',
        mode: 'safe',
        delivered: true,
        attempts: 1,
        status: 200,
        reply: null,
        at: new Date(clock).toISOString(),
      },
      expect.objectContaining({
        appid: 'wxoa',
        user: 'carol',
        event: 'subscribe',
        eventKey: '',
        mode: 'plain',
      }),
    ]);
    await post('/__emulator/reset', {});
    expect(await get('/__emulator/pushes')).toEqual({ pushes: [] });
  });
});

describe('the phone page of a QR code (/__emulator/oa-qr/<ticket>)', () => {
  it('shows the account, a person picker and Scan, with the phone’s headers; its scan route pushes', async () => {
    emulator.people.upsert('alice');
    emulator.people.upsert('bob');
    const qr = await issueQr('wxoa', 'page-1');
    const page = await fetch(qr.url as string);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(page.headers.get('content-security-policy')).toMatch(/default-src 'none'.*connect-src 'self';/);
    const html = await page.text();
    expect(html).toMatch(
      /<select id="user"[^>]*><option value="alice" selected>alice<\/option><option value="bob">/,
    );
    expect(html).toContain('id="scan"');
    expect(html).toMatch(/id="status"[^>]*data-state="idle"/);
    expect(html).toContain('id="reply"');
    expect(html).toContain(`${serverUrl}/wechat/events/wxoa`);
    const script = await fetch(`${emulator.url}/__emulator/oa-qr.js`);
    expect(script.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(await script.text()).toContain('/scan');

    answer = (push) => ({ body: textReply(push, '登录成功') });
    const scanned = await fetch(
      `${emulator.url}/__emulator/oa-qr/${encodeURIComponent(qr.ticket as string)}/scan`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ user: 'bob' }),
      },
    );
    expect(scanned.status).toBe(200);
    expect(await scanned.json()).toMatchObject({
      scene: 'page-1',
      event: 'subscribe',
      delivered: true,
      reply: '登录成功',
    });
    expect(received[0]!.query.get('openid')).toBe(emulator.people.openid('wxoa', 'bob'));
  });

  it('runs the scan in its script and shows how the push went: delivered with the reply, failed, expired', async () => {
    const qr = await issueQr('wxoa', 'page-js', 60);
    const page = fakePage(await (await fetch(qr.url as string)).text());
    const sameOrigin = (url: string, init: RequestInit) => {
      expect(url).toMatch(/^\/__emulator\/oa-qr\//);
      return fetch(`${emulator.url}${url}`, init);
    };
    runInNewContext(await (await fetch(`${emulator.url}/__emulator/oa-qr.js`)).text(), {
      document: page.document,
      fetch: sameOrigin,
    });
    expect(page.el('status').dataset.state).toBe('idle');
    page.el('user').value = 'bob';
    answer = (push) => ({ body: textReply(push, '登录成功') });
    await page.click('scan');
    expect(page.el('status').dataset.state).toBe('delivered');
    expect(page.el('status').textContent).toMatch(/^subscribe pushed/);
    expect(page.el('reply').hidden).toBe(false);
    expect(page.el('reply').textContent).toBe('登录成功');
    expect(received[0]!.query.get('openid')).toBe(emulator.people.openid('wxoa', 'bob'));

    answer = () => ({ status: 500 });
    await page.click('scan');
    expect(page.el('status').dataset.state).toBe('failed');
    expect(page.el('status').textContent).toMatch(/^SCAN pushed, the server failed: HTTP 500/);
    expect(page.el('reply').hidden).toBe(true);

    clock += 60_000;
    await page.click('scan');
    expect(page.el('status').dataset.state).toBe('expired');
    expect(page.el('status').textContent).toMatch(/二维码已过期/);
    expect(received).toHaveLength(2);
  });

  it('says so for an expired code (410, nothing pushed) and an unknown one (404)', async () => {
    const qr = await issueQr('wxoa', 'page-2', 60);
    clock += 60_000;
    const expired = await fetch(qr.url as string);
    expect(expired.status).toBe(410);
    expect(await expired.text()).toContain('二维码已过期');
    const scanned = await fetch(`${qr.url as string}/scan`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'alice' }),
    });
    expect(scanned.status).toBe(410);
    expect(received).toHaveLength(0);
    expect((await fetch(`${emulator.url}/__emulator/oa-qr/nope`)).status).toBe(404);
  });

  it('is found by its account and scene (/__emulator/oa-qr?appid&scene): the newest code of that scene', async () => {
    await issueQr('wxoa', 'by-scene');
    const newest = await issueQr('wxoa', 'by-scene');
    const found = await fetch(`${emulator.url}/__emulator/oa-qr?appid=wxoa&scene=by-scene`, {
      redirect: 'manual',
    });
    expect(found.status).toBe(302);
    expect(new URL(found.headers.get('location')!, emulator.url).href).toBe(newest.url);
    expect((await fetch(`${emulator.url}/__emulator/oa-qr?appid=wxoa&scene=never`)).status).toBe(404);
  });

  it('is listed by GET /__emulator/scenes beside the mini program codes, newest first', async () => {
    const first = await issueQr('wxoa', 'listed-1');
    clock += 1000;
    const second = await issueQr('wxoasafe', 'listed-2');
    const { scenes } = (await get('/__emulator/scenes')) as { scenes: Body[] };
    expect(scenes).toEqual([
      {
        kind: 'oa-qr',
        appid: 'wxoasafe',
        scene: 'listed-2',
        ticket: second.ticket,
        phoneUrl: `/__emulator/oa-qr/${encodeURIComponent(second.ticket as string)}`,
        issuedAt: new Date(clock).toISOString(),
        expiresAt: new Date(clock + 300_000).toISOString(),
        expired: false,
      },
      expect.objectContaining({ kind: 'oa-qr', scene: 'listed-1', ticket: first.ticket }),
    ]);
  });
});

describe('EMULATOR_APPS: an official account’s server configuration', () => {
  const app = (extra: object, kind = 'official') =>
    JSON.stringify([{ appid: 'wxoa', secret: 's', kind, ...extra }]);

  it('takes a token, an aesKey and an eventUrl', () => {
    expect(
      parseEmulatorApps(app({ token: 'abc', aesKey: AES_KEY, eventUrl: 'https://example.com/e' })),
    ).toEqual([
      {
        appid: 'wxoa',
        secret: 's',
        kind: 'official',
        bound: false,
        token: 'abc',
        aesKey: AES_KEY,
        eventUrl: 'https://example.com/e',
      },
    ]);
  });

  it('refuses bad values and other kinds of app, with one line', () => {
    expect(() => parseEmulatorApps(app({ token: 'ab' }))).toThrow(
      /^EMULATOR_APPS: \[0\]\.token: must be 3-32/,
    );
    expect(() => parseEmulatorApps(app({ token: 'bad-token' }))).toThrow(/token: must be 3-32/);
    expect(() => parseEmulatorApps(app({ token: 'abc', aesKey: AES_KEY.slice(1) }))).toThrow(
      /aesKey: must be 43/,
    );
    expect(() => parseEmulatorApps(app({ aesKey: AES_KEY }))).toThrow(/aesKey: needs a token/);
    expect(() => parseEmulatorApps(app({ eventUrl: 'ftp://example.com' }))).toThrow(
      /eventUrl: must be an http/,
    );
    expect(() => parseEmulatorApps(app({ token: 'abc' }, 'mini'))).toThrow(
      /token: for official accounts only \(this app is kind mini\)/,
    );
  });

  it('gives the demo official account its Token', () => {
    expect(DEMO_APPS.find((a) => a.kind === 'official')!.token).toBe(DEMO_OA_TOKEN);
  });

  it('npm start: a configured account’s Token and key sign its emulator’s pushes; the demo account’s Token is in the config', async () => {
    const official = { kind: 'official', appId: 'wxmyoa', secret: 's', token: 'myToken', aesKey: AES_KEY };
    const withOwn = loadConfig({ WECHAT_APPS: JSON.stringify([official]), EMULATOR_PORT: '0' });
    const own = await startAttachedEmulator(withOwn, captureLog().logger);
    try {
      expect(own.emulator!.apps.find((a) => a.appid === 'wxmyoa')).toMatchObject({
        token: 'myToken',
        aesKey: AES_KEY,
      });
    } finally {
      await own.emulator!.close();
    }
    const demo = await startAttachedEmulator(loadConfig({ EMULATOR_PORT: '0' }), captureLog().logger);
    try {
      expect(demo.config.wechat.apps.find((a) => a.kind === 'official')).toMatchObject({
        appId: 'wxdemoofficial00001',
        token: DEMO_OA_TOKEN,
      });
    } finally {
      await demo.emulator!.close();
    }
  });
});
