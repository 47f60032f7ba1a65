/// <reference lib="dom" />
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { ServerProcess } from '../test/support/process.js';
import { launchChromium } from './support/chromium.js';
import { startAsNpmStart, type NpmStartServer } from './support/npm-start.js';

/** WeChat's own browser on Android, as it names itself: the example page checks MicroMessenger. */
const WECHAT_USER_AGENT =
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) ' +
  'Chrome/120.0.0.0 Mobile Safari/537.36 MicroMessenger/8.0.50.2701(0x28003237) NetType/WIFI Language/zh_CN';

let started: NpmStartServer;
let server: ServerProcess;
let emulatorUrl: string;
let browser: Browser;

beforeAll(async () => {
  // npm start's defaults: embedded database, built-in emulator with its demo official account.
  started = await startAsNpmStart({}, { buildExample: true });
  ({ server, emulatorUrl } = started);
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await started?.stop();
});

/** Every page the browser was shown (main frame), in order. */
function watchNavigations(page: Page): string[] {
  const seen: string[] = [];
  page.on('framenavigated', (frame) => {
    if (frame === page.mainFrame()) seen.push(frame.url());
  });
  return seen;
}

async function openInWeChat(context: BrowserContext): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${server.url}/examples/web/`);
  return page;
}

describe('the example page inside WeChat’s browser (official account)', () => {
  let context: BrowserContext;
  let userId: string;

  beforeAll(async () => {
    context = await browser.newContext({ userAgent: WECHAT_USER_AGENT });
  });
  afterAll(async () => {
    await context?.close();
  });

  it('asks for consent the first time (USERINFO) and signs the person in with their profile', async () => {
    const page = await openInWeChat(context);
    await page.getByRole('button', { name: 'Log in with WeChat' }).click();
    await page.getByRole('button', { name: 'Confirm login' }).waitFor();
    const consent = new URL(page.url());
    expect(`${consent.origin}${consent.pathname}`).toBe(`${emulatorUrl}/connect/oauth2/authorize`);
    expect(consent.searchParams.get('scope')).toBe('snsapi_userinfo');
    expect(consent.searchParams.get('appid')).toBe('wxdemoofficial00001');
    await page.getByLabel(/Alice/).check();
    await page.getByRole('button', { name: 'Confirm login' }).click();
    await page.locator('#nickname', { hasText: 'Alice' }).waitFor();
    await page.locator('#status', { hasText: 'Welcome! Your account was created.' }).waitFor();
    expect(await page.locator('#methods td').first().textContent()).toBe('WECHAT_OFFICIAL_ACCOUNT');
    // USERINFO brings the unionId: the fourth column is not "—".
    expect(await page.locator('#methods td').nth(3).textContent()).toMatch(/^o/);
    userId = (await page.locator('#user-id').textContent())!;
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.locator('#status', { hasText: 'Logged out.' }).waitFor();
    await page.close();
  });

  it('signs the same person in silently afterwards (BASE): no WeChat page is shown', async () => {
    const page = await openInWeChat(context);
    const shown = watchNavigations(page);
    const authorize = page.waitForResponse((r) => r.url().includes('/connect/oauth2/authorize'));
    await page.getByRole('button', { name: 'Log in with WeChat' }).click();
    const redirect = await authorize;
    expect(new URL(redirect.url()).searchParams.get('scope')).toBe('snsapi_base');
    expect(redirect.status()).toBe(302);
    await page.locator('#status', { hasText: 'Welcome back!' }).waitFor();
    expect(await page.locator('#user-id').textContent()).toBe(userId);
    expect(shown.filter((url) => url.startsWith(emulatorUrl))).toEqual([]);
    await page.close();
  });

  it('explains a snapshot-mode page instead of signing a virtual account in', async () => {
    const fresh = await browser.newContext({ userAgent: WECHAT_USER_AGENT });
    try {
      const page = await openInWeChat(fresh);
      await page.getByRole('button', { name: 'Log in with WeChat' }).click();
      await page.getByRole('button', { name: 'Confirm login' }).waitFor();
      await page.getByLabel(/Bob/).check();
      await page.getByLabel(/snapshot mode/).check();
      await page.getByRole('button', { name: 'Confirm login' }).click();
      await page.locator('#status.error').waitFor();
      expect(await page.locator('#status').textContent()).toMatch(/WeChat preview: tap “使用完整服务”/);
      expect(await page.locator('#profile').isHidden()).toBe(true);
    } finally {
      await fresh.close();
    }
  });
});
