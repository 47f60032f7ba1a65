import { randomBytes } from 'node:crypto';
import { chmod, link, lstat, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, type Config } from './config.js';

/** Where development keeps its AUTH_SECRET when the database has no directory (DATABASE_URL). */
const DEFAULT_DATA_DIR = '.data';
const FILE_NAME = 'auth-secret';

export interface DevelopmentSecret {
  /** The config with the kept secret in force. */
  readonly config: Config;
  /** The file the secret lives in (absolute); undefined for a throwaway (`memory://`) database. */
  readonly file: string | undefined;
  /** True when this call made the file (say so once). */
  readonly created: boolean;
}

/**
 * Development without AUTH_SECRET: one secret per data directory, kept in `auth-secret` beside the
 * data it seals (the embedded database's directory, or `.data/` with DATABASE_URL), mode 0600, so
 * restarts (`npm run dev` on every save) keep sessions, signing keys and web logins in progress.
 * A throwaway `memory://` database keeps the random per-process secret the config made. Nothing to
 * do when AUTH_SECRET is set; production requires it, so never reaches here without it.
 */
export async function keepDevelopmentSecret(config: Config): Promise<DevelopmentSecret> {
  if (!config.authSecretGenerated || config.isProduction) return { config, file: undefined, created: false };
  const { url, embeddedDir } = config.database;
  if (url === undefined && embeddedDir.startsWith('memory://')) {
    return { config, file: undefined, created: false };
  }
  // Relative to the working directory, as EMBEDDED_DB_DIR is; said as an absolute path.
  const dir = path.resolve(url === undefined ? embeddedDir : DEFAULT_DATA_DIR);
  const file = path.join(dir, FILE_NAME);
  let created = false;
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    // Written whole to a file of our own, then linked into place: link() fails if the name exists,
    // so processes starting at once all read the one that won, and nobody ever reads a half-written one.
    const draft = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
    await writeFile(draft, `${randomBytes(32).toString('base64url')}\n`, { flag: 'wx', mode: 0o600 });
    try {
      await link(draft, file);
      created = true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      await rm(draft, { force: true });
    }
  } catch (error) {
    throw new ConfigError(`AUTH_SECRET: unset, and ${file} cannot be written (${(error as Error).message})`);
  }
  // Only a regular file of ours: a link or another user's file could hand us a secret someone chose.
  const info = await lstat(file);
  if (!info.isFile() || (process.getuid && info.uid !== process.getuid())) {
    throw new ConfigError(
      `AUTH_SECRET: unset, and ${file} is not a regular file of this user (set AUTH_SECRET)`,
    );
  }
  const secret = (await readFile(file, 'utf8')).trim();
  if (secret.length < 32) {
    throw new ConfigError(
      `AUTH_SECRET: unset, and ${file} does not hold a development secret of at least 32 characters ` +
        '(delete the file to make a new one, or set AUTH_SECRET)',
    );
  }
  // Owner only, even if someone loosened it: the secret opens everything sealed in that database.
  if ((info.mode & 0o077) !== 0) await chmod(file, 0o600);
  return { config: Object.freeze({ ...config, authSecret: secret }), file, created };
}
