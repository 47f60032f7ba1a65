import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { pushSignature } from '../src/wechat/message-crypto.js';
import { clientOf, type Client } from './support/client.js';
import { eventually } from './support/eventually.js';
import { errorCode } from './support/graphql.js';
import { eventXml, replyContent, sendPush, signPush, type PushAccount } from './support/pushes.js';
import { sqlOf, type Sql } from './support/sql.js';
import { APPS, startWorld, type World } from './support/world.js';

const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const QR_PATH = '/cgi-bin/qrcode/create';
const INFO_PATH = '/cgi-bin/user/info';

/** The test world's official account in plain mode, and a second one in safe mode. */
const PLAIN: PushAccount = { appid: APPS.official.appid, token: 'plainToken42' };
const SAFE: PushAccount = {
  appid: 'wxtestoasafe',
  token: 'safeToken7',
  aesKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
};

let w: World;
let c: Client;
let sql: Sql;

beforeAll(async () => {
  w = await startWorld({
    extraApps: [{ appid: SAFE.appid, secret: 'secret-oa-safe', kind: 'official', bound: true }],
    env: {
      RATE_LIMIT: 'off',
      // A WeChat call may take longer than the push's answer deadline (4 s) and still succeed.
      WECHAT_TIMEOUT_MS: '8000',
      WECHAT_OA_TOKEN: PLAIN.token,
      WECHAT_APPS: JSON.stringify([
        {
          kind: 'official',
          appId: SAFE.appid,
          secret: 'secret-oa-safe',
          token: SAFE.token,
          aesKey: SAFE.aesKey,
        },
      ]),
    },
  });
  c = clientOf(w);
  sql = sqlOf(w.t);
});
afterAll(async () => {
  await w?.stop();
});

async function createTicket(account: PushAccount = PLAIN) {
  const answer = await c.run('CreateLoginTicket', { kind: 'OFFICIAL_ACCOUNT_QR', appId: account.appid });
  expect(answer.errors).toBeUndefined();
  return answer.data!.createLoginTicket;
}

const poll = (id: string, secret: string) => c.run('LoginTicket', { id, secret });

/** `user` follows the account in WeChat (no push): user/info then says so. Their openid there. */
async function follows(account: PushAccount, user: string): Promise<string> {
  await w.emulatorPost('/__emulator/follows', { appid: account.appid, user });
  return w.emulator.people.openid(account.appid, user);
}

const push = (
  account: PushAccount,
  event: Parameters<typeof eventXml>[1],
  options?: { timestamp?: number },
) => sendPush(w.t.url, account, signPush(account, eventXml(account, event), options));

const ticketRow = async (id: string) =>
  (
    await sql<{ state: string; user_id: string | null }>(
      'select state, user_id from login_ticket where id = ?',
      [id],
    )
  )[0]!;

async function tableCounts() {
  const [row] = await sql<Record<string, string>>(
    `select (select count(*) from "user") as users, (select count(*) from user_login_method) as methods,
            (select count(*) from session) as sessions,
            (select count(*) from login_ticket where state <> 'WAITING') as moved`,
  );
  return row;
}

