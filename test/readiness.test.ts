import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { eventually } from './support/eventually.js';
import { startTestServer, type TestServer } from './support/server.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';

async function get(url: string): Promise<{ status: number; body: unknown; ms: number }> {
  const started = performance.now();
  const response = await fetch(url);
  return { status: response.status, body: await response.json(), ms: performance.now() - started };
}

/** A test server whose database is reached through a proxy the tests can cut, for one describe. */
function serverThroughProxy(env: Record<string, string> = {}): { t: TestServer; proxy: TcpProxy } {
  const handle = {} as { t: TestServer; proxy: TcpProxy };
  beforeAll(async () => {
    handle.t = await startTestServer(env, {
      through: async (url) => {
        handle.proxy = await startTcpProxy(url);
        return handle.proxy.url;
      },
    });
  });
  afterAll(async () => {
    handle.proxy?.restore();
    await handle.t?.stop();
    await handle.proxy?.close();
  });
  return handle;
}

describe('/livez and /readyz while the database comes and goes', () => {
  const s = serverThroughProxy();

  it('answers 200 on all three while the database answers', async () => {
    for (const path of ['/livez', '/readyz', '/healthz']) {
      expect(await get(`${s.t.url}${path}`)).toMatchObject({ status: 200, body: { status: 'ok' } });
    }
  });

  it('refused connections: /readyz and /healthz 503, /livez 200; back to 200 once the database is back', async () => {
    s.proxy.refuse();
    await eventually(async () => {
      expect(await get(`${s.t.url}/readyz`)).toMatchObject({ status: 503, body: { status: 'unavailable' } });
    });
    expect(await get(`${s.t.url}/healthz`)).toMatchObject({ status: 503, body: { status: 'unavailable' } });
    expect(await get(`${s.t.url}/livez`)).toMatchObject({ status: 200, body: { status: 'ok' } });

    s.proxy.restore();
    await eventually(async () => {
      expect(await get(`${s.t.url}/readyz`)).toMatchObject({ status: 200, body: { status: 'ok' } });
    });
  });

  it('a silent database: /readyz answers 503 within its timeout, and probes share one query', async () => {
    s.proxy.blackhole();
    const before = s.proxy.accepted;
    const probes = await Promise.all(Array.from({ length: 20 }, () => get(`${s.t.url}/readyz`)));
    for (const probe of probes) {
      expect(probe).toMatchObject({ status: 503, body: { status: 'unavailable' } });
      expect(probe.ms).toBeLessThan(4000);
    }
    // One query in flight for all twenty: at most the one connection it opened (none if pooled).
    expect(s.proxy.accepted - before).toBeLessThanOrEqual(1);
    expect(await get(`${s.t.url}/livez`)).toMatchObject({ status: 200 });

    s.proxy.restore();
    await eventually(async () => {
      expect(await get(`${s.t.url}/readyz`)).toMatchObject({ status: 200, body: { status: 'ok' } });
    });
  }, 30_000);
});

describe('the JWKS while the database is away', () => {
  const s = serverThroughProxy({ SIGNING_KEY_REFRESH_SECONDS: '1' });

  it('answers at once with the keys it has, not to be cached, and a flood of requests retries the database at most once a second', async () => {
    const jwks = async () => {
      const response = await fetch(`${s.t.url}/.well-known/jwks.json`);
      return {
        status: response.status,
        body: await response.text(),
        cache: response.headers.get('cache-control'),
      };
    };
    const before = await jwks();
    expect(before.status).toBe(200);
    s.proxy.refuse();
    // Overdue: the last reload is older than a refresh interval and its grace (1 s + 1 s).
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const attempts = s.proxy.accepted;
    const started = Date.now();
    // The last keys read, at once, and not to be cached: the reading is older than a refresh interval.
    for (let i = 0; i < 100; i++) {
      expect(await jwks()).toEqual({ status: 200, body: before.body, cache: 'public, max-age=0' });
    }
    const seconds = (Date.now() - started) / 1000;
    // One retry a second from the JWKS, one from the periodic reload, and some slack.
    expect(s.proxy.accepted - attempts).toBeLessThanOrEqual(2 * Math.ceil(seconds) + 4);
    expect(await get(`${s.t.url}/livez`)).toMatchObject({ status: 200 });

    s.proxy.restore();
  }, 30_000);
});
