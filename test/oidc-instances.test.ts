import { createServer, request as httpRequest, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { emulatorControl } from './support/emulator.js';
import { startInstances, type Instances } from './support/instances.js';
import { relyingParty, signInWithWebQr, TestBrowser } from './support/oidc-browser.js';
import { freePort } from './support/process.js';
import { APPS } from './support/world.js';

/**
 * Two server processes on one database behind a round-robin balancer: each request of the flow
 * goes to the other instance than the one before, so no step can rely on an instance's memory.
 */
const RP = 'https://rp.example';
const CLIENTS = [
  {
    clientId: 'balanced',
    clientSecret: 'balanced-secret-0123456789abcdefghij',
    redirectUris: [`${RP}/callback`],
    name: 'Balanced App',
    firstParty: true,
  },
];

let instances: Instances;
let balancer: Server;
let issuer: string;
const servedBy: number[] = [];

beforeAll(async () => {
  const port = await freePort();
  issuer = `http://127.0.0.1:${port}`;
  instances = await startInstances({ PUBLIC_URL: issuer, OIDC_CLIENTS: JSON.stringify(CLIENTS) });
  const targets = instances.servers.map((server) => new URL(server.url));
  let next = 0;
  balancer = createServer((incoming, outgoing) => {
    const index = next++ % targets.length;
    servedBy.push(index);
    const target = targets[index]!;
    const forwarded = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        method: incoming.method,
        path: incoming.url,
        headers: incoming.headers,
      },
      (answer) => {
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
      },
    );
    forwarded.on('error', () => outgoing.destroy());
    incoming.pipe(forwarded);
  });
  await new Promise<void>((resolve) => balancer.listen(port, '127.0.0.1', resolve));
}, 180_000);

afterAll(async () => {
  await new Promise((resolve) => balancer?.close(resolve));
  await instances?.stop();
});

describe('OpenID Connect provider on two instances', () => {
  it('serves each step on either instance: sign-in, code, refresh, userinfo', async () => {
    const rp = await relyingParty(issuer, { ...CLIENTS[0]!, redirectUri: `${RP}/callback` });
    const browser = new TestBrowser();
    const request = await rp.start({ scope: 'openid profile offline_access', prompt: 'consent' });
    const interaction = await browser.redirected(request.url);
    const callback = await signInWithWebQr(
      browser,
      interaction,
      emulatorControl(instances.emulator.url),
      APPS.web.appid,
      'balanced-alice',
    );
    expect(callback.startsWith(`${RP}/callback?`)).toBe(true);
    const tokens = await rp.finish(callback, request);
    const sub = tokens.claims()!.sub;
    let refresh = tokens.refresh_token!;
    for (let i = 0; i < 3; i++) {
      const refreshed = await oidc.refreshTokenGrant(rp.config, refresh);
      expect(refreshed.claims()!.sub).toBe(sub);
      expect((await oidc.fetchUserInfo(rp.config, refreshed.access_token, sub)).sub).toBe(sub);
      refresh = refreshed.refresh_token!;
    }
    // Both instances answered, in turn.
    expect(new Set(servedBy)).toEqual(new Set([0, 1]));
    expect(servedBy.length).toBeGreaterThan(10);
  });
});
