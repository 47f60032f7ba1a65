import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SecretBox } from '../src/crypto/secret-box.js';
import type { Emulator } from '../src/emulator/emulator.js';
import { clientOf, createClient } from './support/client.js';
import { emulatorControl } from './support/emulator.js';
import { startInstances, type Instances } from './support/instances.js';
import { errorCode, postGraphQL } from './support/graphql.js';
import type { ServerProcess } from './support/process.js';
import { APPS, AUTH_SECRET, startWorld, type World } from './support/world.js';

const BIND = `mutation ($code: String!) { bindWechatPhoneNumber(code: $code) { id phoneNumber } }`;
const PHONE_PATH = '/wxa/business/getuserphonenumber';

interface TokenRow {
  access_token: string;
  expires_in: number;
  force_refreshes: number;
}

/** The app's stable_token calls the emulator answered since it started: all, and forced ones. */
async function stableTokenCalls(
  world: Pick<World, 'emulator'>,
): Promise<{ calls: number; forceRefreshCalls: number }> {
  const { apps } = (await (await fetch(`${world.emulator.url}/__emulator/app-tokens`)).json()) as {
    apps: { appid: string; calls: number; forceRefreshCalls: number }[];
  };
  const counts = apps.find((a) => a.appid === APPS.mini.appid);
  return { calls: counts?.calls ?? 0, forceRefreshCalls: counts?.forceRefreshCalls ?? 0 };
}

/** Runs SQL on the world's database, as an operator (or another instance) would. */
async function query<T extends object>(world: World, text: string, values: unknown[] = []): Promise<T[]> {
  return clientOf(world).sql<T>(text, values);
}

async function tokenRow(world: World): Promise<TokenRow> {
  const [row] = await query<TokenRow>(
    world,
    `select access_token, extract(epoch from expires_at - now())::float8 as expires_in, force_refreshes
       from app_access_token where app_id = ?`,
    [APPS.mini.appid],
  );
  return row!;
}

/** Signs in `user` (mini program) and binds the number of a fresh phone code; the GraphQL answer. */
async function bindAs(world: World, user: string) {
  const login = await clientOf(world).login('mini', user);
  const { code } = await world.emulatorPost<{ code: string }>('/__emulator/phone-codes', {
    appid: APPS.mini.appid,
    user,
  });
  return world.gql<{ bindWechatPhoneNumber: { phoneNumber: string } }>(
    BIND,
    { code },
    { authorization: `Bearer ${login.data!.wechatMiniLogin.accessToken}` },
  );
}

/** Paths and outcomes of the WeChat calls since the emulator's log was last reset. */
async function calls(world: World): Promise<string[]> {
  const { requests } = (await (await fetch(`${world.emulator.url}/__emulator/requests`)).json()) as {
    requests: { path: string; outcome: string }[];
  };
  return requests.filter((r) => !r.path.startsWith('/sns/')).map((r) => `${r.path} ${r.outcome}`);
}

/** As if 31 s had passed since the last force refresh, on the database's clock and the emulator's. */
async function letForceSpacingPass(world: World): Promise<void> {
  await query(
    world,
    `update app_access_token set force_refreshed_at = force_refreshed_at - interval '31 seconds'`,
  );
  await world.emulatorPost('/__emulator/clock', { advanceMs: 31_000 });
}

let w: World;

beforeAll(async () => {
  w = await startWorld();
});
afterAll(async () => {
  await w?.stop();
});

