import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { errorCode } from './support/graphql.js';
import { clientOf, type Client } from './support/client.js';
import { APPS, AUTH_SECRET, startWorld, type World } from './support/world.js';

const UPDATE_PROFILE = `mutation ($input: UpdateProfileInput!) {
  updateProfile(input: $input) { id nickname avatarUrl loginMethods { kind } }
}`;
const ME = `query { me { id nickname avatarUrl } }`;

interface ProfileUser {
  id: string;
  nickname: string | null;
  avatarUrl: string | null;
  loginMethods?: { kind: string }[];
}

let w: World;
let c: Client;

beforeAll(async () => {
  // One person here edits their profile far more often than the per-person limit allows.
  w = await startWorld({ env: { RATE_LIMIT_USER_PER_MINUTE: '1000' } });
  c = clientOf(w, { redirectUri: 'https://site.example/cb' });
});
afterAll(async () => {
  await w?.stop();
});
beforeEach(async () => {
  await w.emulatorPost('/__emulator/reset', {});
});

function updateProfile(accessToken: string | null, input: Record<string, unknown>) {
  return w.gql<{ updateProfile: ProfileUser }>(
    UPDATE_PROFILE,
    { input },
    accessToken ? { authorization: `Bearer ${accessToken}` } : {},
  );
}

/** The user's row as stored. */
async function row(userId: string) {
  const [found] = await c.sql<{
    nickname: string | null;
    avatar_url: string | null;
    profile_chosen_at: string | null;
  }>(`select nickname, avatar_url, profile_chosen_at from "user" where id = ?`, [userId]);
  return found!;
}

/** Makes the user's web profile a day and a minute old, so the next web login asks userinfo again. */
async function ageWebProfile(userId: string): Promise<void> {
  await c.sql(
    `update user_login_method set profile_refreshed_at = now() - interval '1 day 1 minute' where user_id = ? and kind = 'WECHAT_WEB'`,
    [userId],
  );
}

