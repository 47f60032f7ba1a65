import { spawn, type SpawnOptions } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, chmod, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../src/db/embedded.js';

// Who may reach the embedded database: started here directly, whatever TEST_DATABASE_URL says.

const NOBODY = 65534;

/** A Node process in the repository (so `pg` resolves), with nothing of our environment but PATH. */
async function runNode(
  args: string[],
  options: SpawnOptions = {},
): Promise<{ code: number | null; lines: string[]; output: string }> {
  const child = spawn(process.execPath, args, {
    cwd: process.cwd(),
    env: { PATH: process.env.PATH ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...options,
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (exitCode) => resolve(exitCode));
  });
  return { code, lines: output.trim().split('\n'), output };
}

/** Connects with `pg` to `url` and reports how far it got: `{"stage":"done"}` or the failing stage and code. */
const CONNECT = `
let stage = 'load';
(async () => {
  const pg = require('pg');
  stage = 'connect';
  const client = new pg.Client({ connectionString: process.argv[1] });
  await client.connect();
  stage = 'query';
  await client.query('select 1');
  await client.end();
  console.log(JSON.stringify({ stage: 'done' }));
})().catch((error) => console.log(JSON.stringify({ stage, code: error.code, message: error.message })));
`;

async function connectAs(url: string, user?: number): Promise<Record<string, unknown>> {
  const run = await runNode(['-e', CONNECT, url], user === undefined ? {} : { uid: user, gid: user });
  try {
    return JSON.parse(run.lines.at(-1)!) as Record<string, unknown>;
  } catch {
    throw new Error(`the connecting process printed no result (exit ${run.code}):\n${run.output}`);
  }
}

async function selectOne(url: string): Promise<unknown> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query('select 1 as one')).rows;
  } finally {
    await client.end();
  }
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

const permissions = async (file: string) => (await stat(file)).mode & 0o777;