describe('the app access token, in one process', () => {
  it('is fetched once for 30 concurrent phone binds, and stored sealed', async () => {
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => bindAs(w, `p${i}`)));
    for (const answer of answers) {
      expect(answer.errors).toBeUndefined();
      expect(answer.data?.bindWechatPhoneNumber.phoneNumber).toMatch(/^\+86\d{11}$/);
    }
    expect(await stableTokenCalls(w)).toEqual({ calls: 1, forceRefreshCalls: 0 });

    const rows = await query<Record<string, unknown>>(w, `select * from app_access_token`);
    expect(rows).toHaveLength(1);
    const row = await tokenRow(w);
    expect(row.access_token).toMatch(/^v1\./);
    const issued = w.emulator.issuedSecrets();
    for (const secret of issued) expect(JSON.stringify(rows)).not.toContain(secret);
    // It is the emulator's token, sealed with AUTH_SECRET, expiring when WeChat said.
    expect(issued).toContain(new SecretBox(AUTH_SECRET).open(row.access_token));
    expect(row.expires_in).toBeGreaterThan(7190);
    expect(row.expires_in).toBeLessThanOrEqual(7200);
  });

  it('is force-refreshed exactly once when WeChat refuses it mid-flight (40001), and the call succeeds', async () => {
    const before = await stableTokenCalls(w);
    const sealedBefore = (await tokenRow(w)).access_token;
    await w.emulatorPost('/__emulator/app-tokens/invalidate', { appid: APPS.mini.appid });

    const answer = await bindAs(w, 'qb');
    expect(answer.errors).toBeUndefined();
    expect(answer.data!.bindWechatPhoneNumber.phoneNumber).toMatch(/^\+86/);
    expect(await stableTokenCalls(w)).toEqual({
      calls: before.calls + 1,
      forceRefreshCalls: before.forceRefreshCalls + 1,
    });
    expect((await calls(w)).slice(-3)).toEqual([
      `${PHONE_PATH} errcode:40001`,
      '/cgi-bin/stable_token ok',
      `${PHONE_PATH} ok`,
    ]);
    const row = await tokenRow(w);
    expect(row.access_token).not.toBe(sealedBefore);
    // The next call uses the new token straight away.
    expect((await bindAs(w, 'qc')).errors).toBeUndefined();
    expect((await stableTokenCalls(w)).calls).toBe(before.calls + 1);
  });

  it('takes a token another instance already put in the row instead of refreshing it again', async () => {
    await letForceSpacingPass(w);
    expect((await bindAs(w, 'ra')).errors).toBeUndefined();
    const before = await stableTokenCalls(w);
    // Another instance, having met the refusal first, force-refreshed and stored the new token.
    const other = await w.emulatorPost<{ access_token: string }>('/cgi-bin/stable_token', {
      grant_type: 'client_credential',
      appid: APPS.mini.appid,
      secret: APPS.mini.secret,
      force_refresh: true,
    });
    await query(w, `update app_access_token set access_token = ?, fetched_at = now() where app_id = ?`, [
      new SecretBox(AUTH_SECRET).seal(other.access_token),
      APPS.mini.appid,
    ]);
    // This process still holds the old token in memory: WeChat refuses it, the row has the new one.
    expect((await bindAs(w, 'rb')).errors).toBeUndefined();
    expect(await stableTokenCalls(w)).toEqual({
      calls: before.calls + 1,
      forceRefreshCalls: before.forceRefreshCalls + 1,
    });
    expect((await calls(w)).slice(-2)).toEqual([`${PHONE_PATH} errcode:40001`, `${PHONE_PATH} ok`]);
  });

  it('answers a second refusal with the typed error, once per call, and never shows the token', async () => {
    await letForceSpacingPass(w);
    const before = await stableTokenCalls(w);
    const login = (await clientOf(w).login('mini', 'sa')).data!.wechatMiniLogin;
    const { code } = await w.emulatorPost<{ code: string }>('/__emulator/phone-codes', {
      appid: APPS.mini.appid,
      user: 'sa',
    });
    const bind = () =>
      w.gql<{ bindWechatPhoneNumber: { phoneNumber: string } }>(
        BIND,
        { code },
        { authorization: `Bearer ${login.accessToken}` },
      );

    await w.emulatorPost('/__emulator/faults', { path: PHONE_PATH, errcode: 40001, times: 2 });
    const invalid = await bind();
    expect(errorCode(invalid)).toBe('WECHAT_CONFIG_ERROR');
    expect(await stableTokenCalls(w)).toEqual({
      calls: before.calls + 1,
      forceRefreshCalls: before.forceRefreshCalls + 1,
    });

    // Refused again within 30 s of that force refresh: WeChat would ignore another, so a normal fetch.
    await w.emulatorPost('/__emulator/faults', { path: PHONE_PATH, errcode: 42001, times: 2 });
    const expired = await bind();
    expect(errorCode(expired)).toBe('WECHAT_UNAVAILABLE');
    expect(expired.errors![0]!.extensions!.wechatErrcode).toBe(42001);
    expect(await stableTokenCalls(w)).toEqual({
      calls: before.calls + 2,
      forceRefreshCalls: before.forceRefreshCalls + 1,
    });
    expect(w.t.log.text()).toContain('within 30 s of a force refresh: fetching it normally');

    // WeChat never looked at the phone code: it still works.
    expect((await bind()).data!.bindWechatPhoneNumber.phoneNumber).toMatch(/^\+86/);
    for (const answer of [invalid, expired]) {
      for (const secret of w.emulator.issuedSecrets()) expect(JSON.stringify(answer)).not.toContain(secret);
    }
  });

  it('spends at most 20 force refreshes a day per app: beyond, a normal fetch and a warning', async () => {
    await letForceSpacingPass(w);
    const today = `((now() at time zone 'UTC') + interval '8 hours')::date`;
    await query(w, `update app_access_token set force_refreshes = 20, force_refresh_day = ${today}`);
    const before = await stableTokenCalls(w);
    await w.emulatorPost('/__emulator/app-tokens/invalidate', { appid: APPS.mini.appid });
    expect((await bindAs(w, 'ta')).errors).toBeUndefined();
    expect(await stableTokenCalls(w)).toEqual({
      calls: before.calls + 1,
      forceRefreshCalls: before.forceRefreshCalls,
    });
    const warning = w.t.log.lines.find((line) => line.includes('force refreshes are spent'))!;
    expect(JSON.parse(warning)).toMatchObject({ level: 40, appId: APPS.mini.appid, forceRefreshesToday: 20 });

    // A new day (China Standard Time) counts from one again.
    await query(w, `update app_access_token set force_refresh_day = ${today} - 1`);
    await letForceSpacingPass(w);
    await w.emulatorPost('/__emulator/app-tokens/invalidate', { appid: APPS.mini.appid });
    expect((await bindAs(w, 'tb')).errors).toBeUndefined();
    expect((await stableTokenCalls(w)).forceRefreshCalls).toBe(before.forceRefreshCalls + 1);
    expect((await tokenRow(w)).force_refreshes).toBe(1);
  });

  it('replaces a stored token this AUTH_SECRET cannot open with a normal fetch', async () => {
    await query(w, `update app_access_token set access_token = 'v1.AAAA.AAAA.AAAA'`);
    const before = await stableTokenCalls(w);
    await w.emulatorPost('/__emulator/app-tokens/invalidate', { appid: APPS.mini.appid });
    expect((await bindAs(w, 'ua')).errors).toBeUndefined();
    expect(await stableTokenCalls(w)).toEqual({ ...before, calls: before.calls + 1 });
    expect(w.t.log.text()).toContain('the stored app access token cannot be opened');
    expect((await tokenRow(w)).access_token).not.toBe('v1.AAAA.AAAA.AAAA');
  });
});

