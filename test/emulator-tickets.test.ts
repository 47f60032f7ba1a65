import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import QRCode from 'qrcode';
import { createEmulator, type Emulator } from '../src/emulator/emulator.js';
import { EMULATOR_TEST_APPS as APPS, emulatorCalls, expectError, type Body } from './support/emulator.js';
import { fakePage } from './support/fake-page.js';

/**
 * The WeChat emulator (src/emulator), what a login ticket's code or link is made of: mini program
 * codes (/wxa/getwxacodeunlimit, a PNG), URL Links (/wxa/generate_urllink and what a browser sees
 * opening one), POST /__emulator/scan, and the phone page that plays the mini program page
 * confirming the ticket on the login server.
 */

const clock = Date.parse('2026-11-21T00:00:00Z');
const DAY_S = 24 * 3600;
/** The emulator's PNG options: qrcode's, with pngjs's "up" filter and zlib's default strategy. */
const qrPngOf = (text: string, width: number) =>
  QRCode.toBuffer(text, {
    type: 'png',
    margin: 1,
    width,
    rendererOpts: { deflateStrategy: 0, filterType: 2 } as { deflateStrategy: number },
  });
const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
let emulator: Emulator;
const { get, post, jscode, miniStableToken } = emulatorCalls(() => emulator.url);

beforeAll(async () => {
  emulator = await createEmulator({ apps: APPS, now: () => clock });
});
afterAll(async () => {
  await emulator?.close();
});
beforeEach(async () => {
  await post('/__emulator/reset', {});
});

