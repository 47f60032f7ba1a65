import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

export interface EmbeddedPostgres {
  /** `postgresql://…` for the ORM; the socket listens on a loopback port the OS picked. */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * PGlite (PostgreSQL compiled to WebAssembly) served over the PostgreSQL wire protocol, so the same
 * driver and migrations serve the embedded and the real database. Use one connection: the socket
 * server's multiplexer has open deadlock bugs.
 */
export async function startEmbeddedPostgres(
  dataDir: string,
  /** Connections the socket accepts: 1 for the server; tests that run several processes ask for more. */
  options: { maxConnections?: number } = {},
): Promise<EmbeddedPostgres> {
  const inMemory = dataDir.startsWith('memory://');
  let unlock = async () => {};
  if (!inMemory) {
    await mkdir(dataDir, { recursive: true });
    unlock = await lockDataDir(dataDir);
  }
  let db: PGlite;
  try {
    db = await PGlite.create(inMemory ? 'memory://' : dataDir);
  } catch (error) {
    await unlock();
    throw error;
  }
  const server = new PGLiteSocketServer({
    db,
    host: '127.0.0.1',
    port: 0,
    maxConnections: options.maxConnections ?? 1,
  });
  try {
    await server.start();
  } catch (error) {
    await db.close();
    await unlock();
    throw error;
  }
  const url = `postgresql://postgres:postgres@${server.getServerConn()}/postgres`;
  let closing: Promise<void> | undefined;
  return {
    url,
    close() {
      closing ??= (async () => {
        await server.stop();
        await db.close();
        await unlock();
      })();
      return closing;
    },
  };
}

/**
 * PGlite has no lock of its own: two processes on one directory would corrupt it. A lock file with
 * our pid; one left by a process that no longer runs is taken over.
 */
async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  const lockFile = path.join(dataDir, 'server.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(lockFile, String(process.pid), { flag: 'wx' });
      return () => rm(lockFile, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number(await readFile(lockFile, 'utf8').catch(() => ''));
      if (holder && holder !== process.pid && isRunning(holder)) {
        throw new Error(`the embedded database in ${dataDir} is in use by process ${holder}`, {
          cause: error,
        });
      }
      await rm(lockFile, { force: true });
    }
  }
  throw new Error(`could not lock the embedded database in ${dataDir}`);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
