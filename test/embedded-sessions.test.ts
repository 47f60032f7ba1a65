import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { loadConfig } from '../src/config.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../src/db/embedded.js';
import { createEmulator, type Emulator } from '../src/emulator/emulator.js';
import { startServer, type RunningServer } from '../src/server/start.js';
import { bearer, createClient, type Client } from './support/client.js';
import { captureLog } from './support/logger.js';
import { APPS, wechatEnv } from './support/world.js';

// The embedded database, whatever TEST_DATABASE_URL says: it is what `npm start` runs on.

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return client;
}

describe('clients of the embedded database', () => {
  let embedded: EmbeddedPostgres;
  beforeAll(async () => {
    embedded = await startEmbeddedPostgres('memory://');
    const setup = await connect(embedded.url);
    await setup.query('create table counter (id int primary key, n int not null)');
    await setup.query('insert into counter select g, 0 from generate_series(1, 5) g');
    await setup.end();
  });
  afterAll(() => embedded.close());

  it('each get a session of their own: a reconnecting client prepares its statements again, no 42P05', async () => {
    const statement = { name: 'plus_one', text: 'select $1::int + 1 as n' };
    for (let round = 0; round < 3; round++) {
      const client = await connect(embedded.url);
      expect((await client.query({ ...statement, values: [round] })).rows).toEqual([{ n: round + 1 }]);
      await client.end();
    }
  });

  it('may use one statement name for different statements at once, with transactions in between, and lose no update', async () => {
    const clients = await Promise.all([1, 2, 3, 4].map(() => connect(embedded.url)));
    try {
      await Promise.all(
        clients.map(async (client, i) => {
          for (let k = 0; k < 50; k++) {
            // One name, a different text per client: each client's own statement runs.
            const mine = await client.query({
              name: 'mine',
              text: `select ${i}::int as who, $1::int as k`,
              values: [k],
            });
            expect(mine.rows).toEqual([{ who: i, k }]);
            await client.query('begin');
            await client.query({
              name: 'bump',
              text: 'update counter set n = n + 1 where id = $1',
              values: [1 + (k % 5)],
            });
            await client.query({
              name: 'read',
              text: 'select n from counter where id = $1',
              values: [1 + (k % 5)],
            });
            await client.query('commit');
          }
        }),
      );
      const total = await clients[0]!.query('select sum(n)::int as total from counter');
      expect(total.rows).toEqual([{ total: 4 * 50 }]);
    } finally {
      await Promise.all(clients.map((c) => c.end()));
    }
  });

  it('undoes the open transaction of a client that goes away, before anyone else runs', async () => {
    const leaving = await connect(embedded.url);
    await leaving.query('begin');
    await leaving.query('update counter set n = -1000 where id = 1');
    // The connection dies without a word (a killed process): no COMMIT, no Terminate.
    (leaving as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
    leaving.on('error', () => {});
    const other = await connect(embedded.url);
    try {
      const row = await other.query('select n from counter where id = 1');
      expect(row.rows[0].n).toBeGreaterThanOrEqual(0);
      // And its session is clean: no transaction left open to commit.
      await other.query('begin');
      await other.query('commit');
    } finally {
      await other.end();
    }
  });

  /** A raw connection that has done its startup: what a misbehaving client sends next. */
  async function rawClient() {
    const { connect: rawConnect } = await import('node:net');
    const socket = rawConnect(embedded.socketPath);
    await new Promise<void>((resolve) => socket.on('connect', () => resolve()));
    socket.on('error', () => {});
    const closed = new Promise<string>((resolve) => {
      let received = '';
      socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
      socket.on('close', () => resolve(received));
    });
    const body = Buffer.from('user\0postgres\0database\0postgres\0\0');
    const startup = Buffer.alloc(8 + body.length);
    startup.writeInt32BE(startup.length, 0);
    startup.writeInt32BE(196608, 4);
    body.copy(startup, 8);
    socket.write(startup);
    return { socket, closed };
  }
  const message = (type: string, body: Buffer) => {
    const header = Buffer.alloc(5);
    header.write(type, 0, 'latin1');
    header.writeInt32BE(4 + body.length, 1);
    return Buffer.concat([header, body]);
  };

  it.each([
    ['an unknown message type', () => message('\x01', Buffer.alloc(0))],
    ['a password message after startup', () => message('p', Buffer.from('secret\0'))],
    ['COPY FROM STDIN', () => message('Q', Buffer.from('copy counter from stdin\0'))],
  ])('closes a client that sends %s, and the others go on', async (_label, bad) => {
    const bystander = await connect(embedded.url);
    try {
      const { socket, closed } = await rawClient();
      socket.write(bad());
      expect(await closed).toMatch(/not supported|unsupported/);
      expect((await bystander.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
      const later = await connect(embedded.url);
      expect((await later.query('select 2 as two')).rows).toEqual([{ two: 2 }]);
      await later.end();
    } finally {
      await bystander.end();
    }
  });

  it('undoes the work of a client that left between Execute and Sync (an implicit transaction)', async () => {
    const { socket, closed } = await rawClient();
    const text = Buffer.from('update counter set n = -7 where id = 2\0\0\0');
    const parse = message('P', Buffer.concat([Buffer.from('\0'), text]));
    const bind = message('B', Buffer.from([0, 0, 0, 0, 0, 0, 0, 0]));
    const execute = message('E', Buffer.from([0, 0, 0, 0, 0]));
    socket.write(Buffer.concat([parse, bind, execute]));
    await new Promise((resolve) => setTimeout(resolve, 200));
    socket.destroy();
    await closed;
    const other = await connect(embedded.url);
    try {
      expect((await other.query('select n from counter where id = 2')).rows[0].n).toBeGreaterThanOrEqual(0);
    } finally {
      await other.end();
    }
  });

  it('answers a client that sends nonsense by closing it, and keeps serving the others', async () => {
    const { connect: rawConnect } = await import('node:net');
    const socket = rawConnect(embedded.socketPath);
    await new Promise<void>((resolve) => socket.on('connect', () => resolve()));
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.on('error', () => {});
    // A startup "message" claiming to be 2 GiB long.
    socket.write(Buffer.from([0x7f, 0xff, 0xff, 0xff, 0, 3, 0, 0]));
    await closed;
    const client = await connect(embedded.url);
    expect((await client.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
    await client.end();
  });
});

describe('the server on the embedded database, after its pool closed an idle connection', () => {
  let emulator: Emulator;
  let server: RunningServer;
  let c: Client;
  beforeAll(async () => {
    emulator = await createEmulator({ apps: Object.values(APPS) });
    const config = loadConfig({
      NODE_ENV: 'test',
      HOST: '127.0.0.1',
      PORT: '0',
      EMBEDDED_DB_DIR: 'memory://',
      // The pool closes a connection unused for a second (30 by default): the test waits past it.
      DATABASE_POOL_IDLE_SECONDS: '1',
      WECHAT_EMULATOR: 'off',
      ...wechatEnv(APPS, emulator.url),
    });
    server = await startServer(config, captureLog().logger);
    c = createClient({ url: server.url, emulatorUrl: emulator.url });
  }, 60_000);
  afterAll(async () => {
    await server?.close();
    await emulator?.close();
  });

  const pool = () =>
    (
      server.database.orm.em.getConnection().getKnex().client as {
        pool: { numFree(): number; numUsed(): number };
      }
    ).pool;

  it('logs in, refreshes and answers me, again and again, each time on a new connection', async () => {
    const first = await c.login('mini', 'idle-alice');
    expect(first.errors).toBeUndefined();
    let refreshToken = first.data!.wechatMiniLogin.refreshToken;
    const userId = first.data!.wechatMiniLogin.user.id;
    for (let round = 0; round < 2; round++) {
      // Idle past the pool's timeout (its reaper looks once a second): the connection is closed.
      await sleep(2600);
      expect(pool().numFree() + pool().numUsed()).toBe(0);
      expect(await server.database.ping()).toBe(true);

      const login = await c.login('mini', 'idle-alice');
      expect(login.errors).toBeUndefined();
      expect(login.data!.wechatMiniLogin.user.id).toBe(userId);
      await sleep(2600);

      const refreshed = await c.refresh(refreshToken);
      expect(refreshed.errors).toBeUndefined();
      refreshToken = refreshed.data!.refreshSession.refreshToken;
      await sleep(2600);

      // Only the id: the whole answer is compared.
      const me = await c.gql('{ me { id } }', undefined, bearer(refreshed.data!.refreshSession.accessToken));
      expect(me).toEqual({ data: { me: { id: userId } } });
    }
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(200);
  }, 60_000);
});
