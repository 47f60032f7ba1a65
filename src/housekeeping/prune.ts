/**
 * `npm run prune` (built: `node dist/src/housekeeping/prune.js`): one housekeeping pass now, then
 * exit. Reads DATABASE_URL (or the embedded database in EMBEDDED_DB_DIR) and the retention
 * variables like the server; prints the rows it deleted per table.
 */
import 'reflect-metadata';
import { ConfigError, loadConfig } from '../config.js';
import { openDatabase } from '../db/database.js';
import { DEFAULT_BATCH_SIZE, prune, totalDeleted } from './housekeeping.js';

async function main(): Promise<void> {
  const config = loadConfig();
  const db = await openDatabase({ ...config.database, migrateOnStart: false });
  try {
    const result = await prune(db.orm, { ...config.housekeeping, batchSize: DEFAULT_BATCH_SIZE });
    const out = (line: string) => process.stdout.write(`${line}\n`);
    if (result.skipped) {
      out('another process is running a housekeeping pass: nothing done');
      return;
    }
    for (const [table, count] of Object.entries(result.deleted)) out(`${table}: ${count} deleted`);
    out(`${totalDeleted(result.deleted)} rows in ${(result.durationMs / 1000).toFixed(1)} s`);
  } finally {
    await db.close();
  }
}

main().catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`${error instanceof ConfigError ? error.report : `prune: ${message}`}\n`);
  process.exit(1);
});
