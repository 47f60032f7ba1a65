import { DEMO_APPS, DEMO_USERS, type EmulatorApp } from '../../src/emulator/apps.js';
import { createEmulator, type Emulator } from '../../src/emulator/emulator.js';
import { createTestDatabase, type TestDatabase } from '../../test/support/database.js';
import { freePort, spawnServer, type ServerProcess } from '../../test/support/process.js';
import { AUTH_SECRET } from '../../test/support/world.js';

/** Server processes on one database and one emulator, as behind a load balancer. */
export interface ServersOnOneDatabase {
  servers: ServerProcess[];
  /** The emulator both use: its demo apps and people, as `npm run emulator` plays them. */
  emulator: Emulator;
  db: TestDatabase;
  stop(): Promise<void>;
}

/**
 * `count` (2) servers as `npm start` runs them in development beside `npm run emulator`
 * (WECHAT_EMULATOR_URL): the demo apps and people, the example page at /examples/web/ (build it
 * first), on one test database (the embedded one through its socket, or one of
 * TEST_DATABASE_URL's) with one AUTH_SECRET. The emulator's phone page, opened without `server=`
 * (from a URL Link), calls server number `phoneServer` (0), as EMULATOR_LOGIN_SERVER_URL would
 * have it, and so do the official account's event pushes. They start one after the other: the
 * first applies the migrations.
 */
export async function startServersOnOneDatabase(
  options: {
    count?: number;
    phoneServer?: number;
    env?: Record<string, string>;
    /** The emulator's apps instead of the demo apps (an official account in safe mode, …). */
    apps?: readonly EmulatorApp[];
  } = {},
): Promise<ServersOnOneDatabase> {
  const ports: number[] = [];
  for (let i = 0; i < (options.count ?? 2); i++) ports.push(await freePort());
  const db = await createTestDatabase();
  const servers: ServerProcess[] = [];
  let emulator: Emulator | undefined;
  const stop = async () => {
    for (const server of servers) server.child.kill('SIGTERM');
    await Promise.all(servers.map((s) => s.exited));
    await emulator?.close();
    await db.drop();
  };
  try {
    emulator = await createEmulator({
      apps: options.apps ?? DEMO_APPS,
      loginServerUrl: `http://127.0.0.1:${ports[options.phoneServer ?? 0]}/graphql`,
    });
    for (const { key, ...profile } of DEMO_USERS) emulator.people.upsert(key, profile);
    const env = {
      NODE_ENV: 'development',
      DATABASE_URL: db.url,
      DATABASE_POOL_MAX: String(db.poolMax === 1 ? 1 : 5),
      AUTH_SECRET,
      WECHAT_EMULATOR_URL: emulator.url,
      LOG_LEVEL: 'warn',
      ...options.env,
    };
    for (const port of ports) servers.push(await spawnServer(env, port));
  } catch (error) {
    await stop();
    throw error;
  }
  return { servers, emulator, db, stop };
}
