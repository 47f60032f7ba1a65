import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { errorCode } from './support/graphql.js';
import { bearer, clientOf, type Client } from './support/client.js';
import { APPS, startWorld, type World } from './support/world.js';

const CODE_PATH = '/wxa/getwxacodeunlimit';
const LINK_PATH = '/wxa/generate_urllink';
const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

let w: World;
let c: Client;
/** Every GraphQL answer of this file, scanned for ticket secrets where they must not be. */
const logged: string[] = [];

beforeAll(async () => {
  w = await startWorld({ env: { RATE_LIMIT: 'off' } });
  c = clientOf(w);
});
afterAll(async () => {
  await w?.stop();
});

type Kind = 'MINI_PROGRAM_CODE' | 'MINI_PROGRAM_LINK';

/** The WeChat calls the emulator saw while `action` ran. */
async function callsDuring(action: () => Promise<unknown>): Promise<string[]> {
  const before = (await w.wechatCalls()).length;
  await action();
  return (await w.wechatCalls()).slice(before);
}

async function createTicket(kind: Kind = 'MINI_PROGRAM_CODE') {
  const answer = await c.run('CreateLoginTicket', { kind });
  expect(answer.errors).toBeUndefined();
  return answer.data!.createLoginTicket;
}

/**
 * The mini program page a code or link opened, for `person`: what WeChat gives it (the scene and
 * a wx.login code, from the emulator's scan), then wechatMiniLogin as that person.
 */
async function openOnPhone(scene: string, person: string) {
  const opened = await w.emulatorPost<{ scene: string; code: string }>('/__emulator/scan', {
    appid: APPS.mini.appid,
    scene,
    user: person,
  });
  expect(opened.scene).toBe(scene);
  const login = await c.run('WechatMiniLogin', { input: { code: opened.code } });
  expect(login.errors).toBeUndefined();
  const { accessToken, user } = login.data!.wechatMiniLogin;
  const as = bearer(accessToken);
  return {
    userId: user.id,
    scan: (s = scene) => c.run('ScanLoginTicket', { scene: s }, as),
    confirm: (s = scene) => c.run('ConfirmLoginTicket', { scene: s }, as),
    cancel: (s = scene) => c.run('CancelLoginTicket', { scene: s }, as),
    deleteAccount: () => c.gql('mutation { deleteAccount }', {}, as),
  };
}

const poll = (id: string, secret: string) => c.run('LoginTicket', { id, secret });

