import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { decodeJwt, decodeProtectedHeader, type JSONWebKeySet } from 'jose';
import { createEmulator, type Emulator } from '../src/emulator/emulator.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { createClient, type Client, type Session } from './support/client.js';
import { freePort, spawnServer, type ServerProcess } from './support/process.js';
import { CURRENT_SIGNING_KEY, openSigningKey, signToken } from './support/signing-keys.js';
import { sqlAt } from './support/sql.js';
import { APPS, AUTH_SECRET, wechatEnv } from './support/world.js';
import { eventually } from './support/eventually.js';

/**
 * examples/resource-server.ts in its own process, trusting the login server (another process) by
 * its JWKS alone; `npm run keys:rotate` run beside them.
 */
let db: TestDatabase;
let emulator: Emulator;
let server: ServerProcess;
let c: Client;
let resource: { child: ChildProcess; url: string; exited: Promise<unknown> };
let issuer: string;

const NODE = ['--import', '@swc-node/register/esm-register'];

async function startResourceServer(env: Record<string, string>): Promise<typeof resource> {
  const port = await freePort();
  const child = spawn(process.execPath, [...NODE, 'examples/resource-server.ts'], {
    env: { ...process.env, NODE_OPTIONS: '', PORT: String(port), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  let output = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('resource server on')) resolve();
    });
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    void exited.then(() => reject(new Error(`resource server exited:\n${output}`)));
  });
  return { child, url: `http://127.0.0.1:${port}`, exited };
}

async function hello(token: string | undefined): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${resource.url}/hello`, {
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  });
  return { status: response.status, body: await response.json() };
}

async function jwks(): Promise<JSONWebKeySet> {
  return (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as JSONWebKeySet;
}

/** `npm run keys:rotate` against the test database: its stdout and exit code. */
function rotateKeys(
  secret = AUTH_SECRET,
  args: string[] = [],
  refreshSeconds = 1,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn('npm', ['run', '--silent', 'keys:rotate', '--', ...args], {
    env: {
      ...process.env,
      NODE_OPTIONS: '',
      DATABASE_URL: db.url,
      DATABASE_POOL_MAX: '1',
      AUTH_SECRET: secret,
      // The servers' own unless told: the new key signs three refresh intervals after it is published.
      SIGNING_KEY_REFRESH_SECONDS: String(refreshSeconds),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
}

beforeAll(async () => {
  db = await createTestDatabase();
  emulator = await createEmulator({ apps: Object.values(APPS) });
  const port = await freePort();
  issuer = `http://127.0.0.1:${port}`;
  server = await spawnServer(
    {
      DATABASE_URL: db.url,
      DATABASE_POOL_MAX: '1',
      ...wechatEnv(APPS, emulator.url),
      WECHAT_EMULATOR: 'off',
      PUBLIC_URL: issuer,
      TOKEN_AUDIENCE: 'https://api.example.com',
      SIGNING_KEY_REFRESH_SECONDS: '1',
      LOG_LEVEL: 'warn',
    },
    port,
  );
  c = createClient({ url: server.url, emulatorUrl: emulator.url, sql: sqlAt(db.url) });
  resource = await startResourceServer({
    ISSUER: issuer,
    AUDIENCE: 'https://api.example.com',
    JWKS_COOLDOWN_SECONDS: '1',
  });
}, 120_000);

afterAll(async () => {
  resource?.child.kill('SIGTERM');
  server?.child.kill('SIGTERM');
  await Promise.all([resource?.exited, server?.exited]);
  await emulator?.close();
  await db?.drop();
});

