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

  it('allows no web redirect URI unless listed', async () => {
    const { body } = await t.graphql(
      '{ wechatWebAuthorizeUrl(redirectUri: "https://a.example/cb") { url } }',
    );
    expect(body.errors?.[0]?.extensions?.code).toBe('PLATFORM_NOT_CONFIGURED');
  });
});
