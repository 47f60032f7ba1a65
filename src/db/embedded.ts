import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, link, mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { EmbeddedSocketServer } from './embedded-socket.js';

export interface EmbeddedPostgres {
  /**
   * `postgresql://postgres@<socket directory, percent-encoded>:5432/postgres` for the ORM, `pg`
   * and DATABASE_URL: a Unix socket (5432 only names its file), no TCP port and no password.
   */
  readonly url: string;
  /** The socket file, in a directory only this user may enter (0700). */
  readonly socketPath: string;
  /** The whole database as a tar archive, for `loadDataDir` (tests start from a migrated copy). */
  dumpDataDir(): Promise<Blob>;
  close(): Promise<void>;
}

export interface EmbeddedOptions {
  /**
   * For `memory://` only: start from this copy of a database (from dumpDataDir) instead of
   * creating a new one with initdb, which takes seconds and most of a gigabyte of memory.
   */
  readonly loadDataDir?: Blob;
}

/** `host=/dir` with port 5432 makes the `pg` driver connect to `/dir/.s.PGSQL.5432`. */
const SOCKET_PORT = 5432;
const SOCKET_FILE = `.s.PGSQL.${SOCKET_PORT}`;
/** sun_path holds 108 bytes on Linux and 104 on macOS, its closing NUL included. */
const MAX_SOCKET_PATH = process.platform === 'linux' ? 107 : 103;

/**
 * PGlite's own start parameters plus a smaller buffer cache. WebAssembly memory never shrinks, so
 * what PostgreSQL allocates at start stays resident: initdb writes `shared_buffers = 128MB` into
 * postgresql.conf, which costs about 90 MiB more than this for a database of a few megabytes whose
 * files the operating system caches anyway. Given on the command line, so the file is left as it is.
 */
export const EMBEDDED_START_PARAMS: readonly string[] = [
  ...PGlite.defaultStartParams,
  '-c',
  'shared_buffers=16MB',
];

/**
 * PGlite (PostgreSQL compiled to WebAssembly) served over the PostgreSQL wire protocol, so the same
 * driver and migrations serve the embedded and the real database. PGlite is a single session:
 * clients take turns at it, each in a clean session of its own (src/db/embedded-socket.ts), so the
 * server's pool uses one connection and anything else (psql, a test, a second process) may connect
 * beside it.
 *
 * PGlite authenticates nobody (it answers every startup with AuthenticationOk, whatever
 * the user and password), so it listens on a Unix socket in an owner-only directory: the file
 * system is what keeps other local users out. That directory is the data directory when it is
 * ours and short enough for a socket path, a private temporary one otherwise (and for `memory://`).
 */
export async function startEmbeddedPostgres(
  dataDir: string,
  options: EmbeddedOptions = {},
): Promise<EmbeddedPostgres> {
  const inMemory = dataDir.startsWith('memory://');
  if (options.loadDataDir && !inMemory) throw new Error('loadDataDir is for memory:// databases only');
  // Undone in reverse order by close(), or at once when a step fails.
  const undo: Array<() => Promise<unknown>> = [];
  const undoAll = async () => {
    for (const step of undo.splice(0).reverse()) await step();
  };
  try {
    let socketDir: string | undefined;
    if (!inMemory) {
      await mkdir(dataDir, { recursive: true, mode: 0o700 });
      undo.push(await lockDataDir(dataDir));
      socketDir = await makePrivate(dataDir);
      // Under our lock: nobody else creates it meanwhile.
      if (!(await exists(path.join(dataDir, 'PG_VERSION')))) await createInChild(dataDir);
    }
    if (!socketDir) {
      socketDir = await privateTempDir();
      const temporary = socketDir;
      undo.push(() => rm(temporary, { recursive: true, force: true }));
    }
    const socketPath = path.join(socketDir, SOCKET_FILE);
    // A socket file left by a process that crashed: the lock says none of ours runs on this directory.
    await rm(socketPath, { force: true });
    undo.push(() => rm(socketPath, { force: true }));

    const loadDataDir = inMemory ? (options.loadDataDir ?? (await newDatabaseArchive())) : undefined;
    const db = await PGlite.create(inMemory ? 'memory://' : dataDir, {
      startParams: [...EMBEDDED_START_PARAMS],
      ...(loadDataDir && { loadDataDir }),
    });
    undo.push(() => db.close());
    const server = new EmbeddedSocketServer(db, socketPath);
    await server.start();
    undo.push(() => server.stop());
    // The directory already keeps others out; connecting also needs write permission on the file.
    await chmod(socketPath, 0o600);

    let closing: Promise<void> | undefined;
    return {
      url: `postgresql://postgres@${encodeURIComponent(socketDir)}:${SOCKET_PORT}/postgres`,
      socketPath,
      dumpDataDir: () => db.dumpDataDir('none'),
      close() {
        closing ??= undoAll();
        return closing;
      },
    };
  } catch (error) {
    await undoAll();
    throw error;
  }
}

