import type { EmulatorApp } from '../../src/emulator/apps.js';
import { createEmulator, type Emulator } from '../../src/emulator/emulator.js';
import { createClient, type Client } from './client.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { freePort, spawnServer, type ServerProcess } from './process.js';
import { sqlAt } from './sql.js';
import { APPS, wechatEnv } from './world.js';

/** Server processes on one PostgreSQL and one emulator, as behind a load balancer. */
export interface Instances {
  db: TestDatabase;
  emulator: Emulator;
  servers: ServerProcess[];
  stop(): Promise<void>;
}

/**
 * Starts `count` (2) server processes on a fresh database, each pointed at one emulator playing
 * APPS (or `apps`), with `env` on top. They start one after the other: the first applies the migrations.
 */
export async function startInstances(
  env: Record<string, string> = {},
  options: {
    count?: number;
    /** Apps to play instead of APPS' (an unbound mini program, …). */
    apps?: Partial<Record<keyof typeof APPS, EmulatorApp>>;
  } = {},
): Promise<Instances> {
  const apps = { ...APPS, ...options.apps };
  const db = await createTestDatabase();
  const emulator = await createEmulator({ apps: Object.values(apps) });
  const servers: ServerProcess[] = [];
  const stop = async () => {
    for (const server of servers) server.child.kill('SIGTERM');
    await Promise.all(servers.map((s) => s.exited));
    await emulator.close();
    await db.drop();
  };
  const shared = {
    DATABASE_URL: db.url,
    DATABASE_POOL_MAX: String(db.poolMax === 1 ? 1 : 5),
    ...wechatEnv(apps, emulator.url),
    WECHAT_EMULATOR: 'off',
    ...env,
  };
  try {
    for (let i = 0; i < (options.count ?? 2); i++) servers.push(await spawnServer(shared, await freePort()));
  } catch (error) {
    await stop();
    throw error;
  }
  return { db, emulator, servers, stop };
}

/** A typed client of each instance, minting codes with the shared emulator and reading the shared database. */
export function clientsOf({ db, emulator, servers }: Instances): Client[] {
  return servers.map((server) =>
    createClient({ url: server.url, emulatorUrl: emulator.url, sql: sqlAt(db.url) }),
  );
}
