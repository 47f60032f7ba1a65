/**
 * `npm run admin -- <command>` (built: `node dist/src/admin/admin-cli.js`): admin API keys
 * (docs/admin.md). Reads DATABASE_URL (or the embedded database) like the server.
 *   keys:create --name NAME --scope read|write   prints a new key once
 *   keys:list                                    every key: id, name, scope, created, last used, revoked
 *   keys:revoke ID                               ends a key at once, on every instance
 */
import 'reflect-metadata';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config.js';
import { openDatabase } from '../db/database.js';
import { AdminKeys } from './admin-keys.js';

const USAGE = `usage:
  npm run admin -- keys:create --name NAME --scope read|write
  npm run admin -- keys:list
  npm run admin -- keys:revoke ID`;

class UsageError extends Error {}

const out = (line: string) => process.stdout.write(`${line}\n`);
const when = (date: Date | null) => (date ? date.toISOString() : '-');

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    options: { name: { type: 'string' }, scope: { type: 'string' } },
    allowPositionals: true,
  });
  const [command, ...rest] = positionals;
  // Arguments are checked before the database is opened: a typo costs nothing.
  if (command === 'keys:create') {
    const name = values.name?.trim();
    if (!name || name.length > 100) throw new UsageError('--name: 1 to 100 characters, who holds the key');
    if (values.scope !== 'read' && values.scope !== 'write') throw new UsageError('--scope: read or write');
  } else if (command === 'keys:revoke') {
    if (rest.length !== 1) throw new UsageError('keys:revoke takes the id of one key (keys:list shows them)');
  } else if (command !== 'keys:list') {
    throw new UsageError(command ? `unknown command "${command}"` : 'a command is needed');
  }

  const config = loadConfig();
  const db = await openDatabase(config.database);
  try {
    const em = db.orm.em.fork();
    if (command === 'keys:create') {
      const { id, key } = await AdminKeys.create(em, values.name!.trim(), values.scope as 'read' | 'write');
      process.stderr.write(`key ${id} (${values.scope}) made; it is shown this once, keep it secret:\n`);
      out(key);
    } else if (command === 'keys:list') {
      out(['id', 'name', 'scope', 'created', 'last used', 'revoked'].join('\t'));
      for (const k of await AdminKeys.list(em)) {
        out([k.id, k.name, k.scope, when(k.createdAt), when(k.lastUsedAt), when(k.revokedAt)].join('\t'));
      }
    } else if (!(await AdminKeys.revoke(em, rest[0]!))) {
      throw new UsageError(`no live key has the id "${rest[0]!.slice(0, 64)}" (keys:list shows them)`);
    } else {
      out(`key ${rest[0]} revoked`);
    }
  } finally {
    await db.close();
  }
}

main().catch((error: unknown) => {
  if (error instanceof UsageError) process.stderr.write(`admin: ${error.message}\n${USAGE}\n`);
  else if (error instanceof ConfigError) process.stderr.write(`${error.report}\n`);
  else process.stderr.write(`admin: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