describe('the embedded database', () => {
  let scratch: string;
  beforeAll(async () => {
    scratch = await mkdtemp(path.join(tmpdir(), 'wechat-embedded-'));
  });
  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it('listens on no TCP port but a Unix socket in an owner-only directory: we connect, another local user is refused', async () => {
    const embedded = await startEmbeddedPostgres('memory://');
    const socketDir = path.dirname(embedded.socketPath);
    try {
      // The URL names the socket's directory as its host: no address, no port to reach over TCP, no password.
      const url = new URL(embedded.url);
      expect(decodeURIComponent(url.hostname)).toBe(socketDir);
      expect(url.password).toBe('');
      expect((await stat(embedded.socketPath)).isSocket()).toBe(true);
      const dir = await stat(socketDir);
      expect(dir.mode & 0o777).toBe(0o700);
      expect(dir.uid).toBe(process.getuid!());
      expect(await permissions(embedded.socketPath)).toBe(0o600);

      expect(await selectOne(embedded.url)).toEqual([{ one: 1 }]);

      // Root passes every permission check, so the refusal is shown from user nobody: the same script
      // gets in as us and is refused by the file system as nobody, before any byte reaches PGlite.
      // Without root (a developer's machine) the test cannot switch users: the owner and the 0700
      // above are the proof there; CI runs as root.
      if (process.getuid!() === 0) {
        expect(await connectAs(embedded.url)).toEqual({ stage: 'done' });
        expect(await connectAs(embedded.url, NOBODY)).toMatchObject({ stage: 'connect', code: 'EACCES' });
      }
      // Still ours after the attempt.
      expect(await selectOne(embedded.url)).toEqual([{ one: 1 }]);
    } finally {
      await embedded.close();
    }
    // memory:// gets a temporary directory of its own, gone with the database.
    expect(await exists(socketDir)).toBe(false);
  }, 60_000);

  it('makes its data directory owner-only, keeps the socket there and removes it on close', async () => {
    const dataDir = path.join(scratch, 'data');
    await mkdir(dataDir, { mode: 0o755 });
    await chmod(dataDir, 0o755);
    const embedded = await startEmbeddedPostgres(dataDir);
    try {
      expect(embedded.socketPath).toBe(path.join(dataDir, '.s.PGSQL.5432'));
      expect(await permissions(dataDir)).toBe(0o700);
      expect(await selectOne(embedded.url)).toEqual([{ one: 1 }]);
    } finally {
      await embedded.close();
    }
    expect(await exists(embedded.socketPath)).toBe(false);
    expect(await exists(path.join(dataDir, 'server.lock'))).toBe(false);
  }, 60_000);

  it('starts again on a data directory whose process was killed, socket file and lock left behind', async () => {
    const dataDir = path.join(scratch, 'crashed');
    const socketPath = path.join(dataDir, '.s.PGSQL.5432');
    const child = spawn(
      process.execPath,
      [
        '--import',
        '@swc-node/register/esm-register',
        '--input-type=module',
        '-e',
        `const { startEmbeddedPostgres } = await import('./src/db/embedded.ts');
         const embedded = await startEmbeddedPostgres(process.argv[1]);
         console.log('ready ' + embedded.socketPath);`,
        dataDir,
      ],
      { cwd: process.cwd(), env: { ...process.env, NODE_OPTIONS: '' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise((resolve) => child.on('exit', resolve));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes(`ready ${socketPath}`)) resolve();
      });
      child.on('exit', () => reject(new Error(`the first process exited early:\n${output}`)));
    });
    child.kill('SIGKILL');
    await exited;
    expect(await exists(socketPath)).toBe(true);
    expect(await readFile(path.join(dataDir, 'server.lock'), 'utf8')).toBe(String(child.pid));

    const embedded = await startEmbeddedPostgres(dataDir);
    try {
      expect(embedded.socketPath).toBe(socketPath);
      expect(await selectOne(embedded.url)).toEqual([{ one: 1 }]);
    } finally {
      await embedded.close();
    }
  }, 60_000);

  it('creates a new data directory in another process, then opens it here with its data kept across starts', async () => {
    const dataDir = path.join(scratch, 'new');
    const first = await startEmbeddedPostgres(dataDir);
    try {
      // The lock is ours, not the creating process's, and the settings given at start apply.
      expect(await readFile(path.join(dataDir, 'server.lock'), 'utf8')).toBe(String(process.pid));
      expect(await readFile(path.join(dataDir, 'PG_VERSION'), 'utf8')).toMatch(/^\d+/);
      const client = new pg.Client({ connectionString: first.url });
      await client.connect();
      try {
        expect((await client.query('show shared_buffers')).rows).toEqual([{ shared_buffers: '16MB' }]);
        await client.query('create table kept (note text)');
        await client.query("insert into kept values ('from the first start')");
      } finally {
        await client.end();
      }
    } finally {
      await first.close();
    }

    const second = await startEmbeddedPostgres(dataDir);
    try {
      const client = new pg.Client({ connectionString: second.url });
      await client.connect();
      try {
        expect((await client.query('select note from kept')).rows).toEqual([
          { note: 'from the first start' },
        ]);
      } finally {
        await client.end();
      }
    } finally {
      await second.close();
    }
  }, 60_000);

  it('reports a database that could not be created, naming the directory, and leaves no lock or socket', async () => {
    const dataDir = path.join(scratch, 'unusable');
    await mkdir(dataDir, { recursive: true });
    // A file where initdb must make a directory.
    await writeFile(path.join(dataDir, 'global'), 'not a directory');
    await expect(startEmbeddedPostgres(dataDir)).rejects.toThrow(
      new RegExp(
        `^creating the embedded database in ${dataDir} failed: the process running initdb exited with code 1:\\n\\S`,
      ),
    );
    const left = await readdir(dataDir);
    expect(left).not.toContain('server.lock');
    expect(left).not.toContain('.s.PGSQL.5432');
  }, 60_000);

  it('puts the socket in a private temporary directory when the data directory is too deep for one', async () => {
    const dataDir = path.join(scratch, 'd'.repeat(60), 'e'.repeat(60));
    let embedded: EmbeddedPostgres | undefined;
    try {
      embedded = await startEmbeddedPostgres(dataDir);
      const socketDir = path.dirname(embedded.socketPath);
      expect(socketDir.startsWith(dataDir)).toBe(false);
      expect(Buffer.byteLength(embedded.socketPath)).toBeLessThanOrEqual(107);
      expect(await permissions(socketDir)).toBe(0o700);
      expect(await permissions(dataDir)).toBe(0o700);
      expect(await selectOne(embedded.url)).toEqual([{ one: 1 }]);
      await embedded.close();
      expect(await exists(socketDir)).toBe(false);
    } finally {
      await embedded?.close();
    }
  }, 60_000);
});