/**
 * Creates a new database in `dataDir` in a short-lived Node process. PGlite runs initdb inside the
 * process that opens a new directory: a second PostgreSQL instance, a copy of its heap, initdb's own
 * WebAssembly instance and a tar archive of the result, which together take the process to about
 * 850 MiB, and most of that stays resident. In a child the peak goes when it exits; the server then
 * opens the directory as it would on any later start.
 */
async function createInChild(dataDir: string, archive?: string): Promise<void> {
  const pglite = pathToFileURL(PGLITE_ENTRY).href;
  // Emscripten's file system errors carry only a number: say so rather than print an empty object.
  const script = `
    const [moduleUrl, dataDir, params, archive] = process.argv.slice(1);
    try {
      const { PGlite } = await import(moduleUrl);
      const db = await PGlite.create(dataDir, { startParams: JSON.parse(params) });
      if (archive) {
        // Written whole under another name, then renamed: a reader never sees half an archive.
        const { rename, writeFile } = await import('node:fs/promises');
        const draft = archive + '.' + process.pid;
        await writeFile(draft, Buffer.from(await (await db.dumpDataDir('none')).arrayBuffer()));
        await rename(draft, archive);
      }
      await db.close();
    } catch (error) {
      process.stderr.write(error?.message ? String(error.stack ?? error.message)
        : \`\${error?.name ?? 'error'} (errno \${error?.errno ?? 'unknown'})\`);
      process.exit(1);
    }`;
  const child = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      script,
      pglite,
      dataDir.startsWith('memory://') ? dataDir : path.resolve(dataDir),
      JSON.stringify(EMBEDDED_START_PARAMS),
      ...(archive ? [archive] : []),
    ],
    { env: { PATH: process.env.PATH ?? '', NODE_OPTIONS: '' }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4000)));
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (exitCode, exitSignal) => resolve([exitCode, exitSignal]));
  });
  if (code === 0) return;
  const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
  throw new Error(
    `creating the embedded database in ${dataDir} failed: the process running initdb ${how}` +
      (stderr.trim() ? `:\n${stderr.trim()}` : ''),
  );
}

const PGLITE_ENTRY = createRequire(import.meta.url).resolve('@electric-sql/pglite');

/**
 * Where the embedded database keeps what it makes once (node_modules/.cache/wechat-login-server),
 * and a key naming what PGlite's version and start parameters make: an archive made by another
 * version is never loaded.
 */
export async function embeddedCache(): Promise<{ dir: string; key: string }> {
  const pgliteRoot = path.resolve(path.dirname(PGLITE_ENTRY), '..');
  const { version } = JSON.parse(await readFile(path.join(pgliteRoot, 'package.json'), 'utf8')) as {
    version: string;
  };
  const key = createHash('sha256')
    .update(`${version}\0${EMBEDDED_START_PARAMS.join(' ')}`)
    .digest('hex');
  return { dir: path.resolve(pgliteRoot, '../../.cache/wechat-login-server'), key: key.slice(0, 16) };
}

/**
 * A new, empty database for `memory://`, as a tar archive to load: made once by initdb in a
 * short-lived process (as for a new data directory, so initdb's memory is never ours) and kept in
 * the cache (embeddedCache). Every later `memory://` start loads it instead of running initdb
 * again: seconds less, and a few hundred MiB less at its peak. Where the cache cannot be written,
 * a temporary file serves once.
 */