describe('updateProfile', () => {
  it('stores a trimmed nickname and an https avatar, and answers the updated user', async () => {
    const login = await c.loginAs('mini', 'amy');
    expect(login.user).toMatchObject({ nickname: null, avatarUrl: null });
    const body = await updateProfile(login.accessToken, {
      nickname: '  Amy 🌸  ',
      avatarUrl: 'https://cdn.example.com/avatars/amy.png?v=2',
    });
    expect(body.errors).toBeUndefined();
    expect(body.data!.updateProfile).toEqual({
      id: login.user.id,
      nickname: 'Amy 🌸',
      avatarUrl: 'https://cdn.example.com/avatars/amy.png?v=2',
      loginMethods: [{ kind: 'WECHAT_MINI' }],
    });
    const me = await w.gql<{ me: ProfileUser }>(ME, {}, { authorization: `Bearer ${login.accessToken}` });
    expect(me.data!.me).toEqual({
      id: login.user.id,
      nickname: 'Amy 🌸',
      avatarUrl: 'https://cdn.example.com/avatars/amy.png?v=2',
    });
    expect((await row(login.user.id)).profile_chosen_at).not.toBeNull();
  });

  it('changes only the field given; null leaves a field as it is', async () => {
    const login = await c.loginAs('mini', 'ben');
    await updateProfile(login.accessToken, { nickname: 'Ben', avatarUrl: 'https://cdn.example.com/ben.png' });
    const nicknameOnly = await updateProfile(login.accessToken, { nickname: 'Benny', avatarUrl: null });
    expect(nicknameOnly.data!.updateProfile).toMatchObject({
      nickname: 'Benny',
      avatarUrl: 'https://cdn.example.com/ben.png',
    });
    const avatarOnly = await updateProfile(login.accessToken, {
      avatarUrl: 'https://cdn.example.com/b2.png',
    });
    expect(avatarOnly.data!.updateProfile).toMatchObject({
      nickname: 'Benny',
      avatarUrl: 'https://cdn.example.com/b2.png',
    });
  });

  it('accepts a nickname of 64 emoji (128 UTF-16 units) and refuses 65', async () => {
    const login = await c.loginAs('mini', 'cat');
    const sixtyFour = '😀'.repeat(64);
    expect(sixtyFour).toHaveLength(128);
    const ok = await updateProfile(login.accessToken, { nickname: sixtyFour });
    expect(ok.errors).toBeUndefined();
    expect(ok.data!.updateProfile.nickname).toBe(sixtyFour);
    expect((await row(login.user.id)).nickname).toBe(sixtyFour);

    const tooLong = await updateProfile(login.accessToken, { nickname: '😀'.repeat(65) });
    expect(errorCode(tooLong)).toBe('BAD_USER_INPUT');
    expect(tooLong.errors![0]!.extensions!.field).toBe('nickname');
    expect((await row(login.user.id)).nickname).toBe(sixtyFour);
  });

  it('accepts the emulator’s loopback http avatar outside production, and an emoji sequence with joiners', async () => {
    const login = await c.loginAs('mini', 'dan');
    const avatarUrl = `${w.emulator.url}/__emulator/avatars/dan.svg`;
    const body = await updateProfile(login.accessToken, { nickname: '👩‍💻 Dan', avatarUrl });
    expect(body.errors).toBeUndefined();
    expect(body.data!.updateProfile).toMatchObject({ nickname: '👩‍💻 Dan', avatarUrl });
    const localhost = await updateProfile(login.accessToken, {
      avatarUrl: 'http://localhost:4000/up/dan.png',
    });
    expect(localhost.data!.updateProfile.avatarUrl).toBe('http://localhost:4000/up/dan.png');
  });

  it('refuses WeChat’s anonymous “微信用户” as a nickname', async () => {
    const login = await c.loginAs('mini', 'eli');
    await updateProfile(login.accessToken, { nickname: 'Eli' });
    for (const nickname of ['微信用户', '  微信用户 ', '微信\u200B用户']) {
      const body = await updateProfile(login.accessToken, { nickname });
      expect(errorCode(body)).toBe('BAD_USER_INPUT');
      expect(body.errors![0]!.extensions!.field).toBe('nickname');
      expect(body.errors![0]!.message).toContain('微信用户');
    }
    expect((await row(login.user.id)).nickname).toBe('Eli');
  });

  const longUrl = `https://cdn.example.com/${'a'.repeat(2049 - 'https://cdn.example.com/'.length)}`;

  it.each([
    ['empty input', 'input', {}],
    ['both null', 'input', { nickname: null, avatarUrl: null }],
    ['an empty nickname', 'nickname', { nickname: '' }],
    ['a nickname of spaces', 'nickname', { nickname: ' \u3000 ' }],
    ['an invisible nickname', 'nickname', { nickname: '\u200B\u3164' }],
    ['a nickname of 65 letters', 'nickname', { nickname: 'x'.repeat(65) }],
    ['a NUL in the nickname', 'nickname', { nickname: 'a\u0000b' }],
    ['a newline in the nickname', 'nickname', { nickname: 'a\nb' }],
    ['an escape in the nickname', 'nickname', { nickname: 'a\u001b[31mb' }],
    ['a line separator in the nickname', 'nickname', { nickname: 'a\u2028b' }],
    ['a bidi override in the nickname', 'nickname', { nickname: '\u202Etxt.exe' }],
    ['a lone surrogate in the nickname', 'nickname', { nickname: 'a\uD800b' }],
    ['an http avatar off loopback', 'avatarUrl', { avatarUrl: 'http://cdn.example.com/a.png' }],
    ['an ftp avatar', 'avatarUrl', { avatarUrl: 'ftp://cdn.example.com/a.png' }],
    ['a javascript: avatar', 'avatarUrl', { avatarUrl: 'javascript:alert(1)' }],
    ['a data: avatar', 'avatarUrl', { avatarUrl: 'data:image/png;base64,iVBORw0KGgo=' }],
    ['a relative avatar', 'avatarUrl', { avatarUrl: '/avatars/a.png' }],
    ['not a URL', 'avatarUrl', { avatarUrl: 'not a url' }],
    ['an empty avatar', 'avatarUrl', { avatarUrl: '' }],
    ['an avatar with user and password', 'avatarUrl', { avatarUrl: 'https://u:p@cdn.example.com/a.png' }],
    ['an avatar with a user name', 'avatarUrl', { avatarUrl: 'https://u@cdn.example.com/a.png' }],
    ['an avatar with a newline', 'avatarUrl', { avatarUrl: 'https://cdn.example.com/a\n.png' }],
    ['an avatar of 2049 characters', 'avatarUrl', { avatarUrl: longUrl }],
    ['a good nickname with a bad avatar', 'avatarUrl', { nickname: 'Fine', avatarUrl: 'http://x.example/a' }],
  ])('answers %s with BAD_USER_INPUT naming %s, and changes nothing', async (_name, field, input) => {
    const login = await c.loginAs('mini', 'fay');
    await updateProfile(login.accessToken, { nickname: 'Fay', avatarUrl: 'https://cdn.example.com/fay.png' });
    const before = await row(login.user.id);
    const body = await updateProfile(login.accessToken, input);
    expect(body.data).toBeNull();
    expect(errorCode(body)).toBe('BAD_USER_INPUT');
    expect(body.errors![0]!.extensions!.field).toBe(field);
    expect(await row(login.user.id)).toEqual(before);
  });

  it('answers a nickname that is not a string with BAD_USER_INPUT, not a crash', async () => {
    const login = await c.loginAs('mini', 'fox');
    const body = await updateProfile(login.accessToken, { nickname: 42, avatarUrl: ['https://a.example/'] });
    expect(errorCode(body)).toBe('BAD_USER_INPUT');
    expect((await row(login.user.id)).nickname).toBeNull();
  });

  it('accepts an avatar of exactly 2048 characters', async () => {
    const login = await c.loginAs('mini', 'gus');
    const url = `https://cdn.example.com/${'a'.repeat(2048 - 'https://cdn.example.com/'.length)}`;
    expect(url).toHaveLength(2048);
    const body = await updateProfile(login.accessToken, { avatarUrl: url });
    expect(body.data!.updateProfile.avatarUrl).toBe(url);
  });

  it('answers UNAUTHENTICATED without a token, with a forged one and after logout, and writes nothing', async () => {
    const login = await c.loginAs('mini', 'hal');
    for (const token of [null, 'not.a.jwt', `${login.accessToken.slice(0, -4)}AAAA`]) {
      const body = await updateProfile(token, { nickname: 'Mallory' });
      expect(body.data).toBeNull();
      expect(errorCode(body)).toBe('UNAUTHENTICATED');
    }
    const logout = await w.gql(`mutation { logout }`, {}, { authorization: `Bearer ${login.accessToken}` });
    expect(logout.errors).toBeUndefined();
    expect(errorCode(await updateProfile(login.accessToken, { nickname: 'Mallory' }))).toBe(
      'UNAUTHENTICATED',
    );
    expect((await row(login.user.id)).nickname).toBeNull();
  });
});

