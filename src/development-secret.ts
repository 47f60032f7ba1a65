import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, type Config } from './config.js';

/** Where development keeps its AUTH_SECRET when the database has no directory (DATABASE_URL). */
const DEFAULT_DATA_DIR = '.data';
const FILE_NAME = 'auth-secret';

export interface DevelopmentSecret {
  /** The config with the kept secret in force. */
  readonly config: Config;
  /** The file the secret lives in; undefined for a throwaway (`memory://`) database. */
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
  const dir = url === undefined ? embeddedDir : DEFAULT_DATA_DIR;
  const file = path.join(dir, FILE_NAME);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  let created = false;
  try {
    // 'wx': two processes starting at once both end up with the first one's secret.
    await writeFile(file, `${randomBytes(32).toString('base64url')}\n`, { flag: 'wx', mode: 0o600 });
    created = true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const secret = (await readFile(file, 'utf8')).trim();
  if (secret.length < 32) {
    throw new ConfigError(
      `AUTH_SECRET: unset, and ${file} does not hold a development secret of at least 32 characters ` +
        '(delete the file to make a new one, or set AUTH_SECRET)',
    );
  }
  // Owner only, even if someone loosened it: the secret opens everything sealed in that database.
  if (((await stat(file)).mode & 0o077) !== 0) await chmod(file, 0o600);
  return { config: Object.freeze({ ...config, authSecret: secret }), file, created };
}