describe('follow-login: an Official Account QR code signs a website in', () => {
  it('shows the account’s QR code, and the follow’s push hands that person’s session to the page', async () => {
    const before = (await w.wechatCalls()).length;
    const ticket = await createTicket();
    expect(ticket.kind).toBe('OFFICIAL_ACCOUNT_QR');
    expect(ticket.scene).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(ticket.link).toBeNull();
    const png = Buffer.from(ticket.qrCode!.replace(/^data:image\/png;base64,/, ''), 'base64');
    expect(png.subarray(0, 8)).toEqual(PNG_MAGIC);
    expect((await w.wechatCalls()).slice(before).filter((p) => p === QR_PATH)).toHaveLength(1);
    expect((await poll(ticket.id, ticket.secret)).data!.loginTicket.state).toBe('WAITING');

    const openid = await follows(PLAIN, 'follow-alice');
    const answer = await push(PLAIN, { openid, event: 'subscribe', eventKey: `qrscene_${ticket.scene}` });
    expect(answer.status).toBe(200);
    // The passive reply, to the person, from the account.
    expect(replyContent(PLAIN, answer.text)).toBe('登录成功');
    expect(answer.text).toContain(`<ToUserName><![CDATA[${openid}]]></ToUserName>`);
    // One user/info call for the unionid: the whole of WeChat's part of this login after the code.
    expect((await w.wechatCalls()).slice(before).filter((p) => p === INFO_PATH)).toHaveLength(1);

    const status = (await poll(ticket.id, ticket.secret)).data!.loginTicket;
    expect(status.state).toBe('CONFIRMED');
    const auth = status.auth!;
    expect(auth.user.loginMethods).toEqual([
      expect.objectContaining({ kind: 'WECHAT_OFFICIAL_ACCOUNT', appId: PLAIN.appid }),
    ]);
    // Once: the next read has no session.
    expect((await poll(ticket.id, ticket.secret)).data!.loginTicket).toEqual({
      state: 'CONFIRMED',
      auth: null,
    });

    // The same person in the mini program is the same account (joined by unionid).
    const mini = await c.run('WechatMiniLogin', {
      input: { code: await w.code(APPS.mini.appid, 'follow-alice') },
    });
    expect(mini.data!.wechatMiniLogin.user.id).toBe(auth.user.id);
    expect(mini.data!.wechatMiniLogin.isNewUser).toBe(false);
  });

  it('signs in a person who already follows, by their scan (SCAN with the bare scene)', async () => {
    const openid = await follows(PLAIN, 'follow-bob');
    const first = await createTicket();
    // A second earlier: one person's events in one second are one event to WeChat's key.
    const earlier = Math.floor(Date.now() / 1000) - 1;
    await push(PLAIN, {
      openid,
      event: 'subscribe',
      eventKey: `qrscene_${first.scene}`,
      createTime: earlier,
    });
    const bob = (await poll(first.id, first.secret)).data!.loginTicket.auth!.user.id;

    const ticket = await createTicket();
    const answer = await push(PLAIN, { openid, event: 'SCAN', eventKey: ticket.scene });
    expect(replyContent(PLAIN, answer.text)).toBe('登录成功');
    const status = (await poll(ticket.id, ticket.secret)).data!.loginTicket;
    expect(status.state).toBe('CONFIRMED');
    expect(status.auth!.user.id).toBe(bob);
    expect(status.auth!.isNewUser).toBe(false);
  });

  it('takes encrypted pushes in safe mode and answers in kind; refuses plain ones there', async () => {
    const openid = await follows(SAFE, 'follow-carol');
    const ticket = await createTicket(SAFE);
    // Plain, validly signed with the Token: not accepted from an account in safe mode.
    const plain = await sendPush(
      w.t.url,
      SAFE,
      signPush(
        { ...SAFE, aesKey: undefined },
        eventXml(SAFE, { openid, event: 'subscribe', eventKey: `qrscene_${ticket.scene}` }),
      ),
    );
    expect(plain.status).toBe(401);
    // Encrypted for another account (the appid inside): refused.
    const foreign = await sendPush(
      w.t.url,
      SAFE,
      signPush(SAFE, eventXml(SAFE, { openid, event: 'subscribe', eventKey: `qrscene_${ticket.scene}` }), {
        receiver: 'wxsomeoneelse',
      }),
    );
    expect(foreign.status).toBe(401);
    expect((await ticketRow(ticket.id)).state).toBe('WAITING');

    const answer = await push(SAFE, { openid, event: 'subscribe', eventKey: `qrscene_${ticket.scene}` });
    expect(answer.status).toBe(200);
    expect(answer.text).toMatch(/^<xml><Encrypt>/);
    expect(answer.text).not.toContain('登录成功');
    expect(replyContent(SAFE, answer.text)).toBe('登录成功');
    expect((await poll(ticket.id, ticket.secret)).data!.loginTicket.state).toBe('CONFIRMED');
  });

  it('changes nothing for forged, stale, replayed or unknown pushes', async () => {
    const openid = await follows(PLAIN, 'follow-dave');
    const ticket = await createTicket();
    const xml = eventXml(PLAIN, { openid, event: 'subscribe', eventKey: `qrscene_${ticket.scene}` });
    const before = await tableCounts();
    const lines = w.t.log.lines.length;

    const forged = signPush({ ...PLAIN, token: 'notTheToken' }, xml);
    expect((await sendPush(w.t.url, PLAIN, forged)).status).toBe(401);
    const stale = signPush(PLAIN, xml, { timestamp: Math.floor(Date.now() / 1000) - 6 * 60 });
    expect((await sendPush(w.t.url, PLAIN, stale)).status).toBe(401);
    const ahead = signPush(PLAIN, xml, { timestamp: Math.floor(Date.now() / 1000) + 6 * 60 });
    expect((await sendPush(w.t.url, PLAIN, ahead)).status).toBe(401);
    const unsigned = { query: { timestamp: String(Math.floor(Date.now() / 1000)), nonce: '1' }, body: xml };
    expect((await sendPush(w.t.url, PLAIN, unsigned)).status).toBe(401);
    // A DOCTYPE (entity tricks) is not read at all.
    const doctype = signPush(PLAIN, `<!DOCTYPE xml [<!ENTITY a "${'x'.repeat(50)}">]>${xml}`);
    expect((await sendPush(w.t.url, PLAIN, doctype)).status).toBe(400);
    // Not an account of ours, or not one with pushes.
    expect((await sendPush(w.t.url, { ...PLAIN, appid: 'wxnobody' }, signPush(PLAIN, xml))).status).toBe(404);
    expect((await sendPush(w.t.url, { ...PLAIN, appid: APPS.mini.appid }, signPush(PLAIN, xml))).status).toBe(
      404,
    );
    // A message claiming another time than its signed push.
    const backdated = eventXml(PLAIN, {
      openid,
      event: 'subscribe',
      eventKey: `qrscene_${ticket.scene}`,
      createTime: Math.floor(Date.now() / 1000) - 3600,
    });
    expect((await sendPush(w.t.url, PLAIN, signPush(PLAIN, backdated))).status).toBe(400);
    // A person WeChat says does not follow (any more): following is the confirmation.
    w.emulator.people.upsert('not-following');
    const stranger = w.emulator.people.openid(PLAIN.appid, 'not-following');
    const notFollowing = await push(PLAIN, { openid: stranger, event: 'SCAN', eventKey: ticket.scene });
    expect(notFollowing).toEqual({ status: 200, text: 'success' });
    // A scene that is no waiting ticket of this account: answered, nothing done.
    const unknown = await push(PLAIN, { openid, event: 'SCAN', eventKey: 'A'.repeat(32) });
    expect(unknown).toEqual({ status: 200, text: 'success' });
    const otherAccount = await push(SAFE, { openid, event: 'SCAN', eventKey: ticket.scene });
    expect(otherAccount).toEqual({ status: 200, text: 'success' });
    expect(await tableCounts()).toEqual(before);
    expect((await ticketRow(ticket.id)).state).toBe('WAITING');

    // Each refusal is one log line, naming the account and why, never the body or a secret.
    const refusals = w.t.log.lines
      .slice(lines)
      .filter((l) => l.includes('push refused') || l.includes('push unreadable'));
    expect(refusals).toHaveLength(6);
    for (const line of refusals) {
      expect(line).not.toContain(openid);
      expect(line).not.toContain(ticket.scene);
      expect(line).not.toContain(PLAIN.token);
    }

    // A retry of one event (same person, same CreateTime) is handled once, whatever it names.
    const createTime = Math.floor(Date.now() / 1000);
    const first = await push(PLAIN, { openid, event: 'SCAN', eventKey: ticket.scene, createTime });
    expect(replyContent(PLAIN, first.text)).toBe('登录成功');
    const next = await createTicket();
    const replayed = await push(PLAIN, { openid, event: 'SCAN', eventKey: next.scene, createTime });
    expect(replayed).toEqual({ status: 200, text: 'success' });
    expect((await ticketRow(next.id)).state).toBe('WAITING');
  });

  it('confirms a ticket once when its push comes many times at once, or two people race for it', async () => {
    const openid = await follows(PLAIN, 'follow-erin');
    const ticket = await createTicket();
    const createTime = Math.floor(Date.now() / 1000);
    const xml = eventXml(PLAIN, { openid, event: 'SCAN', eventKey: ticket.scene, createTime });
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => sendPush(w.t.url, PLAIN, signPush(PLAIN, xml))),
    );
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(answers.filter((a) => replyContent(PLAIN, a.text) === '登录成功')).toHaveLength(1);
    expect(
      (await sql('select 1 from handled_push where app_id = ? and open_id = ?', [PLAIN.appid, openid]))
        .length,
    ).toBe(1);

    const race = await createTicket();
    const people = await Promise.all(['race-1', 'race-2', 'race-3'].map((u) => follows(PLAIN, u)));
    const before = await tableCounts();
    const raced = await Promise.all(
      people.map((p) => push(PLAIN, { openid: p, event: 'subscribe', eventKey: `qrscene_${race.scene}` })),
    );
    expect(raced.filter((a) => replyContent(PLAIN, a.text) === '登录成功')).toHaveLength(1);
    const winner = (await ticketRow(race.id)).user_id;
    expect(winner).not.toBeNull();
    // The others' follows were recorded only as follows: no user was made for them.
    const after = await tableCounts();
    expect(Number(after!.users) - Number(before!.users)).toBe(1);
  });

  it('records unfollows and follows again on the login method, with no change to the account', async () => {
    const openid = await follows(PLAIN, 'follow-fay');
    const ticket = await createTicket();
    await push(PLAIN, { openid, event: 'subscribe', eventKey: `qrscene_${ticket.scene}` });
    const auth = (await poll(ticket.id, ticket.secret)).data!.loginTicket.auth!;
    const unsubscribedAt = async () =>
      (
        await sql<{ unsubscribed_at: Date | null }>(
          'select unsubscribed_at from user_login_method where app_id = ? and open_id = ?',
          [PLAIN.appid, openid],
        )
      )[0]!.unsubscribed_at;
    // Later than the login's push: one person's event per second is WeChat's key (with the openid).
    const t0 = Math.floor(Date.now() / 1000) + 5;

    expect(await push(PLAIN, { openid, event: 'unsubscribe', createTime: t0 })).toEqual({
      status: 200,
      text: 'success',
    });
    expect(new Date((await unsubscribedAt())!).getTime()).toBe(t0 * 1000);
    // An older follow arriving late does not undo it; a newer one does.
    await push(PLAIN, { openid, event: 'subscribe', createTime: t0 - 10 });
    expect(await unsubscribedAt()).not.toBeNull();
    await push(PLAIN, { openid, event: 'subscribe', createTime: t0 + 1 });
    expect(await unsubscribedAt()).toBeNull();
    // The account and its session are as they were.
    const me = await c.gql('{ me { id } }', {}, { authorization: `Bearer ${auth.accessToken}` });
    expect(me.data).toEqual({ me: { id: auth.user.id } });
  });

  it('answers WeChat within its 5 s even when WeChat itself is slow, and finishes the login after', async () => {
    const openid = await follows(PLAIN, 'follow-gus');
    const ticket = await createTicket();
    await w.emulatorPost('/__emulator/faults', { path: INFO_PATH, delayMs: 5500 });
    const started = Date.now();
    const answer = await push(PLAIN, { openid, event: 'subscribe', eventKey: `qrscene_${ticket.scene}` });
    expect(answer).toEqual({ status: 200, text: 'success' });
    expect(Date.now() - started).toBeLessThan(5000);
    await eventually(async () => expect((await ticketRow(ticket.id)).state).toBe('CONFIRMED'));
  });

  it('fails a push whose work fails with 503 and nothing written, so WeChat’s retry does it', async () => {
    const openid = await follows(PLAIN, 'follow-hal');
    const ticket = await createTicket();
    // WeChat busy (-1) on every attempt of this push's user/info call, then no more.
    await w.emulatorPost('/__emulator/faults', { path: INFO_PATH, errcode: -1, times: 3 });
    const createTime = Math.floor(Date.now() / 1000);
    const event = { openid, event: 'subscribe', eventKey: `qrscene_${ticket.scene}`, createTime };
    expect((await push(PLAIN, event)).status).toBe(503);
    expect((await ticketRow(ticket.id)).state).toBe('WAITING');
    const retry = await push(PLAIN, event);
    expect(replyContent(PLAIN, retry.text)).toBe('登录成功');
  });

  it('answers the server-URL check with echostr, and only when signed and fresh', async () => {
    const check = async (query: Record<string, string>, appid = PLAIN.appid) => {
      const response = await fetch(`${w.t.url}/wechat/events/${appid}?${new URLSearchParams(query)}`);
      return { status: response.status, text: await response.text() };
    };
    const timestamp = String(Math.floor(Date.now() / 1000));
    const nonce = '1514711637';
    const signature = pushSignature(PLAIN.token, timestamp, nonce);
    expect(await check({ signature, timestamp, nonce, echostr: '5837397749466968112' })).toEqual({
      status: 200,
      text: '5837397749466968112',
    });
    expect((await check({ signature: 'f'.repeat(40), timestamp, nonce, echostr: 'x' })).status).toBe(401);
    const old = String(Number(timestamp) - 301);
    expect(
      (
        await check({
          signature: pushSignature(PLAIN.token, old, nonce),
          timestamp: old,
          nonce,
          echostr: 'x',
        })
      ).status,
    ).toBe(401);
    expect((await check({ signature, timestamp, nonce, echostr: 'x' }, 'wxnobody')).status).toBe(404);
  });

  it('refuses bodies over its limit, and tickets for accounts without pushes', async () => {
    const big = signPush(PLAIN, `<xml><Pad>${'x'.repeat(70 * 1024)}</Pad></xml>`);
    expect((await sendPush(w.t.url, PLAIN, big)).status).toBe(413);
    const mini = await c.run('CreateLoginTicket', { kind: 'OFFICIAL_ACCOUNT_QR', appId: APPS.mini.appid });
    expect(errorCode(mini)).toBe('BAD_USER_INPUT');
  });

  it('answers odd requests with a status of their own, never a 500', async () => {
    const url = `${w.t.url}/wechat/events/${PLAIN.appid}`;
    const xml = eventXml(PLAIN, { openid: 'oOdd', event: 'SCAN', eventKey: 'C'.repeat(32) });
    const signed = signPush(PLAIN, xml);
    const query = new URLSearchParams(signed.query);
    const statuses = await Promise.all([
      // No content type, a JSON one: the body is read as text all the same.
      fetch(`${url}?${query}`, { method: 'POST', body: xml }).then((r) => r.status),
      fetch(`${url}?${query}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: xml,
      }).then((r) => r.status),
      // A compressed body is not read as one: not XML.
      fetch(`${url}?${query}`, {
        method: 'POST',
        headers: { 'content-encoding': 'gzip' },
        body: gzipSync(xml),
      }).then((r) => r.status),
      // A repeated signature counts as none.
      fetch(`${url}?${query}&signature=${signed.query.signature}`, { method: 'POST', body: xml }).then(
        (r) => r.status,
      ),
      fetch(`${w.t.url}/wechat/events/${'x'.repeat(300)}?${query}`, { method: 'POST', body: xml }).then(
        (r) => r.status,
      ),
    ]);
    expect(statuses).toEqual([200, 200, 400, 401, 414]);
  });

  // Last: it leaves this client refused for a minute.
  it('stops reading a client that keeps sending refused pushes, and stops logging them', async () => {
    const xml = eventXml(PLAIN, { openid: 'oNobody', event: 'SCAN', eventKey: 'B'.repeat(32) });
    const forged = () => sendPush(w.t.url, PLAIN, signPush({ ...PLAIN, token: 'guessedToken' }, xml));
    const lines = w.t.log.lines.length;
    const answers = [];
    for (let i = 0; i < 25; i++) answers.push((await forged()).status);
    expect(answers.slice(-3)).toEqual([429, 429, 429]);
    expect(answers.filter((status) => status === 401).length).toBeLessThanOrEqual(20);
    // Past the limit even the right Token is not looked at (no guessing).
    expect((await push(PLAIN, { openid: 'oNobody', event: 'SCAN', eventKey: 'B'.repeat(32) })).status).toBe(
      429,
    );
    const logged = w.t.log.lines.slice(lines).filter((l) => l.includes('push refused')).length;
    expect(logged).toBeLessThanOrEqual(20);
  });
});