describe('refreshing ahead of expiry', () => {
  it('fetches a stored token with less than 5 minutes left again before using it', async () => {
    const fresh = await startWorld();
    try {
      const first = await fresh.emulatorPost<{ access_token: string }>('/cgi-bin/stable_token', {
        grant_type: 'client_credential',
        appid: APPS.mini.appid,
        secret: APPS.mini.secret,
      });
      // 200 s left, for WeChat and in the row (stored an hour ago by another instance).
      await fresh.emulatorPost('/__emulator/clock', { advanceMs: 7000_000 });
      await query(
        fresh,
        `insert into app_access_token (app_id, access_token, expires_at, fetched_at, force_refreshes)
         values (?, ?, now() + interval '200 seconds', now() - interval '1 hour', 0)`,
        [APPS.mini.appid, new SecretBox(AUTH_SECRET).seal(first.access_token)],
      );
      expect((await bindAs(fresh, 'va')).errors).toBeUndefined();
      expect(await stableTokenCalls(fresh)).toEqual({ calls: 2, forceRefreshCalls: 0 });
      const row = await tokenRow(fresh);
      expect(new SecretBox(AUTH_SECRET).open(row.access_token)).not.toBe(first.access_token);
      expect(row.expires_in).toBeGreaterThan(7190);
      expect((await calls(fresh)).slice(-2)).toEqual(['/cgi-bin/stable_token ok', `${PHONE_PATH} ok`]);
    } finally {
      await fresh.stop();
    }
  });
});

