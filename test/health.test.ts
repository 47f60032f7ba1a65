import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestServer, type TestServer } from './support/server.js';
import { errorCode } from './support/graphql.js';

describe('GET /healthz', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('answers 200 {"status":"ok"} when the database answers', async () => {
    const response = await fetch(`${t.url}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it('serves GraphQL at /graphql: `me` is null without a token', async () => {
    const { status, body } = await t.graphql('{ me { id } }');
    expect(status).toBe(200);
    expect(body).toEqual({ data: { me: null } });
  });

  it('serves Apollo Sandbox to a browser in development', async () => {
    const page = await (await fetch(`${t.url}/graphql`, { headers: { accept: 'text/html' } })).text();
    expect(page).toContain('EmbeddedSandbox');
  });

  it('answers a GraphQL syntax error with GRAPHQL_PARSE_FAILED and no stack trace', async () => {
    const { status, body } = await t.graphql('{ me { id ');
    expect(status).toBe(400);
    expect(errorCode(body)).toBe('GRAPHQL_PARSE_FAILED');
    expect(JSON.stringify(body)).not.toMatch(/stacktrace|\bat .*\.(js|ts):\d+/);
  });

  it('answers 503 when the database is gone, and keeps serving', async () => {
    await t.db.kill();
    const response = await fetch(`${t.url}/healthz`);
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({ status: 'unavailable' });
    const again = await fetch(`${t.url}/healthz`);
    expect(again.status).toBe(503);
  });
});
