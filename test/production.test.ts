import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestServer, type TestServer } from './support/server.js';

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
    expect(body.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
  });

  it('serves the production landing page, not Sandbox', async () => {
    const page = await (await fetch(`${t.url}/graphql`, { headers: { accept: 'text/html' } })).text();
    expect(page).toContain('<html');
    expect(page).not.toContain('EmbeddedSandbox');
  });

  it('does not serve the example web page', async () => {
    expect((await fetch(`${t.url}/examples/web/`)).status).toBe(404);
  });

  it('allows only the listed web redirect URIs', async () => {
    const listed = await t.graphql(
      '{ wechatWebAuthorizeUrl(redirectUri: "https://app.example/wechat/callback") { url } }',
    );
    expect(listed.body.errors).toBeUndefined();
    const other = await t.graphql('{ wechatWebAuthorizeUrl(redirectUri: "https://a.example/cb") { url } }');
    expect(other.body.errors?.[0]?.extensions?.code).toBe('INVALID_STATE');
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
      expect(body.errors?.[0]?.extensions?.code).toBe('INVALID_STATE');
    } finally {
      await t.stop();
    }
  });
});
