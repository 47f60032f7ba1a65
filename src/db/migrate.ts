/**
 * Migration commands: `npm run migration:up`, `migration:down`, `migration:pending`, `migration:create`.
 * They use DATABASE_URL, or the embedded database in EMBEDDED_DB_DIR, like the server.
 */
import 'reflect-metadata';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, loadConfig } from '../config.js';
import { openDatabase } from './database.js';

const INDEX = 'src/db/migrations/index.ts';

async function registerMigration(fileName: string): Promise<void> {
  const name = path.basename(fileName, path.extname(fileName));
  const index = (await readFile(INDEX, 'utf8'))
    .replace(/(^import [^\n]*\n)(?![\s\S]*^import )/m, `$1import { ${name} } from './${name}.js';\n`)
    .replace(/\n\];\s*$/, `\n  { name: '${name}', class: ${name} },\n];\n`);
  await writeFile(INDEX, index);
}

async function main(): Promise<void> {
  const command = process.argv[2];
  const config = loadConfig();
  const db = await openDatabase({ ...config.database, migrateOnStart: false });
  try {
    const migrator = db.orm.getMigrator();
    const out = (line: string) => process.stdout.write(`${line}\n`);
    switch (command) {
      case 'up': {
        const applied = await migrator.up();
        out(applied.length ? `applied: ${applied.map((m) => m.name).join(', ')}` : 'nothing to apply');
        break;
      }
      case 'down': {
        const reverted = await migrator.down();
        out(reverted.length ? `reverted: ${reverted.map((m) => m.name).join(', ')}` : 'nothing to revert');
        break;
      }
      case 'pending': {
        const pending = await migrator.getPendingMigrations();
        out(pending.length ? pending.map((m) => m.name).join('\n') : 'no pending migrations');
        break;
      }
      case 'create': {
        await migrator.up();
        const result = await migrator.createMigration(undefined, false, process.argv.includes('--initial'));
        if (!result.fileName) {
          out('no changes: the entities match the database');
          break;
        }
        await registerMigration(result.fileName);
        out(`created src/db/migrations/${result.fileName} and registered it in ${INDEX}`);
        break;
      }
      default:
        throw new ConfigError(
          `unknown migration command "${command ?? ''}" (use up, down, pending or create)`,
        );
    }
  } finally {
    await db.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`migration: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
