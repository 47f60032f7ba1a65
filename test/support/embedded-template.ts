import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import 'reflect-metadata';
import { openDatabase } from '../../src/db/database.js';
import { embeddedCache, startEmbeddedPostgres } from '../../src/db/embedded.js';

/**
 * One migrated embedded database, kept as a tar archive in node_modules/.cache, that every test
 * file on the embedded database starts its own in-memory database from (test/support/database.ts)
 * instead of running initdb and the migrations again: seconds and most of a gigabyte of memory
 * saved per file. The archive is named by a hash of what makes it (PGlite's version, its start
 * parameters, the migrations), so a new migration makes a new one. Run by Jest's global setup
 * (test/setup/embedded-template.mjs) as a script of its own: prints the archive's path.
 */
async function embeddedTemplate(): Promise<string> {
  const root = path.resolve(import.meta.dirname, '../..');
  // The new-database key (PGlite's version and start parameters) and the migrations.
  const { dir, key } = await embeddedCache();
  const hash = createHash('sha256').update(`${key}\0`);
  const migrations = path.join(root, 'src/db/migrations');
  for (const file of (await readdir(migrations)).sort()) {
    hash
      .update(`${file}\0`)
      .update(await readFile(path.join(migrations, file)))
      .update('\0');
  }
  const file = path.join(dir, `embedded-template-${hash.digest('hex').slice(0, 16)}.tar`);
  const made = await stat(file).then(
    () => true,
    () => false,
  );
  if (made) return file;

  const embedded = await startEmbeddedPostgres('memory://');
  try {
    const database = await openDatabase({
      url: embedded.url,
      embeddedDir: '',
      migrateOnStart: true,
      poolMax: 1,
    });
    await database.close();
    const archive = Buffer.from(await (await embedded.dumpDataDir()).arrayBuffer());
    await mkdir(dir, { recursive: true });
    // Whole or not at all: two runs at once each write their own and rename it into place.
    const draft = `${file}.${process.pid}`;
    await writeFile(draft, archive);
    await rename(draft, file);
  } finally {
    await embedded.close();
  }
  return file;
}

process.stdout.write(`${await embeddedTemplate()}\n`);
