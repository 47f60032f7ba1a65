/// <reference lib="dom" />
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Browser, Page } from 'playwright-core';
import { DEMO_APPS } from '../src/emulator/apps.js';
import type { ServerProcess } from '../test/support/process.js';
import { launchChromium } from './support/chromium.js';
import { buildExamplePage } from './support/npm-start.js';
import { startServersOnOneDatabase, type ServersOnOneDatabase } from './support/one-database.js';

const ARTIFACTS = path.resolve('test-artifacts');
const MINI = DEMO_APPS.find((app) => app.kind === 'mini')!;
const OFFICIAL = DEMO_APPS.find((app) => app.kind === 'official')!;
/** The demo official account in safe mode: its Token and EncodingAESKey on both sides. */
const SAFE = {
  ...OFFICIAL,
  token: 'safeModeToken42',
  aesKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
};

let browser: Browser;

beforeAll(async () => {
  buildExamplePage();
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await browser?.close();
});

/** Every answer of 400 or more, and every request that failed, while the page is open. */
function watchFailures(page: Page): string[] {
  const failures: string[] = [];
  page.on('response', (response) => {
    if (response.status() >= 400) failures.push(`${response.status()} ${response.url()}`);
  });
  page.on('requestfailed', (request) => failures.push(`${request.failure()?.errorText} ${request.url()}`));
  return failures;
}

/** `me` on `server` with the page's kept session: who the page is signed in as. */
async function signedInAs(page: Page, server: ServerProcess): Promise<string> {
  const session = await page.evaluate(() =>
    JSON.parse(sessionStorage.getItem('wechat-login:session') ?? 'null'),
  );
  const response = await fetch(`${server.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${session.accessToken}` },
    body: JSON.stringify({ query: '{ me { id loginMethods { kind appId } } }' }),
  });
  const { data } = (await response.json()) as { data: { me: { id: string } } };
  return data.me.id;
}

/**
 * The example page on `server`: Follow our Official Account → the QR code; the emulator's phone
 * for it (the page's "Simulate a phone scanning this code" link) → `user` scans, following the
 * account if not yet → WeChat pushes to the server. Returns the page once it shows the profile,
 * and what the phone showed.
 */
async function followToLogIn(
  server: ServerProcess,
  user: string,
  name: string,
): Promise<{ page: Page; reply: string; failures: string[] }> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const failures = watchFailures(page);
  await page.goto(`${server.url}/examples/web/`);
  await page.locator('#follow-login').click();
  await page.locator('#ticket-code').waitFor();
  expect(await page.locator('#ticket-code').getAttribute('src')).toMatch(/^data:image\/png;base64,/);
  await page.locator('#ticket-status[data-state=WAITING]').waitFor();
  expect(await page.locator('#ticket-status').textContent()).toContain('follow the account');
  await mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, `follow-login-${name}-code.png`) });

  const phone = await context.newPage();
  const phoneFailures = watchFailures(phone);
  await phone.goto((await page.locator('#ticket-emulator').getAttribute('href'))!);
  await phone.locator('#user').selectOption(user);
  await phone.locator('#scan').click();
  await phone.locator('#status[data-state=delivered]').waitFor();
  const reply = (await phone.locator('#reply').textContent()) ?? '';
  expect(phoneFailures).toEqual([]);

  await page.locator('#profile').waitFor();
  expect(await page.locator('#ticket').isHidden()).toBe(true);
  await page.screenshot({ path: path.join(ARTIFACTS, `follow-login-${name}-signed-in.png`) });
  return { page, reply, failures };
}

/** wechatMiniLogin of `user` in the demo mini program: their account's id there. */
async function miniProgramUser(
  shared: ServersOnOneDatabase,
  server: ServerProcess,
  user: string,
): Promise<string> {
  const minted = await fetch(`${shared.emulator.url}/__emulator/codes`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ appid: MINI.appid, user }),
  });
  const { code } = (await minted.json()) as { code: string };
  const response = await fetch(`${server.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      query: 'mutation ($code: String!) { wechatMiniLogin(input: { code: $code }) { user { id } } }',
      variables: { code },
    }),
  });
  return ((await response.json()) as { data: { wechatMiniLogin: { user: { id: string } } } }).data
    .wechatMiniLogin.user.id;
}

describe('the example page’s follow-login, two servers on one database (plain mode, development)', () => {
  let shared: ServersOnOneDatabase;
  let a: ServerProcess;
  let b: ServerProcess;

  beforeAll(async () => {
    // WeChat pushes to B; the page and its subscription are on A.
    shared = await startServersOnOneDatabase({ phoneServer: 1 });
    [a, b] = shared.servers as [ServerProcess, ServerProcess];
  }, 180_000);
  afterAll(async () => {
    await shared?.stop();
  });

  it('signs the page in as the person who follows, the same account as their mini program’s', async () => {
    const { page, reply, failures } = await followToLogIn(a, 'alice', 'follow');
    expect(reply).toBe('登录成功');
    const userId = await signedInAs(page, a);
    // Alice in the mini program, bound to the same Open Platform account: the same person.
    expect(await miniProgramUser(shared, b, 'alice')).toBe(userId);
    expect(failures).toEqual([]);
    await page.context().close();
  });

  it('signs in someone who already follows by their scan (SCAN), as the same account', async () => {
    const first = await followToLogIn(a, 'bob', 'bob-follows');
    const bob = await signedInAs(first.page, a);
    await first.page.context().close();
    const pushes = async () =>
      (
        (await (await fetch(`${shared.emulator.url}/__emulator/pushes`)).json()) as {
          pushes: { event: string }[];
        }
      ).pushes;
    const again = await followToLogIn(a, 'bob', 'bob-scans');
    expect((await pushes())[0]!.event).toBe('SCAN');
    expect(await signedInAs(again.page, a)).toBe(bob);
    expect(again.failures).toEqual([]);
    await again.page.context().close();
  });
});

describe('the example page’s follow-login with the account in safe mode', () => {
  let shared: ServersOnOneDatabase;
  let server: ServerProcess;

  beforeAll(async () => {
    shared = await startServersOnOneDatabase({
      count: 1,
      apps: DEMO_APPS.map((app) => (app.appid === SAFE.appid ? SAFE : app)),
      env: {
        WECHAT_OA_APPID: SAFE.appid,
        WECHAT_OA_SECRET: SAFE.secret,
        WECHAT_OA_TOKEN: SAFE.token,
        WECHAT_OA_AES_KEY: SAFE.aesKey,
      },
    });
    [server] = shared.servers as [ServerProcess];
  }, 180_000);
  afterAll(async () => {
    await shared?.stop();
  });

  it('receives the encrypted follow, answers with an encrypted reply, and signs the page in', async () => {
    const { page, reply, failures } = await followToLogIn(server, 'alice', 'safe-mode');
    // The emulator checked the reply's MsgSignature and decrypted it for the appid.
    expect(reply).toBe('登录成功');
    const [push] = (
      (await (await fetch(`${shared.emulator.url}/__emulator/pushes`)).json()) as {
        pushes: { mode: string; event: string }[];
      }
    ).pushes;
    expect(push).toMatchObject({ mode: 'safe', event: 'subscribe' });
    expect(await miniProgramUser(shared, server, 'alice')).toBe(await signedInAs(page, server));
    expect(failures).toEqual([]);
    await page.context().close();
  });
});
