/// <reference lib="dom" />
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Browser, Page } from 'playwright-core';
import type { ServerProcess } from '../test/support/process.js';
import { launchChromium } from './support/chromium.js';
import { startAsNpmStart, type NpmStartServer } from './support/npm-start.js';

const ARTIFACTS = path.resolve('test-artifacts');
const MINI_APPID = 'wxdemomini000000001';

let started: NpmStartServer;
let server: ServerProcess;
let emulatorUrl: string;
let browser: Browser;

beforeAll(async () => {
  // npm start's defaults; info level for the start banner.
  started = await startAsNpmStart({ LOG_LEVEL: 'info' });
  ({ server, emulatorUrl } = started);
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await started?.stop();
});

interface Offline {
  page: Page;
  /** Requests to any other origin than the server's: each was aborted. */
  elsewhere: string[];
  /** Requests to the server's origin, let through. */
  here: string[];
  /** Content-Security-Policy violations and uncaught errors in the page. */
  problems: string[];
}

/**
 * A fresh browser context whose network reaches the server's origin and nothing else, as for a
 * developer whose network reaches no CDN: every other request is aborted and recorded.
 */
async function offlinePage(): Promise<Offline> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const origin = new URL(server.url).origin;
  const result: Offline = { page, elsewhere: [], here: [], problems: [] };
  await page.route('**/*', async (route) => {
    const url = route.request().url();
    if (new URL(url).origin === origin) {
      result.here.push(url);
      return route.continue();
    }
    result.elsewhere.push(url);
    return route.abort('internetdisconnected');
  });
  page.on('pageerror', (error) => result.problems.push(`error: ${error.message}`));
  page.on('console', (message) => {
    if (message.text().startsWith('CSP violation')) result.problems.push(message.text());
  });
  await page.addInitScript(() =>
    document.addEventListener('securitypolicyviolation', (event) =>
      // eslint-disable-next-line no-console -- the page's console is how the test hears of it
      console.log(`CSP violation: ${event.violatedDirective} ${event.blockedURI}`),
    ),
  );
  return result;
}

/**
 * The lines a CodeMirror editor of GraphiQL shows, as text: CodeMirror draws an empty line as a
 * zero-width space, and some spaces as no-break spaces.
 */
async function editorText(page: Page, editor: string): Promise<string> {
  const lines = await page.locator(`${editor} .CodeMirror-line`).allTextContents();
  return lines.map((line) => line.replace(/\u200b/g, '').replace(/\u00a0/g, ' ')).join('\n');
}

/** The result pane's text, as JSON, once it holds `key` (or errors). */
async function resultWith(page: Page, key: string): Promise<Record<string, unknown>> {
  await page
    .locator('.result-window .CodeMirror-line', { hasText: new RegExp(`"(${key}|errors)"`) })
    .waitFor();
  const text = await editorText(page, '.result-window');
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new Error(`the result pane holds no JSON:\n${text}`);
  }
}

/** Replaces the text of a GraphiQL editor as a person would: click, select all, type. */
async function typeInto(page: Page, editor: string, text: string): Promise<void> {
  await page.locator(`${editor} .CodeMirror`).click();
  await page.keyboard.press('Control+A');
  await page.keyboard.insertText(text);
}

async function mintMiniCode(user: string): Promise<string> {
  const response = await fetch(`${emulatorUrl}/__emulator/codes`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ appid: MINI_APPID, user }),
  });
  return ((await response.json()) as { code: string }).code;
}

