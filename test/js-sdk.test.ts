import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { jsSdkSignature } from '../src/logins/js-sdk.js';
import { clientOf, type Client } from './support/client.js';
import { errorCode } from './support/graphql.js';
import { clientsOf, startInstances, type Instances } from './support/instances.js';
import { expectNoSecretsIn } from './support/secrets.js';
import { APPS, startWorld, type World } from './support/world.js';

const CONFIG = `query ($url: String!, $appId: String) {
  wechatJsSdkConfig(url: $url, appId: $appId) { appId timestamp nonceStr signature }
}`;

type Answer = {
  wechatJsSdkConfig: { appId: string; timestamp: number; nonceStr: string; signature: string };
};

/** The official account's jsapi_ticket as WeChat (the emulator) holds it now. */
async function ticketAt(emulatorUrl: string): Promise<string> {
  const { access_token } = (await (
    await fetch(`${emulatorUrl}/cgi-bin/stable_token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        grant_type: 'client_credential',
        appid: APPS.official.appid,
        secret: APPS.official.secret,
      }),
    })
  ).json()) as { access_token: string };
  const url = `${emulatorUrl}/cgi-bin/ticket/getticket?access_token=${access_token}&type=jsapi`;
  return ((await (await fetch(url)).json()) as { ticket: string }).ticket;
}

describe('the JS-SDK signature', () => {
  it('is WeChat’s for its own example (JS-SDK docs, appendix 1)', () => {
    expect(
      jsSdkSignature(
        'sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg',
        'Wm3WZYTPz0wzccnW',
        1414587457,
        'http://mp.weixin.qq.com?params=value',
      ),
    ).toBe('0f9de62fce790f9a083d5c99e95740ceb90c27ed');
  });
});

describe('wechatJsSdkConfig', () => {
  let w: World;
  let c: Client;
  const responses: string[] = [];
  beforeAll(async () => {
    w = await startWorld({ env: { WECHAT_OA_REDIRECT_URIS: 'https://site.example/wechat/callback' } });
    c = clientOf(w, { onBody: (body) => responses.push(JSON.stringify(body)) });
  });
  afterAll(async () => {
    await w?.stop();
  });

  it('signs the page’s URL without its fragment with the account’s jsapi_ticket', async () => {
    const page = 'https://site.example/shop/item?id=7&from=timeline';
    const before = Math.floor(Date.now() / 1000);
    const answer = await c.gql<Answer>(CONFIG, { url: `${page}#section-2` });
    expect(answer.errors).toBeUndefined();
    const config = answer.data!.wechatJsSdkConfig;
    expect(config.appId).toBe(APPS.official.appid);
    expect(config.timestamp).toBeGreaterThanOrEqual(before);
    expect(config.timestamp).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
    expect(config.nonceStr).toMatch(/^[A-Za-z0-9]{16}$/);
    const ticket = await ticketAt(w.emulator.url);
    const expected = createHash('sha1')
      .update(`jsapi_ticket=${ticket}&noncestr=${config.nonceStr}&timestamp=${config.timestamp}&url=${page}`)
      .digest('hex');
    expect(config.signature).toBe(expected);
    // Every answer a new nonce; the ticket comes from the cache.
    const again = (await c.gql<Answer>(CONFIG, { url: page })).data!.wechatJsSdkConfig;
    expect(again.nonceStr).not.toBe(config.nonceStr);
    expect(await c.sql('select count(*)::int as n from jsapi_ticket')).toEqual([{ n: 1 }]);
    const [row] = await c.sql<{ ticket: string }>('select ticket from jsapi_ticket');
    expect(row!.ticket).not.toContain(ticket);
    expectNoSecretsIn(w, responses);
  });

  it('refuses a URL that is not an http(s) page, or not one of the account’s origins', async () => {
    for (const url of [
      '',
      'not a url',
      'ftp://site.example/x',
      `https://site.example/${'a'.repeat(3000)}`,
      '#x',
    ]) {
      const answer = await c.gql(CONFIG, { url });
      expect([url.slice(0, 20), errorCode(answer)]).toEqual([url.slice(0, 20), 'BAD_USER_INPUT']);
      expect(answer.errors![0]!.extensions).toMatchObject({ field: 'url' });
    }
    const elsewhere = await c.gql(CONFIG, { url: 'https://evil.example/page' });
    expect(errorCode(elsewhere)).toBe('BAD_USER_INPUT');
    expect(errorCode(await c.gql(CONFIG, { url: 'https://site.example/page', appId: APPS.mini.appid }))).toBe(
      'BAD_USER_INPUT',
    );
  });
});

describe('wechatJsSdkConfig on two instances', () => {
  let instances: Instances;
  let clients: Client[];
  beforeAll(async () => {
    instances = await startInstances({ RATE_LIMIT: 'off' });
    clients = clientsOf(instances);
  }, 120_000);
  afterAll(async () => {
    await instances?.stop();
  });

  it('costs one getticket for 40 concurrent calls', async () => {
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        clients[i % 2]!.gql<Answer>(CONFIG, { url: `https://site.example/page/${i}` }),
      ),
    );
    expect(answers.every((a) => a.errors === undefined)).toBe(true);
    const requests = (await (await fetch(`${instances.emulator.url}/__emulator/requests`)).json()) as {
      requests: { path: string }[];
    };
    expect(requests.requests.filter((r) => r.path === '/cgi-bin/ticket/getticket')).toHaveLength(1);
    // Both instances sign with the same ticket.
    const ticket = await ticketAt(instances.emulator.url);
    for (const [i, answer] of answers.entries()) {
      const { nonceStr, timestamp, signature } = answer.data!.wechatJsSdkConfig;
      expect(signature).toBe(jsSdkSignature(ticket, nonceStr, timestamp, `https://site.example/page/${i}`));
    }
  });
});