describe('a resource server that trusts our JWKS alone', () => {
  it('accepts our access token and refuses tampered, expired, foreign-audience and missing ones', async () => {
    const payload = await c.loginAs('mini', 'ivy');
    const claims = decodeJwt(payload.accessToken);
    expect(await hello(payload.accessToken)).toEqual({
      status: 200,
      body: { sub: payload.user.id, sid: claims.sid },
    });

    const [head, body, signature] = payload.accessToken.split('.') as [string, string, string];
    const otherUser = Buffer.from(JSON.stringify({ ...claims, sub: 'someone-else' })).toString('base64url');
    const flipped = signature.slice(0, -2) + (signature.endsWith('AA') ? 'BB' : 'AA');

    const rows = await c.sql<{ kid: string; private_key: string }>(CURRENT_SIGNING_KEY);
    const key = await openSigningKey(rows[0]!, AUTH_SECRET);
    const now = Math.floor(Date.now() / 1000);
    const good = { iss: issuer, aud: 'https://api.example.com', sub: 'u', sid: 's', iat: now };
    const expired = await signToken(key, { ...good, iat: now - 1000, exp: now - 100 });
    const otherAudience = await signToken(key, { ...good, aud: 'https://elsewhere.example', exp: now + 60 });
    const otherIssuer = await signToken(key, { ...good, iss: 'https://evil.example', exp: now + 60 });
    expect((await hello(await signToken(key, { ...good, exp: now + 60 }))).status).toBe(200);

    for (const token of [
      `${head}.${otherUser}.${signature}`,
      `${head}.${body}.${flipped}`,
      expired,
      otherAudience,
      otherIssuer,
      'not-a-jwt',
      undefined,
    ]) {
      expect((await hello(token)).status).toBe(401);
    }
  });

  // Four `npm run keys:rotate` processes, each compiling its TypeScript: 17 s alone, twice that
  // beside the rest of the suite on two cores.
  it('keeps trusting old tokens across `npm run keys:rotate`, and trusts the new key’s tokens', async () => {
    const before = await c.loginAs('mini', 'jon');
    const oldKid = decodeProtectedHeader(before.accessToken).kid;
    expect((await hello(before.accessToken)).status).toBe(200);

    // Another AUTH_SECRET would seal a key no running instance can open: refused, nothing changes.
    const wrong = await rotateKeys('not-the-servers-auth-secret-0123456789abcdef');
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^keys:rotate: AUTH_SECRET: does not open the current signing key/);
    expect((await jwks()).keys.map((k) => k.kid)).toEqual([oldKid]);

    const rotated = await rotateKeys();
    expect({ code: rotated.code, stderr: rotated.stderr }).toEqual({ code: 0, stderr: '' });
    const newKid = rotated.stdout.trim();
    expect(newKid).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(newKid).not.toBe(oldKid);

    // Published at once; it signs three refresh intervals later, then listed first.
    await eventually(async () => {
      expect((await jwks()).keys.map((k) => k.kid)).toContain(newKid);
    });
    await eventually(async () => {
      expect((await jwks()).keys.map((k) => k.kid)).toEqual([newKid, oldKid]);
    });
    expect((await hello(before.accessToken)).status).toBe(200);

    let after: Session | undefined;
    await eventually(async () => {
      after = await c.loginAs('mini', 'jon');
      expect(decodeProtectedHeader(after.accessToken).kid).toBe(newKid);
    });
    await eventually(async () => {
      expect(await hello(after!.accessToken)).toMatchObject({ status: 200, body: { sub: after!.user.id } });
    });
    expect((await hello(before.accessToken)).status).toBe(200);

    // --now: a suspect key is replaced at once, overtaking a key still waiting to sign: that one
    // never signs, and stays published for the window (an instance may have read it as current).
    // Its lead is a minute, so it is still waiting when --now runs however slowly the command starts.
    const waiting = (await rotateKeys(AUTH_SECRET, [], 20)).stdout.trim();
    const now = await rotateKeys(AUTH_SECRET, ['--now']);
    expect({ code: now.code, stderr: now.stderr }).toEqual({ code: 0, stderr: '' });
    const nowKid = now.stdout.trim();
    await eventually(async () => {
      expect((await jwks()).keys.map((k) => k.kid)).toEqual([nowKid, waiting, newKid, oldKid]);
      expect(decodeProtectedHeader((await c.loginAs('mini', 'jon')).accessToken).kid).toBe(nowKid);
    });
    const rows = await c.sql<{ never: boolean }>(
      'select retired_at <= created_at as never from signing_key where kid = ?',
      [waiting],
    );
    expect(rows).toEqual([{ never: true }]);
    const unknown = await rotateKeys(AUTH_SECRET, ['--later']);
    expect(unknown).toMatchObject({ code: 1, stdout: '' });
    expect(unknown.stderr).toMatch(/^keys:rotate: unknown option --later/);
  }, 90_000);
});
