/**
 * `npm run import -- FILE.jsonl` (built: `node dist/src/import/import-users.js FILE.jsonl`): imports
 * users from an earlier system, a JSON object per line (docs/import.md). Reads DATABASE_URL (or the
 * embedded database in EMBEDDED_DB_DIR, only while the server is stopped) and the WeChat apps like
 * the server: an identity's kind is its app's. Each refused line is reported on stderr by number and
 * reason, never with its values; a terminal also sees the progress there. The summary goes to
 * stdout. Exits 0 when every line was imported or already there, 2 when some were refused (the
 * others are imported), 1 when the import could not run.
 */
import 'reflect-metadata';
import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { DriverException } from '@mikro-orm/core';
import { ConfigError, loadConfig } from '../config.js';
import { openDatabase } from '../db/database.js';
import { methodKinds } from './import-line.js';
import { importUsers, type ImportSummary } from './user-import.js';

const count = (n: number) => n.toLocaleString('en-US');

/** The summary line: `imported 998, already there 1, refused 1 (of 1,000 lines) in 2.3 s`. */
function summaryLine(s: ImportSummary): string {
  return (
    `imported ${count(s.imported)}, already there ${count(s.alreadyThere)}, refused ${count(s.refused)} ` +
    `(of ${count(s.lines)} lines) in ${s.seconds.toFixed(1)} s`
  );
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  if (args.length !== 1 || args[0]!.startsWith('-')) {
    throw new Error('usage: npm run import -- FILE.jsonl');
  }
  const config = loadConfig();
  // Opened first: a wrong path is said before the database starts.
  const input = createReadStream(args[0]!);
  await once(input, 'open');
  const db = await openDatabase(config.database);
  const tty = process.stderr.isTTY;
  // The progress line is rewritten in place; a report line clears it first.
  const clear = tty ? '\r\x1b[K' : '';
  try {
    const summary = await importUsers(db.orm.em.fork(), createInterface({ input, crlfDelay: Infinity }), {
      kinds: methodKinds(config),
      onRefused: (line, reason) => process.stderr.write(`${clear}line ${line}: ${reason}\n`),
      onBatch: tty ? (s) => process.stderr.write(`${clear}${summaryLine(s)}…`) : undefined,
    });
    process.stderr.write(clear);
    process.stdout.write(`${summaryLine(summary)}\n`);
    return summary.refused > 0 ? 2 : 0;
  } finally {
    input.destroy();
    await db.close();
  }
}

/** Why the import stopped, without a value of the file. */
function failure(error: unknown): string {
  if (error instanceof ConfigError) return error.report;
  // A database error's message quotes its statement, and with it a batch's phone numbers.
  if (error instanceof DriverException) {
    return `import: the database refused a batch (${error.name}, SQLSTATE ${error.sqlState ?? 'unknown'})`;
  }
  return `import: ${error instanceof Error ? error.message : String(error)}`;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${failure(error)}\n`);
    process.exit(1);
  },
);
