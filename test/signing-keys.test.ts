import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { MikroORM } from '@mikro-orm/postgresql';
import { decodeProtectedHeader, type JSONWebKeySet } from 'jose';
import { createOrmConfig } from '../mikro-orm.config.js';
import { createEmulator, type Emulator } from '../src/emulator/emulator.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { createClient, type Client } from './support/client.js';
import { freePort, spawnServer, type ServerProcess } from './support/process.js';
import { sqlAt } from './support/sql.js';
import { APPS, wechatEnv } from './support/world.js';
import { eventually } from './support/eventually.js';

/** Signing keys shared by server processes on one database: made once, rotated once, sealed. */
let emulator: Emulator;

beforeAll(async () => {
  emulator = await createEmulator({ apps: Object.values(APPS) });
});
afterAll(async () => {
  await emulator?.close();
});

/** The typed client of one server process. */
const clientAt = (server: ServerProcess): Client =>
  createClient({ url: server.url, emulatorUrl: emulator.url });

/** me's answer on that server: the user's id, or its error's code and message. */
async function me(server: ServerProcess, token: string): Promise<unknown> {
  const body = await clientAt(server).me(token);
  return body.data?.me?.id ?? `${String(body.errors?.[0]?.extensions?.code)}: ${body.errors?.[0]?.message}`;
}

async function kids(server: ServerProcess): Promise<string[]> {
  const { keys } = (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as JSONWebKeySet;
  return keys.map((k) => k.kid!);
}

function serverEnv(db: TestDatabase, env: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: db.url,
    DATABASE_POOL_MAX: '1',
    ...wechatEnv(APPS, emulator.url),
    WECHAT_EMULATOR: 'off',
    // One issuer for every instance, as behind a load balancer (the default names each one's port).
    PUBLIC_URL: 'https://login.example.com',
    LOG_LEVEL: 'info',
    ...env,
  };
}

async function stop(servers: ServerProcess[]): Promise<void> {
  for (const server of servers) server.child.kill('SIGTERM');
  await Promise.all(servers.map((s) => s.exited));
}

describe('two instances started at once on a fresh database', () => {
  let db: TestDatabase;
  let servers: ServerProcess[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    // Migrated first, so the two starts race for the first key only.
    const orm = await MikroORM.init(createOrmConfig({ clientUrl: db.url, poolMax: 1 }));
    await orm.getMigrator().up();
    await orm.close(true);
    const env = serverEnv(db, { MIGRATE_ON_START: 'false', SIGNING_KEY_REFRESH_SECONDS: '1' });
    servers = await Promise.all([spawnServer(env, await freePort()), spawnServer(env, await freePort())]);
  }, 120_000);
  afterAll(async () => {
    await stop(servers);
    await db?.drop();
  });

  it('make exactly one signing key, and publish and sign with it on both', async () => {
    const rows = await sqlAt(db.url)<{ kid: string }>('select kid from signing_key');
    expect(rows).toHaveLength(1);
    for (const server of servers) {
      expect(await kids(server)).toEqual([rows[0]!.kid]);
      expect(decodeProtectedHeader((await clientAt(server).loginAs('mini', 'kim')).accessToken).kid).toBe(
        rows[0]!.kid,
      );
    }
  });

  it('rotate once together, publishing the next key on both before either signs with it', async () => {
    const [old] = await sqlAt(db.url)<{ kid: string }>('select kid from signing_key');
    const token = (await clientAt(servers[0]!).loginAs('mini', 'lea')).accessToken;
    // What a resource server sees: JWKS snapshots it may cache until their max-age runs out, and
    // tokens, each from the moment before it was asked for (the earliest it can exist).
    const snapshots: { until: number; kids: string[]; server: number }[] = [];
    const tokens: { from: number; kid: string; server: number }[] = [];
    const signedWith = (kid: string, server: number) =>
      tokens.filter((t) => t.kid === kid && t.server === server).length;
    await sqlAt(db.url)(`update signing_key set created_at = now() - interval '31 days'`);
    // SIGNING_KEY_REFRESH_SECONDS=1: the next key is published within ~2 s and signs 3 s after.
    // Watched until both instances have signed with a new key a few times.
    const deadline = Date.now() + 40_000;
    for (let i = 0; Date.now() < deadline; i++) {
      const server = i % 2;
      const response = await fetch(`${servers[server]!.url}/.well-known/jwks.json`);
      const maxAge = Number(/max-age=(\d+)/.exec(response.headers.get('cache-control') ?? '')?.[1]);
      const { keys } = (await response.json()) as JSONWebKeySet;
      snapshots.push({ until: Date.now() + maxAge * 1000, kids: keys.map((k) => k.kid!), server });
      const from = Date.now();
      const issued = decodeProtectedHeader(
        (await clientAt(servers[server]!).loginAs('mini', `watch-${i}`)).accessToken,
      ).kid!;
      tokens.push({ from, kid: issued, server });
      const fresh = tokens.find((t) => t.kid !== old!.kid)?.kid;
      if (fresh && signedWith(fresh, 0) >= 3 && signedWith(fresh, 1) >= 3) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }

    const rows = await sqlAt(db.url)<{ kid: string; current: boolean }>(
      'select kid, retired_at is null as current from signing_key order by created_at desc',
    );
    expect(rows).toHaveLength(2);
    expect(rows.map((r) => r.current)).toEqual([true, false]);
    expect(rows[1]!.kid).toBe(old!.kid);
    const next = rows[0]!.kid;
    // Both keys signed during the watch, on both instances.
    for (const server of [0, 1]) {
      expect(signedWith(old!.kid, server)).toBeGreaterThan(0);
      expect(signedWith(next, server)).toBeGreaterThanOrEqual(3);
    }
    // A verifier holding any snapshot, from either instance, that it may still use once a token
    // exists, knows the token's key.
    const unknown = tokens.flatMap((t) =>
      snapshots.filter((s) => s.until >= t.from && !s.kids.includes(t.kid)).map((s) => ({ t, s })),
    );
    expect(unknown).toEqual([]);
    expect(tokens.length).toBeGreaterThan(4);

    for (const server of servers) {
      expect(await kids(server)).toEqual([next, old!.kid]);
      const fresh = await clientAt(server).loginAs('mini', 'lea');
      expect(decodeProtectedHeader(fresh.accessToken).kid).toBe(next);
      // A token of the retired key, from the other instance, still works while it is published.
      expect(await me(server, token)).toBe(fresh.user.id);
    }
  }, 60_000);
});