describe('a profile the person chose, and later logins', () => {
  it('is not replaced by WeChat’s profile at later logins, which only fill what is empty', async () => {
    await w.emulatorPost('/__emulator/users', {
      key: 'ivy',
      nickname: 'Ivy on WeChat',
      avatarUrl: 'https://thirdwx.example/ivy/132',
    });
    const mini = await c.loginAs('mini', 'ivy');
    const chosen = await updateProfile(mini.accessToken, { nickname: 'Ivy' });
    expect(chosen.data!.updateProfile).toMatchObject({ nickname: 'Ivy', avatarUrl: null });

    // A new login method (the website): WeChat's nickname is not taken, its avatar fills the empty one.
    const web = await c.loginAs('web', 'ivy');
    expect(web.user).toMatchObject({
      id: mini.user.id,
      nickname: 'Ivy',
      avatarUrl: 'https://thirdwx.example/ivy/132',
    });

    // The daily profile refresh: userinfo is asked again, and changes nothing the person has.
    await w.emulatorPost('/__emulator/users', {
      key: 'ivy',
      nickname: 'Ivy renamed on WeChat',
      avatarUrl: 'https://thirdwx.example/ivy2/132',
    });
    await ageWebProfile(mini.user.id);
    const refreshed = await c.loginAs('web', 'ivy');
    expect(await w.wechatCalls()).toContain('/sns/userinfo');
    expect(refreshed.user).toMatchObject({ nickname: 'Ivy', avatarUrl: 'https://thirdwx.example/ivy/132' });

    // The mini program's real (pre-2022) profile data does not replace it either.
    const code = await w.code(APPS.mini.appid, 'ivy');
    const data = await w.emulatorPost<Record<string, string>>('/__emulator/encrypted-data', {
      appid: APPS.mini.appid,
      user: 'ivy',
      real: true,
    });
    const withData = await c.run('WechatMiniLogin', { input: { code, ...data } });
    expect(withData.data!.wechatMiniLogin.user).toMatchObject({ nickname: 'Ivy' });

    // And the one-statement returning login answers what is stored.
    expect((await c.loginAs('mini', 'ivy')).user).toMatchObject({
      nickname: 'Ivy',
      avatarUrl: 'https://thirdwx.example/ivy/132',
    });
  });

  it('still refreshes WeChat’s profile daily for a person who never chose their own', async () => {
    await w.emulatorPost('/__emulator/users', {
      key: 'jon',
      nickname: 'Jon',
      avatarUrl: 'https://thirdwx.example/jon/132',
    });
    const first = await c.loginAs('web', 'jon');
    expect(first.user.nickname).toBe('Jon');
    await w.emulatorPost('/__emulator/users', {
      key: 'jon',
      nickname: 'Jonathan',
      avatarUrl: 'https://thirdwx.example/jon2/132',
    });
    await ageWebProfile(first.user.id);
    const refreshed = await c.loginAs('web', 'jon');
    expect(refreshed.user).toMatchObject({
      nickname: 'Jonathan',
      avatarUrl: 'https://thirdwx.example/jon2/132',
    });
    expect((await row(first.user.id)).profile_chosen_at).toBeNull();
  });
});