async function newDatabaseArchive(): Promise<Blob> {
  const cache = await embeddedCache();
  const cached = path.join(cache.dir, `pglite-new-database-${cache.key}.tar`);
  if (await exists(cached)) return new Blob([await readFile(cached)]);
  const writable = await mkdir(cache.dir, { recursive: true }).then(
    () => true,
    () => false,
  );
  const scratch = writable ? undefined : await mkdtemp(path.join(tmpdir(), 'pglite-new-'));
  const archive = scratch ? path.join(scratch, 'database.tar') : cached;
  try {
    await createInChild('memory://', archive);
    return new Blob([await readFile(archive)]);
  } finally {
    if (scratch) await rm(scratch, { recursive: true, force: true });
  }
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

/**
 * Makes the data directory owner-only (0700, as PostgreSQL wants its own) when it is ours, and
 * returns it as the socket's directory; undefined when the socket must go elsewhere: the directory
 * belongs to another user (who could reach a socket in it), or its path is too long for a socket.
 */
async function makePrivate(dataDir: string): Promise<string | undefined> {
  const dir = path.resolve(dataDir);
  const info = await stat(dir);
  if (info.uid !== process.getuid?.()) return undefined;
  if ((info.mode & 0o077) !== 0) await chmod(dir, 0o700);
  return fitsSocketPath(dir) ? dir : undefined;
}

/** A new directory only we may enter (mkdtemp makes it 0700), short enough for a socket path. */
async function privateTempDir(): Promise<string> {
  for (const base of [tmpdir(), '/tmp']) {
    const prefix = path.join(base, 'pglite-');
    if (fitsSocketPath(`${prefix}XXXXXX`)) return mkdtemp(prefix);
  }
  throw new Error(`no directory short enough for the embedded database's socket (TMPDIR is ${tmpdir()})`);
}

function fitsSocketPath(dir: string): boolean {
  return Buffer.byteLength(path.join(dir, SOCKET_FILE)) <= MAX_SOCKET_PATH;
}

/** Another process holds the embedded database's directory (a server already running on it). */
export class DataDirInUseError extends Error {
  override name = 'DataDirInUseError';
  constructor(
    readonly dataDir: string,
    readonly pid: number,
    /** Where that server answers, when it said so (announceServerUrl). */
    readonly url: string | undefined,
  ) {
    super(
      `the embedded database in ${dataDir} is in use by process ${pid}${url ? ` (a server at ${url})` : ''}`,
    );
  }
}

const LOCK_FILE = 'server.lock';
/** Beside the lock: the pid and URL of the server holding it, so a second start can say where it is. */
const ADDRESS_FILE = 'server.address';

/**
 * The process holding the data directory's lock, if one runs, and where it answers (when it
 * announced it). Read without taking the lock: for a message before anything slow starts.
 */
export async function runningServerOn(dataDir: string): Promise<{ pid: number; url?: string } | undefined> {
  const pid = Number((await readFile(path.join(dataDir, LOCK_FILE), 'utf8').catch(() => '')).trim());
  if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid || !isRunning(pid)) return undefined;
  const [announcer, url] = (await readFile(path.join(dataDir, ADDRESS_FILE), 'utf8').catch(() => '')).split(
    '\n',
  );
  return Number(announcer) === pid && url ? { pid, url } : { pid };
}

/** Says, beside the lock this process holds, where its server answers (see runningServerOn). */
export async function announceServerUrl(dataDir: string, url: string): Promise<void> {
  const file = path.join(dataDir, ADDRESS_FILE);
  const draft = `${file}.${process.pid}`;
  await writeFile(draft, `${process.pid}\n${url}\n`, { mode: 0o600 });
  await rename(draft, file);
}

/**
 * PGlite has no lock of its own: two processes on one directory would corrupt it. A lock file with
 * our pid, written whole and then linked into place (link() fails when the name exists), so a
 * process starting at the same moment never reads it empty; one left by a process that no longer
 * runs is taken over.
 */
async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  const lockFile = path.join(dataDir, LOCK_FILE);
  const draft = `${lockFile}.${process.pid}`;
  await writeFile(draft, String(process.pid), { mode: 0o600 });
  try {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await link(draft, lockFile);
        return async () => {
          await rm(path.join(dataDir, ADDRESS_FILE), { force: true });
          await rm(lockFile, { force: true });
        };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        const running = await runningServerOn(dataDir);
        if (running) throw new DataDirInUseError(dataDir, running.pid, running.url);
        await rm(lockFile, { force: true });
      }
    }
  } finally {
    await rm(draft, { force: true });
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