describe('the local explorer (GraphiQL), in Chromium that reaches nothing but the server', () => {
  it('is named in the start banner', () => {
    expect(server.output()).toContain(`offline, GraphiQL at ${server.url}/graphiql`);
  });

  it('runs a mini program login, then `me` with its access token, as the same user', async () => {
    const { page, elsewhere, here, problems } = await offlinePage();
    const code = await mintMiniCode('alice');
    const login = `mutation { wechatMiniLogin(input: { code: "${code}" }) { accessToken user { id } } }`;
    await page.goto(`${server.url}/graphiql?query=${encodeURIComponent(login)}`);

    await page.getByRole('button', { name: /Execute query/ }).click();
    const loggedIn = (await resultWith(page, 'wechatMiniLogin')) as {
      data: { wechatMiniLogin: { accessToken: string; user: { id: string } } };
    };
    const { accessToken, user } = loggedIn.data.wechatMiniLogin;
    expect(accessToken).toMatch(/^eyJ/);
    expect(user.id).toMatch(/^[0-9a-f-]{36}$/);

    await page.getByRole('button', { name: 'Headers' }).click();
    await typeInto(
      page,
      '.graphiql-editor-tool .graphiql-editor:not(.hidden)',
      JSON.stringify({ Authorization: `Bearer ${accessToken}` }),
    );
    await typeInto(page, '.graphiql-query-editor', '{ me { id } }');
    await page.getByRole('button', { name: /Execute query/ }).click();
    const me = (await resultWith(page, 'me')) as { data: { me: { id: string } | null } };
    expect(me.data.me).toEqual({ id: user.id });

    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'local-explorer.png') });
    // Nothing was asked of any other origin, nothing was refused by the CSP, nothing failed.
    expect(elsewhere).toEqual([]);
    expect(problems).toEqual([]);
    const paths = here.map((url) => new URL(url).pathname);
    expect(paths).toEqual(
      expect.arrayContaining([
        '/graphiql',
        '/graphiql/assets/graphiql@3.9.0/graphiql.min.js',
        '/graphiql/assets/graphiql@3.9.0/graphiql.min.css',
        '/graphiql/assets/start.js',
        '/graphql',
      ]),
    );
    await page.context().close();
  });

  it('starts a first visit with the login and `me`, and the emulator to mint a code with', async () => {
    const { page, elsewhere, problems } = await offlinePage();
    await page.goto(`${server.url}/graphiql`);
    await page
      .locator('.graphiql-query-editor .CodeMirror-line', { hasText: 'mutation MiniLogin' })
      .waitFor();
    // The lines on screen (CodeMirror draws no others): the first steps and the login.
    const text = await editorText(page, '.graphiql-query-editor');
    expect(text).toContain(`curl -s -XPOST ${emulatorUrl}/__emulator/codes`);
    expect(text).toContain(`"appid":"${MINI_APPID}"`);
    expect(text).toContain('mutation MiniLogin {\n  wechatMiniLogin(input: { code: "CODE" }) {');
    // The schema arrived by introspection: the docs explorer knows `me`.
    await page.getByRole('button', { name: 'Show Documentation Explorer' }).click();
    await page.getByRole('link', { name: 'Query' }).click();
    await page.locator('.graphiql-doc-explorer').getByText('me', { exact: true }).waitFor();
    // A dialog: its components add <style> elements (the CSP's 'unsafe-inline' for styles).
    await page.getByRole('button', { name: 'Open settings dialog' }).click();
    await page.getByRole('dialog').getByText('Clear storage').waitFor();
    await page.keyboard.press('Escape');
    expect(elsewhere).toEqual([]);
    expect(problems).toEqual([]);
    await page.context().close();
  });

  it('is one click away from the Sandbox landing page when Apollo’s CDN cannot be reached', async () => {
    const { page, elsewhere } = await offlinePage();
    await page.goto(`${server.url}/graphql`);
    await page.getByText('Apollo Sandbox cannot be loaded').waitFor();
    // Sandbox itself tried Apollo's CDN, and got nothing.
    expect(elsewhere.some((url) => url.includes('apollographql.com'))).toBe(true);
    await page.getByRole('link', { name: 'GraphiQL at /graphiql' }).click();
    await page.waitForURL(`${server.url}/graphiql`);
    await page.getByRole('button', { name: /Execute query/ }).waitFor();
    await page.context().close();
  });
});
