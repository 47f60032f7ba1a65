import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AdminKeys } from '../src/admin/admin-keys.js';
import { bearer, clientOf, type Client } from './support/client.js';
import { errorCode } from './support/graphql.js';
import { sqlOf, type Sql } from './support/sql.js';
import { APPS, startWorld, type World } from './support/world.js';

/**
 * Disabling a user through the admin API (disableUser, enableUser): every way in refuses the
 * account with USER_DISABLED, from the moment the disable answers, until it is enabled again.
 */
let w: World;
let c: Client;
let sql: Sql;
let writeKey: string;
let readKey: string;

beforeAll(async () => {
  w = await startWorld({ env: { RATE_LIMIT: 'off' } });
  c = clientOf(w);
  sql = sqlOf(w.t);
  const em = () => w.t.server.database.orm.em.fork();
  writeKey = (await AdminKeys.create(em(), 'support', 'write')).key;
  readKey = (await AdminKeys.create(em(), 'auditor', 'read')).key;
});
afterAll(async () => {
  await w?.stop();
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

async function adminGql(key: string, query: string, variables: Json = {}) {
  const response = await fetch(`${w.t.url}/admin/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as { data?: Json; errors?: { extensions?: Json; message: string }[] };
}

const FIELDS = 'id disabledAt disabledReason activeSessions';
const DISABLE = `mutation ($id: ID!, $reason: String!) { disableUser(id: $id, reason: $reason) { ${FIELDS} } }`;
const ENABLE = `mutation ($id: ID!) { enableUser(id: $id) { ${FIELDS} } }`;

const disable = (id: string, reason = 'chargeback fraud', key = writeKey) =>
  adminGql(key, DISABLE, { id, reason });
const enable = (id: string) => adminGql(writeKey, ENABLE, { id });

/** The user's sessions not revoked, as the database holds them. */
async function openSessions(userId: string): Promise<number> {
  const [row] = await sql<{ n: number }>(
    'select count(*)::int as n from session where user_id = ? and revoked_at is null',
    [userId],
  );
  return row!.n;
}

describe('disableUser and enableUser', () => {
  it('ends the sessions at once; logins, refresh and bearer calls answer USER_DISABLED until enabled', async () => {
    const first = await c.loginAs('mini', 'dis-ann');
    const second = await c.loginAs('web', 'dis-ann');
    expect(second.user.id).toBe(first.user.id);

    const disabled = await disable(first.user.id);
    expect(disabled.errors).toBeUndefined();
    expect(disabled.data!.disableUser).toMatchObject({
      id: first.user.id,
      disabledReason: 'chargeback fraud',
      activeSessions: 0,
    });
    expect(new Date(disabled.data!.disableUser.disabledAt).getTime()).toBeGreaterThan(Date.now() - 60_000);
    expect(await openSessions(first.user.id)).toBe(0);

    // The access token still verifies (a JWT), but its session is over: USER_DISABLED, not a crash.
    const me = await c.me(first.accessToken);
    expect(errorCode(me)).toBe('USER_DISABLED');
    expect(me.errors![0]!.message).toBe('This account has been disabled by an administrator');
    expect(errorCode(await c.refresh(second.refreshToken))).toBe('USER_DISABLED');
    // Every kind of login (the one-statement returning path and the full path), nothing written.
    const sessionsBefore = await sql('select id from session where user_id = ?', [first.user.id]);
    for (const kind of ['mini', 'web', 'app', 'official'] as const) {
      expect(errorCode(await c.login(kind, 'dis-ann'))).toBe('USER_DISABLED');
    }
    expect(await sql('select id from session where user_id = ?', [first.user.id])).toHaveLength(
      sessionsBefore.length,
    );

    // Disabling again keeps the first time and reason.
    const again = await disable(first.user.id, 'another reason');
    expect(again.data!.disableUser).toMatchObject({
      disabledAt: disabled.data!.disableUser.disabledAt,
      disabledReason: 'chargeback fraud',
    });

    const enabled = await enable(first.user.id);
    expect(enabled.errors).toBeUndefined();
    expect(enabled.data!.enableUser).toMatchObject({ disabledAt: null, disabledReason: null });
    // The sessions the disable ended stay ended (now plainly: the session has ended).
    expect(errorCode(await c.me(first.accessToken))).toBe('UNAUTHENTICATED');
    expect(errorCode(await c.refresh(second.refreshToken))).toBe('UNAUTHENTICATED');
    const back = await c.loginAs('mini', 'dis-ann');
    expect(back.user.id).toBe(first.user.id);
    expect((await c.me(back.accessToken)).data!.me!.id).toBe(first.user.id);
    // Enabling an enabled user changes nothing.
    expect((await enable(first.user.id)).data!.enableUser.disabledAt).toBeNull();
  });

  it('refuses the handover of a login ticket the person confirmed before being disabled', async () => {
    const ticket = (await c.run('CreateLoginTicket', { kind: 'MINI_PROGRAM_CODE' })).data!.createLoginTicket;
    const opened = await w.emulatorPost<{ code: string }>('/__emulator/scan', {
      appid: APPS.mini.appid,
      scene: ticket.scene,
      user: 'dis-ben',
    });
    const login = (await c.run('WechatMiniLogin', { input: { code: opened.code } })).data!.wechatMiniLogin;
    const as = bearer(login.accessToken);
    expect((await c.run('ScanLoginTicket', { scene: ticket.scene }, as)).errors).toBeUndefined();
    expect((await c.run('ConfirmLoginTicket', { scene: ticket.scene }, as)).errors).toBeUndefined();
    expect((await disable(login.user.id)).errors).toBeUndefined();

    const polled = await c.run('LoginTicket', { id: ticket.id, secret: ticket.secret });
    expect(errorCode(polled)).toBe('USER_DISABLED');
    expect(await openSessions(login.user.id)).toBe(0);
    // A disabled person can neither scan nor confirm another ticket (their token is refused).
    const next = (await c.run('CreateLoginTicket', { kind: 'MINI_PROGRAM_CODE' })).data!.createLoginTicket;
    expect(errorCode(await c.run('ScanLoginTicket', { scene: next.scene }, as))).toBe('USER_DISABLED');
  });

  it('keeps a disabled account out of merges: linking its identity into another account is refused', async () => {
    // The mini program is bound (one unionId): a web login and an app login of one person are one
    // account; the person's second WeChat (another unionId) cannot take the disabled account's identity.
    const held = await c.loginAs('app', 'dis-cat');
    const other = await c.loginAs('web', 'dis-cat-2');
    expect((await disable(held.user.id)).errors).toBeUndefined();
    const linked = await c.link(other.accessToken, 'app', 'dis-cat', true);
    expect(errorCode(linked)).toBe('USER_DISABLED');
    const row = await c.userRow(held.user.id);
    expect(row).toMatchObject({ ended: false, methods: 1 });
  });

  it('lists disabled users with users(filter: { disabled })', async () => {
    const a = await c.loginAs('mini', 'dis-dan');
    const b = await c.loginAs('mini', 'dis-eve');
    await disable(a.user.id, 'spam');
    const ids = async (disabled: boolean) => {
      const ids: string[] = [];
      let after: string | null = null;
      for (;;) {
        const page = await adminGql(
          readKey,
          `query ($after: String, $disabled: Boolean) {
             users(filter: { disabled: $disabled }, first: 200, after: $after) {
               nodes { id disabledAt } pageInfo { endCursor hasNextPage } } }`,
          { after, disabled },
        );
        expect(page.errors).toBeUndefined();
        ids.push(...page.data!.users.nodes.map((n: Json) => n.id as string));
        if (!page.data!.users.pageInfo.hasNextPage) return ids;
        after = page.data!.users.pageInfo.endCursor;
      }
    };
    const disabled = await ids(true);
    expect(disabled).toContain(a.user.id);
    expect(disabled).not.toContain(b.user.id);
    const enabled = await ids(false);
    expect(enabled).toContain(b.user.id);
    expect(enabled).not.toContain(a.user.id);
  });

  it('refuses a read key, a bad id, an unknown or deleted user, and a bad reason, with typed errors', async () => {
    const person = await c.loginAs('mini', 'dis-fay');
    expect(errorCode(await disable(person.user.id, 'x', readKey))).toBe('FORBIDDEN');
    expect(errorCode(await adminGql(readKey, ENABLE, { id: person.user.id }))).toBe('FORBIDDEN');
    for (const reason of ['', '   ', 'x'.repeat(501), 'line\nbreak', 'fraud\u202e']) {
      const refused = await disable(person.user.id, reason);
      expect(errorCode(refused)).toBe('BAD_USER_INPUT');
      expect(refused.errors![0]!.extensions!.field).toBe('reason');
    }
    expect(errorCode(await disable('not-a-uuid'))).toBe('BAD_USER_INPUT');
    expect(errorCode(await disable('00000000-0000-4000-8000-000000000000'))).toBe('BAD_USER_INPUT');
    expect(errorCode(await enable('00000000-0000-4000-8000-000000000000'))).toBe('BAD_USER_INPUT');
    // Nothing of the refusals was written; the person still signs in.
    expect((await c.me(person.accessToken)).data!.me!.id).toBe(person.user.id);

    const gone = await c.loginAs('mini', 'dis-gil');
    expect((await c.gql('mutation { deleteAccount }', {}, bearer(gone.accessToken))).errors).toBeUndefined();
    expect(errorCode(await disable(gone.user.id))).toBe('BAD_USER_INPUT');
  });
});