describe('a start with another AUTH_SECRET than the one that sealed the keys', () => {
  let db: TestDatabase;
  const FIRST = 'first-auth-secret-0123456789-abcdefghijklmnop';
  const SECOND = 'second-auth-secret-0123456789-abcdefghijklmno';
  const THIRD = 'third-auth-secret-0123456789-abcdefghijklmnop';

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('makes a new current key in development, once, and old tokens still verify', async () => {
    const first = await spawnServer(serverEnv(db, { AUTH_SECRET: FIRST }), await freePort());
    const before = await clientAt(first).loginAs('mini', 'max');
    await stop([first]);

    const second = await spawnServer(serverEnv(db, { AUTH_SECRET: SECOND }), await freePort());
    try {
      const after = await clientAt(second).loginAs('mini', 'max');
      const oldKid = decodeProtectedHeader(before.accessToken).kid;
      const newKid = decodeProtectedHeader(after.accessToken).kid;
      expect(newKid).not.toBe(oldKid);
      expect(await kids(second)).toEqual([newKid, oldKid]);
      expect(await me(second, after.accessToken)).toBe(after.user.id);
      expect(await me(second, before.accessToken)).toBe(before.user.id);
      const warnings = second.output().match(/sealed with another AUTH_SECRET/g) ?? [];
      expect(warnings).toHaveLength(1);
      const output = second.output();
      for (const secret of [FIRST, SECOND, '"d":']) expect(output).not.toContain(secret);
    } finally {
      await stop([second]);
    }
  }, 120_000);

  it('refuses to start in production, with one line naming AUTH_SECRET, and rotates nothing even when due', async () => {
    // The current key is past its rotation age: an instance that cannot open it must not replace it
    // with one that every rightly configured instance could not open.
    await sqlAt(db.url)(
      `update signing_key set created_at = now() - interval '31 days' where retired_at is null`,
    );
    const before = await sqlAt(db.url)<{ kid: string }>('select kid from signing_key order by kid');
    const child = spawn(process.execPath, ['--import', '@swc-node/register/esm-register', 'src/main.ts'], {
      env: {
        ...process.env,
        NODE_OPTIONS: '',
        ...serverEnv(db, { AUTH_SECRET: THIRD, NODE_ENV: 'production' }),
        HOST: '127.0.0.1',
        PORT: String(await freePort()),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    expect(code).toBe(1);
    expect(stderr).toMatch(
      /^Configuration error: AUTH_SECRET: cannot open the current signing key \(kid [\w-]+\), nor can AUTH_SECRET_PREVIOUS: it was sealed with another secret; .*\n$/,
    );
    expect(stdout + stderr).not.toContain(THIRD);
    expect(await sqlAt(db.url)<{ kid: string }>('select kid from signing_key order by kid')).toEqual(before);
  }, 60_000);
});

describe('an AUTH_SECRET change with the old secret in AUTH_SECRET_PREVIOUS', () => {
  let db: TestDatabase;
  const OLD = 'old-auth-secret-0123456789-abcdefghijklmnopqr';
  const NEW = 'new-auth-secret-0123456789-abcdefghijklmnopqr';

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  const production = (env: Record<string, string>) =>
    serverEnv(db, { NODE_ENV: 'production', SIGNING_KEY_REFRESH_SECONDS: '1', ...env });

  /** `npm run keys:rotate`, as an operator runs it beside the servers. */
  function rotateKeys(
    env: Record<string, string>,
    args: string[],
  ): Promise<{ code: number | null; out: string }> {
    const child = spawn('npm', ['run', '--silent', 'keys:rotate', '--', ...args], {
      env: { ...process.env, NODE_OPTIONS: '', ...production(env) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    return new Promise((resolve) => child.on('exit', (code) => resolve({ code, out })));
  }

  it('keeps every session and key, seals anew with the new secret, and needs the old one no more after a rotation', async () => {
    const first = await spawnServer(production({ AUTH_SECRET: OLD }), await freePort());
    const before = await clientAt(first).loginAs('mini', 'ola');
    const oldKid = decodeProtectedHeader(before.accessToken).kid!;
    await stop([first]);

    // The new secret, the old one listed as previous: the key opens, tokens and refresh tokens work.
    const both = { AUTH_SECRET: NEW, AUTH_SECRET_PREVIOUS: ` ${OLD} ,${NEW}` };
    const second = await spawnServer(production(both), await freePort());
    let refreshed: string;
    try {
      expect(await me(second, before.accessToken)).toBe(before.user.id);
      const body = await clientAt(second).refresh(before.refreshToken);
      expect(body.data?.refreshSession.user.id).toBe(before.user.id);
      refreshed = body.data!.refreshSession.refreshToken;
      expect(decodeProtectedHeader((await clientAt(second).loginAs('mini', 'ola')).accessToken).kid).toBe(
        oldKid,
      );
      expect(second.output()).toContain('the current key opens with AUTH_SECRET_PREVIOUS');

      // The operator rotates: the new key is sealed with the new secret and signs after its lead.
      const rotated = await rotateKeys(both, []);
      expect(rotated.code).toBe(0);
      const newKid = rotated.out.trim();
      await eventually(async () => {
        expect(decodeProtectedHeader((await clientAt(second).loginAs('mini', 'ola')).accessToken).kid).toBe(
          newKid,
        );
      });
      for (const secret of [OLD, NEW]) expect(second.output() + rotated.out).not.toContain(secret);
    } finally {
      await stop([second]);
    }

    // The old secret dropped: production starts, old tokens still verify (their key is published).
    const third = await spawnServer(production({ AUTH_SECRET: NEW }), await freePort());
    try {
      expect(await me(third, before.accessToken)).toBe(before.user.id);
      const body = await clientAt(third).refresh(refreshed);
      expect(body.data?.refreshSession.user.id).toBe(before.user.id);
      expect(third.output()).not.toContain('AUTH_SECRET_PREVIOUS');
    } finally {
      await stop([third]);
    }
  }, 120_000);

  it('refuses in production when neither secret opens the current key', async () => {
    const child = spawn(process.execPath, ['--import', '@swc-node/register/esm-register', 'src/main.ts'], {
      env: {
        ...process.env,
        NODE_OPTIONS: '',
        ...production({ AUTH_SECRET: 'x'.repeat(40), AUTH_SECRET_PREVIOUS: OLD }),
        HOST: '127.0.0.1',
        PORT: String(await freePort()),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    expect(await new Promise((resolve) => child.on('exit', resolve))).toBe(1);
    expect(output).toMatch(
      /AUTH_SECRET: cannot open the current signing key \(kid [\w-]+\), nor can AUTH_SECRET_PREVIOUS/,
    );
    expect(output).not.toContain(OLD);
  }, 60_000);
});
