// The server's memory with the embedded database, without the rest of the server: opens (and on a
// new directory creates) the database in the given directory, applies the migrations, and prints
// VmRSS and its peak VmHWM in MiB. Run on a new directory, then again on the same one:
//   npm run build && d=$(mktemp -d) && node bench/embedded-memory.mjs $d/pg && node bench/embedded-memory.mjs $d/pg
import { readFileSync } from 'node:fs';
import 'reflect-metadata';

const { openDatabase } = await import(new URL('../dist/src/db/database.js', import.meta.url).href);

const dataDir = process.argv[2];
if (!dataDir) throw new Error('usage: node bench/embedded-memory.mjs <data directory>');
const started = performance.now();
const db = await openDatabase({ url: undefined, embeddedDir: dataDir, migrateOnStart: true });
const status = readFileSync('/proc/self/status', 'utf8');
const mib = (field) => Math.round(Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status)[1]) / 1024);
process.stdout.write(
  `open and migrate: ${Math.round(performance.now() - started)} ms, VmRSS ${mib('VmRSS')} MiB, VmHWM ${mib('VmHWM')} MiB\n`,
);
await db.close();
