import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AdminKeys } from '../src/admin/admin-keys.js';
import { bearer, clientOf, type Client } from './support/client.js';
import { errorCode, type GraphQLBody } from './support/graphql.js';
import { sqlOf, type Sql } from './support/sql.js';
import { APPS, AUTH_SECRET, startWorld, type World } from './support/world.js';

/**
 * The audit log as an operator reads it after a day of mixed activity: one event per thing that
 * happened, with who did it, from which network and browser, in which request; and none of the
 * values that must never be kept (codes, tokens, secrets, keys, phone numbers) anywhere in it.
 */
let w: World;
let c: Client;
let sql: Sql;
let writeKey: string;
let readKey: string;
/** Every value that must not appear in the audit log. */
const secrets = new Set<string>([AUTH_SECRET, ...Object.values(APPS).map((app) => app.secret)]);
/** Every answer the public API gave, for the tokens in them. */
const bodies: GraphQLBody<unknown>[] = [];

beforeAll(async () => {
  w = await startWorld({
    env: { RATE_LIMIT: 'off', REFRESH_REUSE_GRACE_SECONDS: '0' },
    apps: { official: { ...APPS.official, bound: false } },
  });
  c = clientOf(w, { onBody: (body) => bodies.push(body) });
  sql = sqlOf(w.t);
  const em = () => w.t.server.database.orm.em.fork();
  writeKey = (await AdminKeys.create(em(), 'support desk', 'write')).key;
  readKey = (await AdminKeys.create(em(), 'auditor', 'read')).key;
  secrets.add(writeKey).add(readKey);
});
afterAll(async () => {
  await w?.stop();
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

interface Row {
  type: string;
  user_id: string | null;
  actor_type: string;
  actor_id: string | null;
  actor_name: string | null;
  app_id: string | null;
  open_id: string | null;
  error_code: string | null;
  details: Json | null;
  ip_prefix: string | null;
  user_agent: string | null;
  request_id: string | null;
}

/** The events of a user, oldest first. */
const eventsOf = (userId: string) =>
  sql<Row>('select * from audit_event where user_id = ? order by occurred_at, id', [userId]);

/** The headers of a browser: its user agent and a request id of its own for each request. */
let requestNo = 0;
const browser = (extra: Record<string, string> = {}) => ({
  'user-agent': 'Mozilla/5.0 (iPhone) AuditTest/1.0',
  'x-request-id': `audit-${++requestNo}`,
  ...extra,
});

async function adminGql(key: string, query: string, variables: Json = {}) {
  const response = await fetch(`${w.t.url}/admin/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, ...browser() },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as { data?: Json; errors?: { extensions?: Json }[] };
}

/** A mini program login with a code of `person`'s, the code kept as a secret. */
async function miniLogin(person: string, headers = browser()) {
  const code = await w.code(APPS.mini.appid, person);
  secrets.add(code);
  return c.run('WechatMiniLogin', { input: { code } }, headers);
}

describe('the audit log', () => {
  it('records a day of mixed activity, each event with its actor and client, and no secret', async () => {
    // Logins: a first one (one statement), a returning one (one statement), a website one, a failure.
    const first = await miniLogin('aud-ann');
    expect(first.errors).toBeUndefined();
    const ann = first.data!.wechatMiniLogin;
    expect((await miniLogin('aud-ann')).errors).toBeUndefined();
    const web = await c.input('web', 'aud-ann');
    secrets.add(web.code);
    const onWeb = await c.run('WechatWebLogin', { input: web as { code: string; state: string } }, browser());
    expect(onWeb.errors).toBeUndefined();
    const bad = await c.run('WechatMiniLogin', { input: { code: 'not-a-real-code-0001' } }, browser());
    expect(errorCode(bad)).toBe('WECHAT_INVALID_CODE');

    // The person's own changes: profile, phone number, a refresh, a rotated token reused, sessions ended.
    const as = bearer(ann.accessToken);
    const profile = await c.gql(
      'mutation { updateProfile(input: { nickname: "Ann A." }) { nickname } }',
      {},
      { ...as, ...browser() },
    );
    expect(profile.errors).toBeUndefined();
    const { code: phoneCode } = await w.emulatorPost<{ code: string }>('/__emulator/phone-codes', {
      appid: APPS.mini.appid,
      user: 'aud-ann',
      phoneNumber: '13900139077',
    });
    secrets.add(phoneCode).add('13900139077').add('+8613900139077');
    const phone = await c.gql(
      'mutation ($code: String!) { bindWechatPhoneNumber(code: $code) { phoneNumber } }',
      { code: phoneCode },
      { ...as, ...browser() },
    );
    expect(phone.errors).toBeUndefined();
    // A login with a phone code of a new number changes it: the event names the field.
    const { code: newNumberCode } = await w.emulatorPost<{ code: string }>('/__emulator/phone-codes', {
      appid: APPS.mini.appid,
      user: 'aud-ann',
      phoneNumber: '13900139078',
    });
    secrets.add(newNumberCode).add('13900139078').add('+8613900139078');
    const loginCode = await w.code(APPS.mini.appid, 'aud-ann');
    secrets.add(loginCode);
    const withPhone = await c.run(
      'WechatMiniLogin',
      { input: { code: loginCode, phoneCode: newNumberCode } },
      browser(),
    );
    expect(withPhone.errors).toBeUndefined();
    const webSession = onWeb.data!.wechatWebLogin;
    const refreshed = await c.run('RefreshSession', { refreshToken: webSession.refreshToken }, browser());
    expect(refreshed.errors).toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect(
      errorCode(await c.run('RefreshSession', { refreshToken: webSession.refreshToken }, browser())),
    ).toBe('UNAUTHENTICATED');
    const sessions = (await c.run('MySessions', {}, as)).data!.me!.sessions;
    const other = sessions.find((s) => !s.current)!;
    expect((await c.run('RevokeSession', { id: other.id }, { ...as, ...browser() })).errors).toBeUndefined();

    // Cy's two accounts (the official account is unbound: no unionid there) merged by a link, then
    // the official account's identity unlinked again.
    const ben = await c.loginAs('app', 'aud-ben');
    const cy = await c.loginAs('web', 'aud-cy');
    const cyOfficial = await c.loginAs('official', 'aud-cy');
    expect(cyOfficial.user.id).not.toBe(cy.user.id);
    expect((await c.link(cy.accessToken, 'official', 'aud-cy', true)).errors).toBeUndefined();
    const unlinked = await c.gql(
      'mutation ($appId: String!, $openId: String!) { unlinkLoginMethod(appId: $appId, openId: $openId) { id } }',
      { appId: APPS.official.appid, openId: await openIdOf(cy.user.id, APPS.official.appid) },
      { ...bearer(cy.accessToken), ...browser() },
    );
    expect(unlinked.errors).toBeUndefined();

    // The operators: a read, a refused mutation, a disable (and the disabled person's login), an
    // enable, sessions ended, an account deleted.
    expect(
      (await adminGql(readKey, 'query ($id: ID!) { user(id: $id) { id } }', { id: ann.user.id })).errors,
    ).toBeUndefined();
    const byPhone = await adminGql(
      readKey,
      '{ users(filter: { phoneNumber: "+8613900139078" }) { nodes { id } } }',
    );
    expect(byPhone.data!.users.nodes).toEqual([{ id: ann.user.id }]);
    const refused = await adminGql(readKey, 'mutation ($id: ID!) { revokeSessions(userId: $id) }', {
      id: ann.user.id,
    });
    expect(errorCode(refused)).toBe('FORBIDDEN');
    const disable = 'mutation ($id: ID!) { disableUser(id: $id, reason: "abuse report 42") { id } }';
    expect((await adminGql(writeKey, disable, { id: ben.user.id })).errors).toBeUndefined();
    expect(errorCode(await c.login('app', 'aud-ben'))).toBe('USER_DISABLED');
    expect(
      (await adminGql(writeKey, 'mutation ($id: ID!) { enableUser(id: $id) { id } }', { id: ben.user.id }))
        .errors,
    ).toBeUndefined();
    expect(
      (await adminGql(writeKey, 'mutation ($id: ID!) { revokeSessions(userId: $id) }', { id: ann.user.id }))
        .errors,
    ).toBeUndefined();
    expect(
      (await adminGql(writeKey, 'mutation ($id: ID!) { deleteUser(id: $id) }', { id: ben.user.id })).errors,
    ).toBeUndefined();

    // What the log says of Ann, in order.
    const annEvents = await eventsOf(ann.user.id);
    expect(annEvents.map((e) => e.type)).toEqual([
      'login.succeeded',
      'login.succeeded',
      'login.succeeded',
      'profile.updated',
      'phone_number.updated',
      'login.succeeded',
      'session.refresh_token_reused',
      'session.revoked',
      'admin.read',
      'sessions.revoked',
    ]);
    const [
      created,
      returning,
      onWebsite,
      profileEvent,
      phoneEvent,
      phoneLogin,
      reused,
      revoked,
      read,
      adminRevoked,
    ] = annEvents;
    expect(created).toMatchObject({
      actor_type: 'user',
      actor_id: ann.user.id,
      app_id: APPS.mini.appid,
      details: { kind: 'WECHAT_MINI', isNewUser: true },
      ip_prefix: expect.stringMatching(/^(127\.0\.0\.0\/24|::\/48|::ffff:127\.0\.0\.0\/\d+)$/),
      user_agent: 'Mozilla/5.0 (iPhone) AuditTest/1.0',
      request_id: 'audit-1',
    });
    expect(created!.open_id).toMatch(/\S/);
    expect(returning).toMatchObject({
      details: { kind: 'WECHAT_MINI', isNewUser: false },
      request_id: 'audit-2',
    });
    expect(onWebsite).toMatchObject({ app_id: APPS.web.appid, details: { kind: 'WECHAT_WEB' } });
    expect(profileEvent).toMatchObject({ actor_id: ann.user.id, details: { fields: ['nickname'] } });
    expect(phoneEvent).toMatchObject({ app_id: APPS.mini.appid, details: null });
    expect(phoneLogin).toMatchObject({
      details: { kind: 'WECHAT_MINI', isNewUser: false, changed: ['phoneNumber'] },
    });
    expect(reused).toMatchObject({
      actor_type: 'anonymous',
      details: { sessionId: sessionIdOf(webSession.accessToken) },
    });
    expect(revoked).toMatchObject({ details: { sessionId: other.id, reason: 'revoked_by_user' } });
    expect(read).toMatchObject({
      actor_type: 'admin_key',
      actor_name: 'auditor',
      details: { field: 'user' },
    });
    expect(adminRevoked).toMatchObject({ actor_name: 'support desk', details: { reason: 'admin' } });

    // The failed login of nobody: by network only (WeChat named nobody).
    const [failed] = await sql<Row>(
      "select * from audit_event where type = 'login.failed' and error_code = ?",
      ['WECHAT_INVALID_CODE'],
    );
    expect(failed).toMatchObject({
      user_id: null,
      actor_type: 'anonymous',
      open_id: null,
      details: { kind: 'WECHAT_MINI' },
    });
    expect(failed!.ip_prefix).not.toBeNull();

    // Ben: linked, disabled (his refused login kept by user), enabled, deleted by the operator.
    const benEvents = await eventsOf(ben.user.id);
    expect(benEvents.map((e) => [e.type, e.error_code])).toEqual([
      ['login.succeeded', null],
      ['user.disabled', null],
      ['login.failed', 'USER_DISABLED'],
      ['user.enabled', null],
      ['account.deleted', null],
    ]);
    expect(benEvents[1]).toMatchObject({
      actor_type: 'admin_key',
      actor_name: 'support desk',
      details: { reason: 'abuse report 42' },
    });
    expect(benEvents[4]).toMatchObject({ actor_type: 'admin_key' });
    // The merge and the link are one transaction, one time: in either order.
    const cyEvents = await eventsOf(cy.user.id);
    expect(cyEvents.map((e) => e.type).sort()).toEqual([
      'account.linked',
      'account.merged',
      'account.unlinked',
      'login.succeeded',
    ]);
    const cyEvent = (type: string) => cyEvents.find((e) => e.type === type);
    expect(cyEvent('account.merged')).toMatchObject({
      actor_id: cy.user.id,
      details: { mergedUserId: cyOfficial.user.id },
    });
    expect(cyEvent('account.linked')).toMatchObject({
      app_id: APPS.official.appid,
      details: { kind: 'WECHAT_OFFICIAL_ACCOUNT' },
    });
    expect(cyEvent('account.unlinked')).toMatchObject({
      app_id: APPS.official.appid,
      request_id: expect.stringMatching(/^audit-/),
    });
    expect((await eventsOf(cyOfficial.user.id)).map((e) => [e.type, e.details])).toEqual([
      ['login.succeeded', { kind: 'WECHAT_OFFICIAL_ACCOUNT', isNewUser: true }],
      ['account.merged', { mergedInto: cy.user.id }],
    ]);

    // Every admin call left a trace, the refused one too; the filter by name, never its value.
    const adminEvents = await sql<Row>(
      "select * from audit_event where actor_type = 'admin_key' order by occurred_at, id",
    );
    expect(adminEvents.map((e) => e.type)).toEqual([
      'admin.read',
      'admin.read',
      'admin.refused',
      'user.disabled',
      'user.enabled',
      'sessions.revoked',
      'account.deleted',
    ]);
    expect(adminEvents[1]!.details).toEqual({ field: 'users', filters: ['phoneNumber'] });
    expect(adminEvents[2]).toMatchObject({
      error_code: 'FORBIDDEN',
      details: { fields: ['revokeSessions'] },
    });

    // No secret anywhere: codes, tokens, app secrets, keys, the phone number.
    for (const body of bodies) collectTokens(body, secrets);
    expect(secrets.size).toBeGreaterThan(20);
    const everything = (await sql<{ row: string }>('select row_to_json(a)::text as row from audit_event a'))
      .map((r) => r.row)
      .join('\n');
    for (const secret of secrets) expect(everything).not.toContain(secret);

    // The operator reads the same log through the admin API, every page: the same events (and
    // the reads themselves), with none of those values either.
    const stored = await sql<{ n: number }>('select count(*)::int as n from audit_event');
    const pages: Json[] = [];
    let after: string | null = null;
    do {
      const page = await adminGql(
        readKey,
        `query ($after: String) { auditEvents(first: 7, after: $after) {
           nodes { id type userId actorType actorName appId openId errorCode details ipPrefix userAgent requestId }
           pageInfo { endCursor hasNextPage } } }`,
        { after },
      );
      expect(page.errors).toBeUndefined();
      pages.push(page.data!.auditEvents);
      after = page.data!.auditEvents.pageInfo.hasNextPage ? page.data!.auditEvents.pageInfo.endCursor : null;
    } while (after);
    const listed = pages.flatMap((page) => page.nodes as { type: string }[]);
    // The first page's read is the only one older than its own start.
    expect(listed).toHaveLength(stored[0]!.n + 1);
    expect(listed.filter((e) => e.type === 'login.failed').length).toBeGreaterThanOrEqual(2);
    const answers = JSON.stringify(pages);
    for (const secret of secrets) expect(answers).not.toContain(secret);
  });
});

/** The login method's openid of a user in an app. */
async function openIdOf(userId: string, appId: string): Promise<string> {
  const [row] = await sql<{ open_id: string }>(
    'select open_id from user_login_method where user_id = ? and app_id = ?',
    [userId, appId],
  );
  return row!.open_id;
}

/** The session of an access token (its `sid` claim). */
function sessionIdOf(accessToken: string): string {
  return (JSON.parse(Buffer.from(accessToken.split('.')[1]!, 'base64url').toString()) as { sid: string }).sid;
}

/** The access and refresh tokens anywhere in an answer. */
function collectTokens(value: unknown, into: Set<string>): void {
  if (Array.isArray(value)) for (const item of value) collectTokens(item, into);
  else if (value && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value)) {
      if ((key === 'accessToken' || key === 'refreshToken') && typeof inner === 'string') into.add(inner);
      else collectTokens(inner, into);
    }
  }
}
