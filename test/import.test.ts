import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { clientOf, type Client } from './support/client.js';
import { errorCode } from './support/graphql.js';
import { startWebhookReceiver, type WebhookReceiver } from './support/webhook-receiver.js';
import { APPS, insertUser, startWorld, wechatEnv, type World } from './support/world.js';

/**
 * `npm run import` as a process of its own against the world's database, with registration closed:
 * the file's good lines imported, its bad ones reported by number (never with their values), run
 * again to no effect; then an imported user is found by the phone number of a mini program login.
 */
const SECRET = `whsec_${Buffer.from('import-test-secret-of-32-bytes!!').toString('base64')}`;

let w: World;
let c: Client;
let receiver: WebhookReceiver;
let dir: string;

beforeAll(async () => {
  receiver = await startWebhookReceiver();
  w = await startWorld({
    env: { REGISTRATION: 'closed', RATE_LIMIT: 'off', WEBHOOK_URLS: receiver.url, WEBHOOK_SECRET: SECRET },
  });
  c = clientOf(w);
  dir = await mkdtemp(path.join(tmpdir(), 'import-test-'));
}, 60_000);
afterAll(async () => {
  await w?.stop();
  await receiver?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The CLI on `lines` (a file of them), with the world's database and apps: its exit code and output. */
async function runImport(lines: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const file = path.join(dir, 'users.jsonl');
  await writeFile(file, `${lines.join('\n')}\n`);
  const child = spawn(
    process.execPath,
    ['--import', '@swc-node/register/esm-register', 'src/import/import-users.ts', file],
    {
      env: {
        ...process.env,
        NODE_OPTIONS: '',
        ...wechatEnv(APPS, w.emulator.url),
        WECHAT_EMULATOR: 'off',
        DATABASE_URL: w.t.db.url,
        DATABASE_POOL_MAX: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  return { code, stdout, stderr };
}

const openid = (role: keyof typeof APPS, person: string) =>
  w.emulator.people.openid(APPS[role].appid, person);

/** The users the import wrote, by externalId: their fields and login methods. */
async function imported() {
  return c.sql<{
    external_id: string;
    nickname: string | null;
    phone_number: string | null;
    methods: string;
  }>(
    `select u.external_id, u.nickname, u.phone_number,
            (select string_agg(m.kind || ' ' || m.app_id, ',' order by m.kind) from user_login_method m
              where m.user_id = u.id) as methods
       from "user" u where u.external_id is not null order by u.external_id`,
  );
}

async function rows() {
  const [row] = await c.sql<Record<string, string>>(
    `select (select count(*) from "user") as users, (select count(*) from user_login_method) as methods,
            (select count(*) from webhook_delivery) as webhooks`,
  );
  return row;
}

let lines: string[];

describe('npm run import', () => {
  it('imports the good lines, reports the others by number and never with their values', async () => {
    await insertUser(w, 'olga', 'web');
    lines = [
      JSON.stringify({
        externalId: 'e1',
        nickname: 'Ann',
        phoneNumber: '+8613800000001',
        unionId: w.emulator.people.unionidOf('ann'),
        identities: [{ appId: APPS.app.appid, openId: openid('app', 'ann') }],
      }),
      '{"externalId": "e2", "phoneNumber": "+8613800000002"',
      JSON.stringify({ externalId: 'e3', phoneNumber: '13800000003' }),
      JSON.stringify({ externalId: 'e1', nickname: 'Ann again' }),
      JSON.stringify({
        externalId: 'e5',
        identities: [{ appId: APPS.web.appid, openId: openid('web', 'olga') }],
      }),
      JSON.stringify({ externalId: 'e6', unionId: w.emulator.people.unionidOf('olga') }),
      JSON.stringify({ externalId: 'e7', identities: [{ appId: 'wxnotours', openId: 'o-7' }] }),
      JSON.stringify({ externalId: 'e8', nickname: 'Pia', phoneNumber: '+8613800000008' }),
      '',
      JSON.stringify({ externalId: 'e10', nickname: '\u202Eevil' }),
    ];
    const before = await rows();
    const run = await runImport(lines);
    expect(run.stdout).toMatch(/^imported 2, already there 1, refused 6 \(of 10 lines\) in \d+\.\d s\n$/);
    expect(run.stderr.split('\n').filter(Boolean)).toEqual([
      'line 2: is not JSON',
      'line 3: phoneNumber is not E.164 (+, country code and number, digits only: +8613800138000)',
      'line 7: identities[0].appId "wxnotours" is no WeChat app configured here',
      'line 10: nickname must not contain control characters, line separators, bidi overrides or broken Unicode',
      "line 5: identities[0] is another user's login method",
      'line 6: unionId is held by another user',
    ]);
    expect(run.code).toBe(2);
    for (const number of ['13800000001', '13800000002', '13800000003', '13800000008']) {
      expect(run.stdout + run.stderr).not.toContain(number);
    }
    expect(await imported()).toEqual([
      {
        external_id: 'e1',
        nickname: 'Ann',
        phone_number: '+8613800000001',
        methods: `WECHAT_APP ${APPS.app.appid}`,
      },
      { external_id: 'e8', nickname: 'Pia', phone_number: '+8613800000008', methods: null },
    ]);
    const after = await rows();
    expect(Number(after!.users)).toBe(Number(before!.users) + 2);
    expect(Number(after!.methods)).toBe(Number(before!.methods) + 1);
    // Not sign-ups: no user.created.
    expect(after!.webhooks).toBe(before!.webhooks);
  });

  it('changes nothing when run again', async () => {
    const before = await rows();
    const run = await runImport(lines);
    expect(run.stdout).toMatch(/^imported 0, already there 3, refused 6 \(of 10 lines\)/);
    expect(run.code).toBe(2);
    expect(await rows()).toEqual(before);
  });

  it('signs an imported identity in as its imported user, registration closed', async () => {
    const [e1] = await imported();
    const ann = await c.loginAs('app', 'ann');
    expect(ann.isNewUser).toBe(false);
    expect(ann.user.nickname).toBe('Ann');
    const [row] = await c.sql<{ external_id: string }>(`select external_id from "user" where id = ?`, [
      ann.user.id,
    ]);
    expect(row!.external_id).toBe(e1!.external_id);
  });
});

describe('a mini program login whose verified phone number is an imported user’s', () => {
  const phoneCode = async (person: string, phoneNumber: string) =>
    (
      await w.emulatorPost<{ code: string }>('/__emulator/phone-codes', {
        appid: APPS.mini.appid,
        user: person,
        phoneNumber,
      })
    ).code;

  it('links the new identity to that user (not a new user), who learns its unionid; then logs in as them', async () => {
    const before = await rows();
    const login = await c.loginAs('mini', 'pia', { phoneCode: await phoneCode('pia', '13800000008') });
    expect(login.isNewUser).toBe(false);
    expect(login.user.nickname).toBe('Pia');
    const user = await c.userRow(login.user.id);
    expect(user).toMatchObject({ phone_number: '+8613800000008', methods: 1 });
    expect(user.union_id).toBe(w.emulator.people.unionidOf('pia'));
    const after = await rows();
    expect(Number(after!.users)).toBe(Number(before!.users));
    // The audit log says how the identity found its user.
    const [event] = await c.sql<{ app_id: string; details: Record<string, unknown> }>(
      `select app_id, details from audit_event where user_id = ? and type = 'login.succeeded'`,
      [login.user.id],
    );
    expect(event).toEqual({
      app_id: APPS.mini.appid,
      details: {
        kind: 'WECHAT_MINI',
        isNewUser: false,
        linkedByImportedPhone: true,
      },
    });

    // Later logins, without a phone code, find the identity.
    const again = await c.loginAs('mini', 'pia');
    expect(again.user.id).toBe(login.user.id);
    // And the unionid joins the person's other apps.
    expect((await c.loginAs('web', 'pia')).user.id).toBe(login.user.id);
  });

  it('links nobody when the number is another person’s login: registration closed refuses them', async () => {
    // Pia's imported user has a mini program identity now: another person with her number is not her.
    const before = await rows();
    const answer = await c.login('mini', 'quinn', { phoneCode: await phoneCode('quinn', '13800000008') });
    expect(errorCode(answer)).toBe('REGISTRATION_CLOSED');
    expect(await rows()).toEqual(before);
  });
});

describe('the phone-matched link with registration open', () => {
  let open: World;
  let oc: Client;
  beforeAll(async () => {
    open = await startWorld({ env: { RATE_LIMIT: 'off' } });
    oc = clientOf(open);
  }, 60_000);
  afterAll(async () => {
    await open?.stop();
  });

  /** An imported user with this number and no identity; its id. */
  async function importedUser(externalId: string, phoneNumber: string): Promise<string> {
    const [row] = await oc.sql<{ id: string }>(
      `insert into "user" (id, external_id, phone_number, created_at, updated_at)
       values (gen_random_uuid(), ?, ?, now(), now()) returning id`,
      [externalId, phoneNumber],
    );
    return row!.id;
  }

  const phoneLogin = async (person: string, phoneNumber: string) => {
    const { code } = await open.emulatorPost<{ code: string }>('/__emulator/phone-codes', {
      appid: APPS.mini.appid,
      user: person,
      phoneNumber,
    });
    return oc.login('mini', person, { phoneCode: code });
  };

  it('links instead of registering (the one-statement first login steps aside)', async () => {
    const userId = await importedUser('o1', '+8613900000001');
    const answer = await phoneLogin('rita', '13900000001');
    expect(answer.errors).toBeUndefined();
    expect(answer.data!.wechatMiniLogin.isNewUser).toBe(false);
    expect(answer.data!.wechatMiniLogin.user.id).toBe(userId);
  });

  it('registers a new user when two imported users have the number, or only a signed-up one', async () => {
    await importedUser('o2', '+8613900000002');
    await importedUser('o3', '+8613900000002');
    const ambiguous = await phoneLogin('sam', '13900000002');
    expect(ambiguous.data!.wechatMiniLogin.isNewUser).toBe(true);

    const signedUp = await oc.loginAs('web', 'tess');
    await oc.sql(`update "user" set phone_number = '+8613900000004' where id = ?`, [signedUp.user.id]);
    const other = await phoneLogin('uma', '13900000004');
    expect(other.data!.wechatMiniLogin.isNewUser).toBe(true);
    expect(other.data!.wechatMiniLogin.user.id).not.toBe(signedUp.user.id);
  });

  it('links one of two people who log in at once with the number; the other is a new user', async () => {
    const userId = await importedUser('o5', '+8613900000005');
    const [a, b] = await Promise.all([phoneLogin('vera', '13900000005'), phoneLogin('walt', '13900000005')]);
    const users = [a, b].map((answer) => answer.data!.wechatMiniLogin);
    expect(users.filter((u) => u.user.id === userId)).toHaveLength(1);
    expect(users.filter((u) => u.isNewUser)).toHaveLength(1);
    expect((await oc.userRow(userId)).methods).toBe(1);
  });
});