describe('updateProfile in production', () => {
  it('refuses loopback http avatars there', async () => {
    const prod = await startWorld({
      env: {
        NODE_ENV: 'production',
        AUTH_SECRET,
        WECHAT_WEB_REDIRECT_URIS: 'https://site.example/cb',
      },
    });
    try {
      const login = (await clientOf(prod).login('mini', 'kim')).data!.wechatMiniLogin;
      const auth = { authorization: `Bearer ${login.accessToken}` };
      for (const avatarUrl of [`${prod.emulator.url}/__emulator/avatars/kim.svg`, 'http://localhost/a.png']) {
        const body = await prod.gql(UPDATE_PROFILE, { input: { avatarUrl } }, auth);
        expect(errorCode(body)).toBe('BAD_USER_INPUT');
        expect(body.errors![0]!.extensions!.field).toBe('avatarUrl');
        expect(body.errors![0]!.message).toBe('avatarUrl must be an https:// URL');
      }
      const ok = await prod.gql<{ updateProfile: ProfileUser }>(
        UPDATE_PROFILE,
        { input: { avatarUrl: 'https://cdn.example.com/kim.png' } },
        auth,
      );
      expect(ok.data!.updateProfile.avatarUrl).toBe('https://cdn.example.com/kim.png');
    } finally {
      await prod.stop();
    }
  });
});
