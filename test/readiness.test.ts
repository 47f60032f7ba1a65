import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { eventually } from './support/eventually.js';
import { startTestServer, type TestServer } from './support/server.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';

async function get(url: string): Promise<{ status: number; body: unknown; ms: number }> {
  const started = performance.now();
  const response = await fetch(url);
  return { status: response.status, body: await response.json(), ms: performance.now() - started };
}

describe('/livez and /readyz while the database comes and goes', () => {
  let proxy: TcpProxy;
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer(
      {},
      {
        through: async (url) => {
          proxy = await startTcpProxy(url);
          return proxy.url;
        },
      },
    );
  });
  afterAll(async () => {
    proxy?.restore();
    await t?.stop();
    await proxy?.close();
  });

  it('answers 200 on all three while the database answers', async () => {
    for (const path of ['/livez', '/readyz', '/healthz']) {
      expect(await get(`${t.url}${path}`)).toMatchObject({ status: 200, body: { status: 'ok' } });
    }
  });

  it('refused connections: /readyz and /healthz 503, /livez 200; back to 200 once the database is back', async () => {
    proxy.refuse();
    await eventually(async () => {
      expect(await get(`${t.url}/readyz`)).toMatchObject({ status: 503, body: { status: 'unavailable' } });
    });
    expect(await get(`${t.url}/healthz`)).toMatchObject({ status: 503, body: { status: 'unavailable' } });
    expect(await get(`${t.url}/livez`)).toMatchObject({ status: 200, body: { status: 'ok' } });

    proxy.restore();
    await eventually(async () => {
      expect(await get(`${t.url}/readyz`)).toMatchObject({ status: 200, body: { status: 'ok' } });
    });
  });

  it('a silent database: /readyz answers 503 within its timeout, and probes share one query', async () => {
    proxy.blackhole();
    const before = proxy.accepted;
    const probes = await Promise.all(Array.from({ length: 20 }, () => get(`${t.url}/readyz`)));
    for (const probe of probes) {
      expect(probe).toMatchObject({ status: 503, body: { status: 'unavailable' } });
      expect(probe.ms).toBeLessThan(4000);
    }
    // One query in flight for all twenty: at most the one connection it opened (none if pooled).
    expect(proxy.accepted - before).toBeLessThanOrEqual(1);
    expect(await get(`${t.url}/livez`)).toMatchObject({ status: 200 });

    proxy.restore();
    await eventually(async () => {
      expect(await get(`${t.url}/readyz`)).toMatchObject({ status: 200, body: { status: 'ok' } });
    });
  }, 30_000);
});