describe('login tickets: a website signed in from the mini program', () => {
  it('shows a mini program code, and hands the confirming person’s session to the waiting page once', async () => {
    const started = Date.now();
    let ticket!: Awaited<ReturnType<typeof createTicket>>;
    // The code is asked of WeChat once (with the scene and the ticket page, never the secret).
    const calls = await callsDuring(async () => (ticket = await createTicket()));
    expect(calls.filter((p) => p === CODE_PATH)).toHaveLength(1);
    expect(ticket.kind).toBe('MINI_PROGRAM_CODE');
    expect(ticket.scene).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(ticket.secret).toMatch(/^lts_[A-Za-z0-9_-]{43}$/);
    expect(ticket.link).toBeNull();
    const expiresIn = new Date(ticket.expiresAt).getTime() - started;
    expect(expiresIn).toBeGreaterThan(290_000);
    expect(expiresIn).toBeLessThan(310_000);
    expect(ticket.qrCode).toMatch(/^data:image\/png;base64,/);
    const png = Buffer.from(ticket.qrCode!.slice('data:image/png;base64,'.length), 'base64');
    expect(png.subarray(0, 8)).toEqual(PNG_MAGIC);

    expect((await poll(ticket.id, ticket.secret)).data!.loginTicket).toEqual({
      state: 'WAITING',
      auth: null,
    });

    const phone = await openOnPhone(ticket.scene, 'alice');
    const scanned = await phone.scan();
    expect(scanned.data!.scanLoginTicket).toEqual({ ticketId: ticket.id, expiresAt: ticket.expiresAt });
    expect((await poll(ticket.id, ticket.secret)).data!.loginTicket).toEqual({
      state: 'SCANNED',
      auth: null,
    });

    expect((await phone.confirm()).data!.confirmLoginTicket).toBe(true);
    const confirmed = (await poll(ticket.id, ticket.secret)).data!.loginTicket;
    expect(confirmed.state).toBe('CONFIRMED');
    expect(confirmed.auth).toMatchObject({
      isNewUser: false,
      otherAccountExists: false,
      user: { id: phone.userId },
    });
    // The page's session is alice's own, a new one beside her mini program's.
    const me = await c.me(confirmed.auth!.accessToken);
    expect(me.data!.me!.id).toBe(phone.userId);
    expect((await c.userRow(phone.userId)).openSessions).toBe(2);
    const refreshed = await c.refresh(confirmed.auth!.refreshToken);
    expect(refreshed.data!.refreshSession.user.id).toBe(phone.userId);

    // Once: every later answer is CONFIRMED without a session.
    expect((await poll(ticket.id, ticket.secret)).data!.loginTicket).toEqual({
      state: 'CONFIRMED',
      auth: null,
    });
    expect((await c.userRow(phone.userId)).openSessions).toBe(2);
  });

  it('opens the mini program from a phone browser with a URL Link', async () => {
    let ticket!: Awaited<ReturnType<typeof createTicket>>;
    const calls = await callsDuring(async () => (ticket = await createTicket('MINI_PROGRAM_LINK')));
    expect(calls.filter((p) => p === LINK_PATH)).toHaveLength(1);
    expect(ticket.kind).toBe('MINI_PROGRAM_LINK');
    expect(ticket.qrCode).toBeNull();
    expect(ticket.link).toMatch(/^https?:\/\//);
    expect(ticket.link).not.toContain(ticket.secret);

    // A phone opening the link lands on the emulator's page for that scene.
    const opened = await fetch(ticket.link!, { redirect: 'manual' });
    expect(opened.status).toBe(302);
    expect(opened.headers.get('location')).toContain(`scene=${ticket.scene}`);

    const phone = await openOnPhone(ticket.scene, 'bob');
    await phone.scan();
    await phone.confirm();
    const confirmed = (await poll(ticket.id, ticket.secret)).data!.loginTicket;
    expect(confirmed.auth!.user.id).toBe(phone.userId);
  });

  it('lets the person cancel: the page reads CANCELLED, and the ticket cannot move again', async () => {
    const ticket = await createTicket();
    const phone = await openOnPhone(ticket.scene, 'carol');
    await phone.scan();
    expect((await phone.cancel()).data!.cancelLoginTicket).toBe(true);
    expect((await phone.cancel()).data!.cancelLoginTicket).toBe(true);
    expect((await poll(ticket.id, ticket.secret)).data!.loginTicket).toEqual({
      state: 'CANCELLED',
      auth: null,
    });
    expect(errorCode(await phone.confirm())).toBe('TICKET_EXPIRED');
    expect(errorCode(await phone.scan())).toBe('TICKET_EXPIRED');
    expect((await poll(ticket.id, ticket.secret)).data!.loginTicket.state).toBe('CANCELLED');
  });

  it('ends a ticket at its time: EXPIRED to the page, TICKET_EXPIRED to the mini program', async () => {
    const waiting = await createTicket();
    const scanned = await createTicket();
    const phone = await openOnPhone(scanned.scene, 'dave');
    await phone.scan();
    await c.sql(`update login_ticket set expires_at = now() - interval '1 second' where id in (?, ?)`, [
      waiting.id,
      scanned.id,
    ]);
    expect((await poll(waiting.id, waiting.secret)).data!.loginTicket).toEqual({
      state: 'EXPIRED',
      auth: null,
    });
    expect((await poll(scanned.id, scanned.secret)).data!.loginTicket).toEqual({
      state: 'EXPIRED',
      auth: null,
    });
    expect(errorCode(await phone.confirm())).toBe('TICKET_EXPIRED');
    expect(errorCode(await phone.scan(waiting.scene))).toBe('TICKET_EXPIRED');
    const [row] = await c.sql<{ state: string; delivered_at: unknown }>(
      'select state, delivered_at from login_ticket where id = ?',
      [scanned.id],
    );
    expect(row).toEqual({ state: 'SCANNED', delivered_at: null });
  });

  it('gives two concurrent confirmations and two concurrent polls one session', async () => {
    const ticket = await createTicket();
    const phone = await openOnPhone(ticket.scene, 'erin');
    await phone.scan();
    const confirms = await Promise.all([phone.confirm(), phone.confirm(), phone.confirm()]);
    for (const answer of confirms) expect(answer.data!.confirmLoginTicket).toBe(true);
    const polls = await Promise.all(Array.from({ length: 6 }, () => poll(ticket.id, ticket.secret)));
    const withAuth = polls.filter((p) => p.data!.loginTicket.auth !== null);
    expect(polls.every((p) => p.data!.loginTicket.state === 'CONFIRMED')).toBe(true);
    expect(withAuth).toHaveLength(1);
    expect((await c.userRow(phone.userId)).openSessions).toBe(2);
  });
});

describe('login tickets: what a stranger or a wrong caller gets', () => {
  it('hands no session over for an account deleted after it confirmed', async () => {
    const ticket = await createTicket();
    const phone = await openOnPhone(ticket.scene, 'judy');
    await phone.scan();
    await phone.confirm();
    expect((await phone.deleteAccount()).data).toEqual({ deleteAccount: true });
    const answer = await poll(ticket.id, ticket.secret);
    expect(errorCode(answer)).toBe('UNAUTHENTICATED');
    const [row] = await c.sql<{ delivered_at: unknown }>(
      'select delivered_at from login_ticket where id = ?',
      [ticket.id],
    );
    expect(row).toEqual({ delivered_at: null });
    expect((await c.userRow(phone.userId)).openSessions).toBe(0);
  });

  it('refuses the subscription over HTTP: it goes over WebSocket', async () => {
    const ticket = await createTicket();
    const answer = await c.gql(
      'subscription ($id: ID!, $secret: String!) { loginTicket(id: $id, secret: $secret) { state } }',
      { id: ticket.id, secret: ticket.secret },
    );
    expect(errorCode(answer)).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(answer.errors![0]!.message).toMatch(/WebSocket/);
    expect((await poll(ticket.id, ticket.secret)).data!.loginTicket.state).toBe('WAITING');
  });

  it('answers TICKET_NOT_FOUND alike for an unknown id, a wrong secret and a malformed one', async () => {
    const ticket = await createTicket();
    const answers = await Promise.all([
      poll('00000000-0000-4000-8000-000000000000', ticket.secret),
      // The last character changed (to another one whatever it was).
      poll(ticket.id, `${ticket.secret.slice(0, -1)}${ticket.secret.endsWith('A') ? 'B' : 'A'}`),
      poll(ticket.id, ''),
      poll(ticket.id, 'x'.repeat(10_000)),
      poll('not-a-uuid', ticket.secret),
      poll(ticket.id.toUpperCase(), 'lts_wrong'),
    ]);
    for (const answer of answers) {
      expect(errorCode(answer)).toBe('TICKET_NOT_FOUND');
      expect(answer.errors![0]!.message).toBe(answers[0]!.errors![0]!.message);
      expect(answer.data).toBeNull();
    }
  });

  it('refuses a scene of the wrong shape with BAD_USER_INPUT, before anything is read', async () => {
    const phone = await openOnPhone((await createTicket()).scene, 'frank');
    for (const scene of ['', 'abc-def', 'a'.repeat(33), 'scène', "x' or 1=1 --", 'a b']) {
      const answer = await phone.scan(scene);
      expect(errorCode(answer)).toBe('BAD_USER_INPUT');
      expect(answer.errors![0]!.extensions).toMatchObject({ field: 'scene' });
      expect(errorCode(await phone.confirm(scene))).toBe('BAD_USER_INPUT');
    }
  });

  it('lets only a signed-in user of that mini program scan, and only the one who scanned confirm', async () => {
    const ticket = await createTicket();
    // No bearer.
    expect(errorCode(await c.run('ScanLoginTicket', { scene: ticket.scene }))).toBe('UNAUTHENTICATED');
    expect(errorCode(await c.run('ConfirmLoginTicket', { scene: ticket.scene }))).toBe('UNAUTHENTICATED');
    // A user of the website only: not a user of the ticket's mini program.
    const web = await c.loginAs('web', 'grace');
    const asWeb = bearer(web.accessToken);
    expect(errorCode(await c.run('ScanLoginTicket', { scene: ticket.scene }, asWeb))).toBe(
      'TICKET_NOT_FOUND',
    );
    // An unknown scene.
    const phone = await openOnPhone(ticket.scene, 'heidi');
    expect(errorCode(await phone.scan('A'.repeat(32)))).toBe('TICKET_NOT_FOUND');
    // Confirming before scanning.
    expect(errorCode(await phone.confirm())).toBe('BAD_USER_INPUT');
    await phone.scan();
    // Someone else who opened the same code afterwards: neither scan, confirm nor cancel.
    const other = await openOnPhone(ticket.scene, 'ivan');
    expect(errorCode(await other.scan())).toBe('TICKET_NOT_FOUND');
    expect(errorCode(await other.confirm())).toBe('TICKET_NOT_FOUND');
    expect(errorCode(await other.cancel())).toBe('TICKET_NOT_FOUND');
    expect((await poll(ticket.id, ticket.secret)).data!.loginTicket.state).toBe('SCANNED');
    // The first one still can.
    expect((await phone.confirm()).data!.confirmLoginTicket).toBe(true);
    const confirmed = (await poll(ticket.id, ticket.secret)).data!.loginTicket;
    expect(confirmed.auth!.user.id).toBe(phone.userId);
  });

  it('maps WeChat’s refusals to the typed errors and writes no ticket', async () => {
    const before = await c.sql<{ n: string }>('select count(*) as n from login_ticket');
    // Each fault as often as the call is tried: a code is a read (three tries), a link is not.
    const cases: [string, Record<string, unknown>, Kind, string][] = [
      [CODE_PATH, { errcode: 45009 }, 'MINI_PROGRAM_CODE', 'WECHAT_RATE_LIMITED'],
      [CODE_PATH, { errcode: 41030 }, 'MINI_PROGRAM_CODE', 'WECHAT_CONFIG_ERROR'],
      [CODE_PATH, { drop: true }, 'MINI_PROGRAM_CODE', 'WECHAT_UNAVAILABLE'],
      [CODE_PATH, { malformed: true }, 'MINI_PROGRAM_CODE', 'WECHAT_UNAVAILABLE'],
      [LINK_PATH, { errcode: 45009 }, 'MINI_PROGRAM_LINK', 'WECHAT_RATE_LIMITED'],
      [LINK_PATH, { errcode: 40097 }, 'MINI_PROGRAM_LINK', 'WECHAT_CONFIG_ERROR'],
      [LINK_PATH, { status: 502 }, 'MINI_PROGRAM_LINK', 'WECHAT_UNAVAILABLE'],
    ];
    for (const [path, fault, kind, code] of cases) {
      const retried = path === CODE_PATH && (fault.drop || fault.status);
      await w.emulatorPost('/__emulator/faults', { path, times: retried ? 3 : 1, ...fault });
      const answer = await c.run('CreateLoginTicket', { kind });
      logged.push(JSON.stringify(answer));
      expect([path, errorCode(answer)]).toEqual([path, code]);
    }
    expect(await c.sql('select count(*) as n from login_ticket')).toEqual(before);
  });

  it('refuses an appId that is not one of this server’s mini programs', async () => {
    const answer = await c.run('CreateLoginTicket', { kind: 'MINI_PROGRAM_CODE', appId: APPS.web.appid });
    expect(errorCode(answer)).toBe('BAD_USER_INPUT');
    expect(answer.errors![0]!.extensions).toMatchObject({ field: 'appId' });
  });

  it('keeps the secret out of the log, the code, the link and the WeChat calls', async () => {
    const code = await createTicket();
    const link = await createTicket('MINI_PROGRAM_LINK');
    const log = w.t.log.text();
    for (const ticket of [code, link]) {
      expect(log).not.toContain(ticket.secret);
      expect(log).not.toContain(ticket.scene);
    }
    expect(link.link).not.toContain(link.secret);
    const [stored] = await c.sql<{ secret_hash: string }>(
      'select secret_hash from login_ticket where id = ?',
      [code.id],
    );
    expect(stored!.secret_hash).not.toContain(code.secret);
    for (const body of logged) expect(body).not.toMatch(/lts_/);
  });
});

describe('login tickets: limits', () => {
  let limited: World;
  beforeAll(async () => {
    limited = await startWorld({ env: { RATE_LIMIT_IP_PER_MINUTE: '3' } });
  });
  afterAll(async () => {
    await limited?.stop();
  });

  it('limits the tickets one IP makes', async () => {
    const client = clientOf(limited);
    for (let i = 0; i < 3; i++) {
      expect((await client.run('CreateLoginTicket', { kind: 'MINI_PROGRAM_CODE' })).errors).toBeUndefined();
    }
    const refused = await client.run('CreateLoginTicket', { kind: 'MINI_PROGRAM_CODE' });
    expect(errorCode(refused)).toBe('RATE_LIMITED');
    expect(refused.errors![0]!.extensions!.retryAfterSeconds).toBeGreaterThan(0);
    const [{ n }] = (await client.sql<{ n: string }>('select count(*) as n from login_ticket')) as [
      { n: string },
    ];
    expect(Number(n)).toBe(3);
  });
});