describe('two instances on one database', () => {
  let emulator: Emulator;
  let servers: ServerProcess[] = [];
  let instances: Instances | undefined;
  const people = Array.from({ length: 40 }, (_, i) => `twin${i}`);
  /** Each person's access token, from a login on one instance (binds go to the other). */
  const tokens = new Map<string, string>();

  /** Every person binds a fresh phone code at once, half on each instance; every answer's number. */
  async function bindEveryone(): Promise<(string | undefined)[]> {
    const control = emulatorControl(emulator.url);
    return Promise.all(
      people.map(async (user, i) => {
        const { code } = await control.post<{ code: string }>('/__emulator/phone-codes', {
          appid: APPS.mini.appid,
          user,
        });
        const { body } = await postGraphQL<{ bindWechatPhoneNumber: { phoneNumber: string } }>(
          servers[i % 2]!.url,
          BIND,
          { code },
          { authorization: `Bearer ${tokens.get(user)!}` },
        );
        expect(body.errors).toBeUndefined();
        return body.data?.bindWechatPhoneNumber.phoneNumber;
      }),
    );
  }

  /** "WeChat app access token fetched" lines in both instances' logs. */
  const fetchLines = () =>
    servers.flatMap((s) => s.output().split('\n')).filter((line) => line.includes('token fetched')).length;

  beforeAll(async () => {
    instances = await startInstances({ PUBLIC_URL: 'https://login.example.com', LOG_LEVEL: 'info' });
    ({ emulator, servers } = instances);
    for (const [i, user] of people.entries()) {
      const body = await createClient({ url: servers[(i + 1) % 2]!.url, emulatorUrl: emulator.url }).login(
        'mini',
        user,
      );
      tokens.set(user, body.data!.wechatMiniLogin.accessToken);
    }
  }, 120_000);

  afterAll(async () => {
    await instances?.stop();
  });

  it('fetch one stable_token for 40 concurrent binds split across them, and one again once it expired', async () => {
    const first = await bindEveryone();
    expect(first.every((n) => /^\+86\d{11}$/.test(n ?? ''))).toBe(true);
    expect(await stableTokenCalls({ emulator })).toEqual({ calls: 1, forceRefreshCalls: 0 });

    // Both now hold the token in memory: more calls fetch nothing.
    await bindEveryone();
    expect(await stableTokenCalls({ emulator })).toEqual({ calls: 1, forceRefreshCalls: 0 });

    // WeChat's clock passes the token's expiry: both instances meet 42001 at once; one refreshes.
    await emulatorControl(emulator.url).post('/__emulator/clock', { advanceMs: 7200_000 + 60_000 });
    const afterExpiry = await bindEveryone();
    expect(afterExpiry.every((n) => /^\+86\d{11}$/.test(n ?? ''))).toBe(true);
    expect(await stableTokenCalls({ emulator })).toEqual({ calls: 2, forceRefreshCalls: 1 });
    expect(fetchLines()).toBe(2);
    for (const secret of emulator.issuedSecrets()) {
      for (const server of servers) expect(server.output()).not.toContain(secret);
    }
  });
});