/** A POST to WeChat's API with this access token, the answer as it comes. */
function wxa(path: string, accessToken: string | undefined, body: unknown): Promise<Response> {
  const query = accessToken === undefined ? '' : `?${new URLSearchParams({ access_token: accessToken })}`;
  return fetch(`${emulator.url}${path}${query}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** An answer that must be WeChat's JSON error (HTTP 200, application/json) with this errcode. */
async function expectJsonError(response: Response, errcode: number): Promise<void> {
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  expectError((await response.json()) as Body, errcode);
}

/** What the server's createLoginTicket asks for a code. */
const codeRequest = (scene: unknown, extra: Record<string, unknown> = {}) => ({
  scene,
  page: 'pages/login-ticket/index',
  check_path: false,
  env_version: 'release',
  width: 430,
  ...extra,
});

/** What the server's createLoginTicket asks for a link. */
const linkRequest = (scene: string, extra: Record<string, unknown> = {}) => ({
  path: 'pages/login-ticket/index',
  query: `scene=${scene}`,
  expire_type: 1,
  expire_interval: 1,
  env_version: 'release',
  ...extra,
});

async function issueCode(scene: string): Promise<Buffer> {
  const response = await wxa('/wxa/getwxacodeunlimit', await miniStableToken(), codeRequest(scene));
  expect(response.headers.get('content-type')).toBe('image/png');
  return Buffer.from(await response.arrayBuffer());
}

async function issueLink(scene: string, extra: Record<string, unknown> = {}): Promise<string> {
  const response = await wxa('/wxa/generate_urllink', await miniStableToken(), linkRequest(scene, extra));
  const body = (await response.json()) as Body;
  expect(body).toEqual({ errcode: 0, errmsg: 'ok', url_link: expect.any(String) });
  return body.url_link as string;
}

async function scan(body: Record<string, unknown>): Promise<{ status: number; body: Body }> {
  const response = await fetch(`${emulator.url}/__emulator/scan`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Body };
}

describe('mini program codes: POST /wxa/getwxacodeunlimit', () => {
  it('answers a PNG whose QR code is the phone page for that scene, and remembers the code', async () => {
    const response = await wxa('/wxa/getwxacodeunlimit', await miniStableToken(), codeRequest('Tk42abc'));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/png');
    const png = Buffer.from(await response.arrayBuffer());
    expect(png.subarray(0, 8)).toEqual(PNG_MAGIC);
    // The same text with the same options is the same image: the code encodes this URL.
    const phone = `${emulator.url}/__emulator/phone?appid=wxmini&scene=Tk42abc`;
    expect(png).toEqual(await qrPngOf(phone, 430));

    const { scenes } = (await get('/__emulator/scenes')) as { scenes: Body[] };
    expect(scenes).toEqual([
      expect.objectContaining({
        kind: 'code',
        appid: 'wxmini',
        scene: 'Tk42abc',
        page: 'pages/login-ticket/index',
        envVersion: 'release',
        scans: 0,
        issuedAt: new Date(clock).toISOString(),
        pngUrl: `${emulator.url}/__emulator/wxacode/${scenes[0]!.n}.png`,
      }),
    ]);
    const again = await fetch(scenes[0]!.pngUrl as string);
    expect(again.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await again.arrayBuffer())).toEqual(png);
    const requests = ((await get('/__emulator/requests')) as { requests: Body[] }).requests;
    expect(requests.at(-1)).toMatchObject({ path: '/wxa/getwxacodeunlimit', appid: 'wxmini', outcome: 'ok' });
  });

  it('takes the width (280–1280), any scene character WeChat allows, and no page (the home page)', async () => {
    const token = await miniStableToken();
    const response = await wxa('/wxa/getwxacodeunlimit', token, {
      scene: "a=1&b~2!*'();:@$,/?#[",
      width: 280,
    });
    // "[" is not one of them.
    await expectJsonError(response, 40169);
    const ok = await wxa('/wxa/getwxacodeunlimit', token, { scene: "a=1&b~2!*'();:@$,/?#", width: 280 });
    const png = Buffer.from(await ok.arrayBuffer());
    const phone = `${emulator.url}/__emulator/phone?${new URLSearchParams({ appid: 'wxmini', scene: "a=1&b~2!*'();:@$,/?#" })}`;
    expect(png).toEqual(await qrPngOf(phone, 280));
    expect(((await get('/__emulator/scenes')) as { scenes: Body[] }).scenes[0]!.page).toBeNull();
  });

  it('checks the app access token: missing 41001, unknown 40001, expired 42001, not a mini program 48001', async () => {
    const body = codeRequest('abc');
    await expectJsonError(await wxa('/wxa/getwxacodeunlimit', undefined, body), 41001);
    await expectJsonError(await wxa('/wxa/getwxacodeunlimit', 'not-a-token', body), 40001);
    const token = await miniStableToken();
    const official = (await post('/cgi-bin/stable_token', {
      grant_type: 'client_credential',
      appid: 'wxoa',
      secret: 'oa-secret',
    })) as { access_token: string };
    await expectJsonError(await wxa('/wxa/getwxacodeunlimit', official.access_token, body), 48001);
    await post('/__emulator/clock', { advanceMs: 7200_000 });
    await expectJsonError(await wxa('/wxa/getwxacodeunlimit', token, body), 42001);
    expect(((await get('/__emulator/scenes')) as { scenes: Body[] }).scenes).toEqual([]);
  });

  it('refuses a bad scene (40169), a bad page (41030), bad args (40097) and a body that is not JSON (47001)', async () => {
    const token = await miniStableToken();
    const code = (body: unknown) => wxa('/wxa/getwxacodeunlimit', token, body);
    await expectJsonError(await code({ page: 'pages/index/index' }), 40169);
    await expectJsonError(await code(codeRequest('')), 40169);
    await expectJsonError(await code(codeRequest('x'.repeat(33))), 40169);
    await expectJsonError(await code(codeRequest('has space')), 40169);
    await expectJsonError(await code(codeRequest('中文')), 40169);
    await expectJsonError(await code(codeRequest(12345)), 40169);
    await expectJsonError(await code(codeRequest('abc', { page: '/pages/login-ticket/index' })), 41030);
    await expectJsonError(await code(codeRequest('abc', { page: 'pages/index?x=1' })), 41030);
    await expectJsonError(await code(codeRequest('abc', { page: 'p'.repeat(129) })), 41030);
    await expectJsonError(await code(codeRequest('abc', { width: 279 })), 40097);
    await expectJsonError(await code(codeRequest('abc', { width: 1281 })), 40097);
    await expectJsonError(await code(codeRequest('abc', { width: '430' })), 40097);
    await expectJsonError(await code(codeRequest('abc', { env_version: 'beta' })), 40097);
    const malformed = await code('{not json');
    expect(((await malformed.json()) as Body).errcode).toBe(47001);
    expect(((await get('/__emulator/scenes')) as { scenes: Body[] }).scenes).toEqual([]);
  });
});

describe('URL Links: POST /wxa/generate_urllink and opening one', () => {
  it('answers a url_link that redirects a browser to the phone page for its scene', async () => {
    const link = await issueLink('Lk1');
    expect(link).toMatch(new RegExp(`^${emulator.url}/__emulator/urllink/[A-Za-z0-9]{16,}$`));
    const response = await fetch(link, { redirect: 'manual' });
    expect(response.status).toBe(302);
    expect(response.headers.get('location')).toBe('/__emulator/phone?appid=wxmini&scene=Lk1&via=link');
    const { scenes } = (await get('/__emulator/scenes')) as { scenes: Body[] };
    expect(scenes).toEqual([
      expect.objectContaining({
        kind: 'link',
        appid: 'wxmini',
        scene: 'Lk1',
        page: 'pages/login-ticket/index',
        query: 'scene=Lk1',
        urlLink: link,
        expiresAt: new Date(clock + DAY_S * 1000).toISOString(),
      }),
    ]);
    // Followed, the redirect is the phone page of that mini program page, opened from the link.
    const page = await (await fetch(link)).text();
    expect(page).toContain('data-scene="Lk1"');
    expect(page).toContain('opened from its URL Link');
  });

  it('shows "link expired" (410) once its time has passed, and 404 for a link it never made', async () => {
    const days = await issueLink('Lk2', { expire_type: 1, expire_interval: 2 });
    const at = await issueLink('Lk3', {
      expire_type: 0,
      expire_interval: undefined,
      expire_time: clock / 1000 + 3600,
    });
    expect((await fetch(at, { redirect: 'manual' })).status).toBe(302);
    await post('/__emulator/clock', { advanceMs: 3600_000 });
    const expired = await fetch(at, { redirect: 'manual' });
    expect(expired.status).toBe(410);
    expect(expired.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await expired.text()).toContain('链接已失效');
    expect((await fetch(days, { redirect: 'manual' })).status).toBe(302);
    await post('/__emulator/clock', { advanceMs: 2 * DAY_S * 1000 });
    expect((await fetch(days, { redirect: 'manual' })).status).toBe(410);
    const unknown = await fetch(`${emulator.url}/__emulator/urllink/NoSuchLink000000000`, {
      redirect: 'manual',
    });
    expect(unknown.status).toBe(404);
    expect(await unknown.text()).toContain('unknown');
  });

  it('refuses a bad path (41030) and bad query or expiry arguments (40097), and checks the token', async () => {
    const token = await miniStableToken();
    const link = (extra: Record<string, unknown>) =>
      wxa('/wxa/generate_urllink', token, linkRequest('s', extra));
    await expectJsonError(await link({ path: '/pages/login-ticket/index' }), 41030);
    await expectJsonError(await link({ path: 'pages/a b' }), 41030);
    await expectJsonError(await link({ query: `scene=${'x'.repeat(1020)}` }), 40097);
    await expectJsonError(await link({ query: 'scene=a b' }), 40097);
    await expectJsonError(await link({ expire_type: 2 }), 40097);
    await expectJsonError(await link({ expire_interval: 0 }), 40097);
    await expectJsonError(await link({ expire_interval: 31 }), 40097);
    await expectJsonError(await link({ expire_interval: 1.5 }), 40097);
    await expectJsonError(await link({ expire_type: undefined, expire_interval: undefined }), 40097);
    await expectJsonError(await link({ expire_type: 0, expire_time: clock / 1000 }), 40097);
    await expectJsonError(await link({ expire_type: 0, expire_time: clock / 1000 + 30 * DAY_S + 1 }), 40097);
    await expectJsonError(await link({ env_version: 'prod' }), 40097);
    await expectJsonError(await wxa('/wxa/generate_urllink', 'not-a-token', linkRequest('s')), 40001);
    expect(((await get('/__emulator/scenes')) as { scenes: Body[] }).scenes).toEqual([]);
    // The limits themselves are fine: 30 days either way, no path (the home page), no query.
    await issueLink('s', { expire_interval: 30 });
    await issueLink('s', {
      expire_type: 0,
      expire_interval: undefined,
      expire_time: clock / 1000 + 30 * DAY_S,
    });
    const bare = await wxa('/wxa/generate_urllink', token, { expire_type: 1, expire_interval: 1 });
    const { url_link } = (await bare.json()) as { url_link: string };
    expect((await fetch(url_link, { redirect: 'manual' })).headers.get('location')).toBe(
      '/__emulator/phone?appid=wxmini&via=link',
    );
  });
});

describe('faults on the code and link routes', () => {
  it('answers an errcode fault as JSON instead of the PNG, then the PNG again', async () => {
    const token = await miniStableToken();
    await post('/__emulator/faults', { path: '/wxa/getwxacodeunlimit', errcode: 45009 });
    const faulted = await wxa('/wxa/getwxacodeunlimit', token, codeRequest('abc'));
    expect(faulted.headers.get('content-type')).toMatch(/^application\/json/);
    expect(((await faulted.json()) as Body).errcode).toBe(45009);
    expect((await issueCode('abc')).subarray(0, 8)).toEqual(PNG_MAGIC);
    const outcomes = ((await get('/__emulator/requests')) as { requests: Body[] }).requests
      .filter((r) => r.path === '/wxa/getwxacodeunlimit')
      .map((r) => r.outcome);
    expect(outcomes).toEqual(['errcode:45009', 'ok']);
  });

  it('applies status, malformed, drop and delay faults to both routes', async () => {
    const token = await miniStableToken();
    for (const [path, body] of [
      ['/wxa/getwxacodeunlimit', codeRequest('abc')],
      ['/wxa/generate_urllink', linkRequest('abc')],
    ] as const) {
      await post('/__emulator/faults', { path, status: 503 });
      expect((await wxa(path, token, body)).status).toBe(503);
      await post('/__emulator/faults', { path, malformed: true });
      await expect((await wxa(path, token, body)).text().then((t) => JSON.parse(t))).rejects.toThrow();
      await post('/__emulator/faults', { path, drop: true });
      await expect(wxa(path, token, body)).rejects.toThrow();
      await post('/__emulator/faults', { path, errcode: -1 });
      expect(((await (await wxa(path, token, body)).json()) as Body).errcode).toBe(-1);
      await post('/__emulator/faults', { path, delayMs: 200 });
      const started = Date.now();
      expect((await wxa(path, token, body)).status).toBe(200);
      expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    }
    // Only the answered calls issued anything.
    expect(((await get('/__emulator/scenes')) as { scenes: Body[] }).scenes.map((s) => s.kind)).toEqual([
      'link',
      'code',
    ]);
  });
});

describe('POST /__emulator/scan', () => {
  it('gives a wx.login code of the person for a scene issued as a code or a link', async () => {
    await issueCode('Sc1');
    await issueLink('Sc2');
    const first = await scan({ appid: 'wxmini', scene: 'Sc1', user: 'alice' });
    expect(first).toEqual({ status: 200, body: { scene: 'Sc1', code: expect.any(String) } });
    const session = await jscode('wxmini', first.body.code as string);
    expect(session.session_key).toBe(emulator.sessionKeyOf('wxmini', 'alice'));
    const second = await scan({ appid: 'wxmini', scene: 'Sc2', user: 'bob' });
    expect(second.status).toBe(200);
    expect((await jscode('wxmini', second.body.code as string)).openid).not.toBe(session.openid);
    const { scenes } = (await get('/__emulator/scenes')) as { scenes: Body[] };
    expect(scenes.map((s) => [s.scene, s.scans])).toEqual([
      ['Sc2', 1],
      ['Sc1', 1],
    ]);
  });

  it('answers 404 for a scene never issued for that app, 400 for an unknown app, another kind or an event', async () => {
    await issueCode('Sc3');
    expect(await scan({ appid: 'wxmini', scene: 'Other', user: 'alice' })).toEqual({
      status: 404,
      body: { error: expect.stringContaining('never issued') },
    });
    expect((await scan({ appid: 'wxmini2', scene: 'Sc3', user: 'alice' })).status).toBe(404);
    expect(await scan({ appid: 'wxnope', scene: 'Sc3', user: 'alice' })).toEqual({
      status: 400,
      body: { error: 'appid: unknown app "wxnope"' },
    });
    expect((await scan({ appid: 'wxweb', scene: 'Sc3', user: 'alice' })).status).toBe(400);
    // An official account's QR codes are scanned too (test/emulator-oa-push.test.ts): not its mini program's scene.
    expect((await scan({ appid: 'wxoa', scene: 'Sc3', user: 'alice' })).status).toBe(404);
    const event = await scan({ appid: 'wxmini', scene: 'Sc3', user: 'alice', event: 'SCAN' });
    expect(event.status).toBe(400);
    expect(event.body.error).toMatch(/^event: /);
    expect((await scan({ appid: 'wxmini', scene: 'Sc3', user: 'not a key' })).status).toBe(400);
    await post('/__emulator/reset', {});
    expect((await scan({ appid: 'wxmini', scene: 'Sc3', user: 'alice' })).status).toBe(404);
  });
});

describe('the phone page', () => {
  it('plays the mini program page for an appid and scene: picker, buttons, the server URL, its CSP', async () => {
    await issueCode('Ph1');
    const response = await fetch(`${emulator.url}/__emulator/phone?appid=wxmini&scene=Ph1`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = response.headers.get('content-security-policy')!;
    expect(csp).toContain("connect-src 'self' http://localhost:4000");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("default-src 'none'");
    const html = await response.text();
    expect(html).toContain('data-server="http://localhost:4000/graphql"');
    expect(html).toContain('data-appid="wxmini"');
    expect(html).toContain('data-scene="Ph1"');
    for (const id of ['user', 'scan', 'ask', 'nickname', 'expires', 'confirm', 'cancel', 'status', 'error']) {
      expect(html).toContain(`id="${id}"`);
    }
    expect(html).toMatch(/id="user"[^>]* value="alice"/);
    expect(html).toContain('<script src="/__emulator/phone.js"></script>');
    expect(html).not.toContain('id="not-issued"');
    expect(html).not.toMatch(/(src|href)="https?:/);
    const script = await fetch(`${emulator.url}/__emulator/phone.js`);
    expect(script.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(await script.text()).toContain('scanLoginTicket');
  });

  it('starts with the remembered person, takes the server parameter, and warns of a scene never issued', async () => {
    const html = await (
      await fetch(
        `${emulator.url}/__emulator/phone?appid=wxmini&scene=Never&server=https://login.example/graphql`,
        {
          headers: { cookie: 'other=1; wxemu_user=bob' },
        },
      )
    ).text();
    expect(html).toMatch(/id="user"[^>]* value="bob"/);
    expect(html).toContain('data-server="https://login.example/graphql"');
    expect(html).toContain('id="not-issued"');
    const response = await fetch(
      `${emulator.url}/__emulator/phone?appid=wxmini&scene=x&server=https://login.example/graphql`,
    );
    expect(response.headers.get('content-security-policy')).toContain(
      "connect-src 'self' https://login.example",
    );
    for (const query of [
      'appid=wxmini&scene=x&server=javascript:alert(1)',
      'appid=wxoa&scene=x',
      'appid=wxnope&scene=x',
    ]) {
      expect((await fetch(`${emulator.url}/__emulator/phone?${query}`)).status).toBe(400);
    }
  });

  it('uses the loginServerUrl option when the page has no server parameter', async () => {
    const other = await createEmulator({ apps: APPS, loginServerUrl: 'http://127.0.0.1:4555/graphql' });
    try {
      const response = await fetch(`${other.url}/__emulator/phone?appid=wxmini&scene=x`);
      expect(response.headers.get('content-security-policy')).toContain(
        "connect-src 'self' http://127.0.0.1:4555",
      );
      expect(await response.text()).toContain('data-server="http://127.0.0.1:4555/graphql"');
    } finally {
      await other.close();
    }
    await expect(createEmulator({ apps: APPS, loginServerUrl: 'ftp://x/graphql' })).rejects.toThrow(
      /loginServerUrl/,
    );
  });

  it('lists the codes and links issued, newest first, with each code image, when opened without a scene', async () => {
    const empty = await (await fetch(`${emulator.url}/__emulator/phone`)).text();
    expect(empty).toContain('id="issued-empty"');
    await issueCode('Li1');
    await issueLink('Li2');
    const response = await fetch(`${emulator.url}/__emulator/phone`);
    expect(response.headers.get('content-security-policy')).toContain("img-src 'self'");
    const html = await response.text();
    expect(html.indexOf('data-scene="Li2"')).toBeLessThan(html.indexOf('data-scene="Li1"'));
    const [, png] = /<img src="([^"]+)"/.exec(html)!;
    expect(png).toMatch(/^\/__emulator\/wxacode\/\d+\.png$/);
    expect((await fetch(`${emulator.url}${png}`)).headers.get('content-type')).toBe('image/png');
    expect(html).toContain('href="/__emulator/phone?appid=wxmini&#38;scene=Li1"');
    expect(html).toContain('href="/__emulator/phone?appid=wxmini&#38;scene=Li2&#38;via=link"');
    expect((await fetch(`${emulator.url}/__emulator/wxacode/999999.png`)).status).toBe(404);
  });

  it("runs the mini program's calls in its script: scan, wechatMiniLogin, scanLoginTicket, then confirm or cancel", async () => {
    await issueCode('Js1');
    const graphqlUrl = 'http://login.test/graphql';
    const html = await (
      await fetch(`${emulator.url}/__emulator/phone?appid=wxmini&scene=Js1&server=${graphqlUrl}`)
    ).text();
    const page = fakePage(html);
    const calls: { query: string; authorization?: string }[] = [];
    const graphql = (query: string): Body => {
      if (query.includes('wechatMiniLogin')) {
        return { data: { wechatMiniLogin: { accessToken: 'at-1', user: { id: 'u1', nickname: 'Alice' } } } };
      }
      if (query.includes('scanLoginTicket')) {
        return { data: { scanLoginTicket: { ticketId: 't1', expiresAt: '2026-11-21T00:05:00.000Z' } } };
      }
      if (query.includes('confirmLoginTicket')) {
        return { errors: [{ message: 'The ticket expired', extensions: { code: 'TICKET_EXPIRED' } }] };
      }
      return { data: { cancelLoginTicket: true } };
    };
    const fakeFetch = async (url: string, init: { headers: Record<string, string>; body: string }) => {
      if (url.startsWith('/')) return fetch(`${emulator.url}${url}`, init);
      expect(url).toBe(graphqlUrl);
      const { query } = JSON.parse(init.body) as { query: string };
      calls.push({ query, authorization: init.headers.authorization });
      return new Response(JSON.stringify(graphql(query)), {
        headers: { 'content-type': 'application/json' },
      });
    };
    const script = await (await fetch(`${emulator.url}/__emulator/phone.js`)).text();
    runInNewContext(script, { document: page.document, fetch: fakeFetch });

    await page.click('scan');
    expect(page.el('ask').hidden).toBe(false);
    expect(page.el('nickname').textContent).toBe('Alice');
    expect(page.el('status').dataset.state).toBe('asking');
    expect(calls.map((c) => c.query.match(/^mutation \{ (\w+)/)![1])).toEqual([
      'wechatMiniLogin',
      'scanLoginTicket',
    ]);
    expect(calls[0]!.query).toContain('appId: "wxmini"');
    expect(calls[0]!.authorization).toBeUndefined();
    expect(calls[1]).toEqual({
      query: 'mutation { scanLoginTicket(scene: "Js1") { ticketId expiresAt } }',
      authorization: 'Bearer at-1',
    });
    // The wx.login code it sent is alice's, from POST /__emulator/scan.
    const code = /code: "([^"]+)"/.exec(calls[0]!.query)![1]!;
    expect((await jscode('wxmini', code)).session_key).toBe(emulator.sessionKeyOf('wxmini', 'alice'));

    await page.click('confirm');
    expect(page.el('status').dataset.state).toBe('error');
    expect(page.el('error-code').textContent).toBe('TICKET_EXPIRED');
    expect(page.el('error-message').textContent).toBe('The ticket expired');
    await page.click('cancel');
    expect(page.el('status').dataset.state).toBe('cancelled');
    expect(page.el('ask').hidden).toBe(true);
    expect(calls.at(-1)!.query).toBe('mutation { cancelLoginTicket(scene: "Js1") }');

    page.el('user').value = 'nobody here';
    await page.click('scan');
    expect(page.el('error-code').textContent).toBe('EMULATOR_400');
  });
});
