import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { LoginRepository } from '../src/sessions/login.repository.js';
import { clientOf, type Client, type Session } from './support/client.js';
import { APPS, startWorld, type World } from './support/world.js';

/**
 * A mini program bound to the Open Platform after people used it: a person who also logged in on
 * the website is two users; the mini program's next login reveals the unionid the website's user
 * holds. Nothing is merged, nobody else takes that unionid, and every login says so.
 */

let w: World;
let c: Client;

/** The users holding a unionId (user.union_id), by id. */
async function holders(unionId: string): Promise<string[]> {
  const rows = await c.sql<{ id: string }>(`select id from "user" where union_id = ?`, [unionId]);
  return rows.map((r) => r.id);
}

/** The one-statement returning login, as SignIn.returning runs it, for an identity of the mini program. */
async function fastPath(openId: string, unionId: string) {
  const em = w.t.server.database.orm.em.fork();
  const session = {
    sessionId: randomUUID(),
    tokenHash: randomBytes(32).toString('base64url'),
    expiresAt: new Date(Date.now() + 3_600_000),
    device: { userAgent: null, ipPrefix: null },
  };
  return LoginRepository.returning(em, {
    appId: APPS.mini.appid,
    openId,
    unionId,
    sealedAccessCode: null,
    profileFreshAfter: null,
    session,
    now: new Date(),
    audit: { requestId: null, auditDetails: '{"kind":"WECHAT_MINI"}' },
  });
}

describe('a mini program bound to the Open Platform after people used it', () => {
  let web: Session;
  let mini: Session;
  let unionId: string;

  beforeAll(async () => {
    w = await startWorld({ apps: { mini: { ...APPS.mini, bound: false } } });
    c = clientOf(w);
    web = await c.loginAs('web', 'lena');
    unionId = web.user.loginMethods[0]!.unionId!;
    expect(unionId).toBeTruthy();
    mini = await c.loginAs('mini', 'lena');
    expect(mini).toMatchObject({ isNewUser: true, otherAccountExists: false });
    expect(mini.user.id).not.toBe(web.user.id);
    expect(mini.user.loginMethods).toEqual([expect.objectContaining({ kind: 'WECHAT_MINI', unionId: null })]);
    // Noor met us only through the mini program before it was bound.
    expect(await c.loginAs('mini', 'noor')).toMatchObject({ isNewUser: true, otherAccountExists: false });

    const bound = await w.emulatorPost('/__emulator/apps/bind', { appid: APPS.mini.appid });
    expect(bound).toEqual({ appid: APPS.mini.appid, kind: 'mini', bound: true });
  });
  afterAll(async () => {
    await w?.stop();
  });

  it('answers the mini program’s user, flagged, and leaves the unionid with the web user', async () => {
    const first = await c.loginAs('mini', 'lena');
    expect(first).toMatchObject({ isNewUser: false, otherAccountExists: true, user: { id: mini.user.id } });
    // The method keeps what WeChat said of it, so a later merge can find it; no user holds it twice.
    expect(first.user.loginMethods).toEqual([expect.objectContaining({ kind: 'WECHAT_MINI', unionId })]);
    expect(await holders(unionId)).toEqual([web.user.id]);
    expect((await c.userRow(mini.user.id)).union_id).toBeNull();

    // Again: the method now carries the unionid, so this is the one-statement path; still flagged.
    const again = await c.loginAs('mini', 'lena');
    expect(again).toMatchObject({ isNewUser: false, otherAccountExists: true, user: { id: mini.user.id } });
    const openId = first.user.loginMethods[0]!.openId;
    const fast = await fastPath(openId, unionId);
    expect(fast).not.toBeNull();
    expect(fast!.user.id).toBe(mini.user.id);
    expect(fast!.otherAccountExists).toBe(true);
    expect(await holders(unionId)).toEqual([web.user.id]);

    const webAgain = await c.loginAs('web', 'lena');
    expect(webAgain).toMatchObject({
      isNewUser: false,
      otherAccountExists: false,
      user: { id: web.user.id },
    });
    expect(webAgain.user.loginMethods).toEqual([expect.objectContaining({ kind: 'WECHAT_WEB', unionId })]);
  });

  it('says it on refreshSession too: the flagged user yes, the holder no', async () => {
    const flagged = await c.loginAs('mini', 'lena');
    const refreshed = await c.refresh(flagged.refreshToken);
    expect(refreshed.errors).toBeUndefined();
    expect(refreshed.data!.refreshSession).toMatchObject({
      otherAccountExists: true,
      user: { id: mini.user.id },
    });
    const holder = await c.loginAs('web', 'lena');
    const holderRefreshed = await c.refresh(holder.refreshToken);
    expect(holderRefreshed.data!.refreshSession).toMatchObject({
      otherAccountExists: false,
      user: { id: web.user.id },
    });
  });

  it('answers 10 concurrent logins as the same user, all flagged, with no error and no new row', async () => {
    const before = await w.counts();
    const logins = await Promise.all(Array.from({ length: 10 }, () => c.loginAs('mini', 'lena')));
    for (const login of logins) {
      expect(login).toMatchObject({ isNewUser: false, otherAccountExists: true, user: { id: mini.user.id } });
    }
    const after = await w.counts();
    expect(after.users).toBe(before.users);
    expect(after.methods).toBe(before.methods);
    expect(after.sessions - before.sessions).toBe(10);
    expect(await holders(unionId)).toEqual([web.user.id]);
  });

  it('lets a user nobody else holds the unionid of claim it, unflagged, and find them from the website', async () => {
    const noorUnionId = (await w.emulatorPost<{ unionid: string }>('/__emulator/users', { key: 'noor' }))
      .unionid;
    const noor = await c.loginAs('mini', 'noor');
    expect(noor).toMatchObject({ isNewUser: false, otherAccountExists: false });
    expect(await holders(noorUnionId)).toEqual([noor.user.id]);
    const fast = await fastPath(noor.user.loginMethods[0]!.openId, noorUnionId);
    expect(fast).toMatchObject({ otherAccountExists: false, user: { id: noor.user.id } });
    const web = await c.loginAs('web', 'noor');
    expect(web).toMatchObject({ isNewUser: false, otherAccountExists: false, user: { id: noor.user.id } });
  });

  it('does not take the one-statement path while the user can still claim the unionid', async () => {
    await c.loginAs('mini', 'omar'); // bound now: Omar's user holds his unionid from the start.
    const omarUnionId = (await w.emulatorPost<{ unionid: string }>('/__emulator/users', { key: 'omar' }))
      .unionid;
    const omar = await c.loginAs('mini', 'omar');
    // As the old behaviour could leave it: the method knows the unionid, its user does not, nobody does.
    await c.sql(`update "user" set union_id = null where id = ?`, [omar.user.id]);
    expect(await fastPath(omar.user.loginMethods[0]!.openId, omarUnionId)).toBeNull();
    const healed = await c.loginAs('mini', 'omar');
    expect(healed).toMatchObject({ otherAccountExists: false, user: { id: omar.user.id } });
    expect(await holders(omarUnionId)).toEqual([omar.user.id]);
  });
});
