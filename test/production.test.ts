import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createTestDatabase } from './support/database.js';
import { freePort, spawnServer } from './support/process.js';
import { startTestServer, type TestServer } from './support/server.js';
import { errorCode } from './support/graphql.js';

describe('NODE_ENV=production', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({
      NODE_ENV: 'production',
      AUTH_SECRET: 'p'.repeat(40),
      WECHAT_MINI_APPID: 'wxprod',
      WECHAT_MINI_SECRET: 'prod-secret',
      WECHAT_WEB_APPID: 'wxprodweb',
      WECHAT_WEB_SECRET: 'prod-web-secret',
      WECHAT_WEB_REDIRECT_URIS: 'https://app.example/wechat/callback',
    });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('turns introspection off', async () => {
    const { body } = await t.graphql('{ __schema { queryType { name } } }');
    expect(errorCode(body)).toBe('GRAPHQL_VALIDATION_FAILED');
  });

  it('answers a browser with one plain page that loads nothing from elsewhere', async () => {
    const response = await fetch(`${t.url}/graphql`, { headers: { accept: 'text/html' } });
    const page = await response.text();
    expect(response.status).toBe(200);
    expect(page).toContain('This is a GraphQL API');
    expect(page).not.toMatch(/<script|<link|https?:\/\//);
    // And says so: helmet's strict default policy, nothing from Apollo's CDN.
    const csp = response.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('apollographql.com');
  });

  it('allows no browser origin by default, not even localhost', async () => {
    const preflight = await fetch(`${t.url}/graphql`, {
      method: 'OPTIONS',
      headers: { origin: 'http://localhost:5173', 'access-control-request-method': 'POST' },
    });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
    expect(t.server.config.http.corsOrigins).toEqual([]);
  });

  it('suggests nothing about the schema in its errors', async () => {
    const { body } = await t.graphql('{ mee { id } }');
    expect(errorCode(body)).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(body.errors?.[0]?.message).not.toMatch(/Did you mean/);
  });

  it('does not serve the example web page', async () => {
    expect((await fetch(`${t.url}/examples/web/`)).status).toBe(404);
  });

  it('does not serve the local explorer (GraphiQL) nor its assets', async () => {
    for (const url of ['/graphiql', '/graphiql/', '/graphiql/assets/start.js', '/graphiql/assets/page.css']) {
      expect((await fetch(`${t.url}${url}`)).status).toBe(404);
    }
  });

  it('allows only the listed web redirect URIs', async () => {
    const listed = await t.graphql(
      '{ wechatWebAuthorizeUrl(redirectUri: "https://app.example/wechat/callback") { url } }',
    );
    expect(listed.body.errors).toBeUndefined();
    const other = await t.graphql('{ wechatWebAuthorizeUrl(redirectUri: "https://a.example/cb") { url } }');
    expect(errorCode(other.body)).toBe('INVALID_STATE');
  });

  it('starts no emulator and points at real WeChat', () => {
    expect(t.server.emulator).toBeUndefined();
    expect(t.server.config.wechat.apiBaseUrl).toBe('https://api.weixin.qq.com');
  });
});

describe('NODE_ENV=production without a redirect allowlist', () => {
  it('allows no web redirect URI at all', async () => {
    const t = await startTestServer({
      NODE_ENV: 'production',
      AUTH_SECRET: 'p'.repeat(40),
      WECHAT_WEB_APPID: 'wxprodweb',
      WECHAT_WEB_SECRET: 'prod-web-secret',
    });
    try {
      const { body } = await t.graphql(
        '{ wechatWebAuthorizeUrl(redirectUri: "https://app.example/cb") { url } }',
      );
      expect(errorCode(body)).toBe('INVALID_STATE');
    } finally {
      await t.stop();
    }
  });
});

describe('the WeChat emulator in a production process', () => {
  /** The src/ files a started server process loaded, relative to the repository. */
  async function modulesLoadedBy(env: Record<string, string>): Promise<string[]> {
    const dir = await mkdtemp(path.join(tmpdir(), 'module-log-'));
    const log = path.join(dir, 'modules.txt');
    const db = await createTestDatabase();
    try {
      const server = await spawnServer(
        { DATABASE_URL: db.url, DATABASE_POOL_MAX: '1', LOG_LEVEL: 'warn', MODULE_LOG: log, ...env },
        await freePort(),
        ['--import', './test/support/module-log.mjs'],
      );
      server.child.kill('SIGTERM');
      expect(await server.exited).toBe(0);
      const root = pathToFileURL(process.cwd()).href;
      return (await readFile(log, 'utf8'))
        .split('\n')
        .filter((url) => url.startsWith(`${root}/src/`))
        .map((url) => url.slice(root.length + 1));
    } finally {
      await db.drop();
      await rm(dir, { recursive: true, force: true });
    }
  }

  it('is never loaded: not one module of src/emulator/', async () => {
    const loaded = await modulesLoadedBy({
      NODE_ENV: 'production',
      AUTH_SECRET: 'p'.repeat(40),
      WECHAT_MINI_APPID: 'wxprod',
      WECHAT_MINI_SECRET: 'prod-secret',
    });
    expect(loaded).toContain('src/server/app.ts');
    expect(loaded.filter((file) => file.startsWith('src/emulator/'))).toEqual([]);
  });

  it('is loaded in development when it is on (so the check above can see it)', async () => {
    const loaded = await modulesLoadedBy({ WECHAT_EMULATOR: 'on', EMULATOR_PORT: String(await freePort()) });
    expect(loaded).toContain('src/emulator/emulator.ts');
  });
});
