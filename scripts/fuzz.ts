/**
 * `npm run fuzz`: a longer run of the requests test/fuzz.test.ts sends (written by
 * test/support/fuzz-requests.ts, sent and checked by test/support/fuzz.ts), against a server of its
 * own: src/main.ts in a child process on a throwaway embedded database
 * (EMBEDDED_DB_DIR=memory://) with the built-in WeChat emulator, both on free ports. Sends the
 * requests one at a time while polling /livez, then prints the documents tried, the answers by
 * status and code, the slowest answer and the slowest /livez, and every untyped answer.
 *
 *   npm run fuzz
 *   npm run fuzz -- --count 40000 --seed 7
 *
 * Options: --count n requests (20000), --seed s (26; the same seed sends the same requests).
 * Exits 1 when an answer was untyped (a 5xx, no extensions.code, a stack trace), /livez failed, or
 * the server logged an error.
 */
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { runFuzz } from '../test/support/fuzz.js';
import { freePort } from '../test/support/process.js';

const { values: args } = parseArgs({
  options: {
    count: { type: 'string', default: '20000' },
    seed: { type: 'string', default: '26' },
  },
});
const COUNT = Number(args.count);
const SEED = Number(args.seed);
if (!Number.isInteger(COUNT) || COUNT < 1 || !Number.isInteger(SEED)) {
  process.stderr.write('usage: npm run fuzz -- [--count n] [--seed s]\n');
  process.exit(2);
}

const out = (line = '') => process.stdout.write(`${line}\n`);

const port = await freePort();
const url = `http://127.0.0.1:${port}`;
const child = spawn(process.execPath, ['--import', '@swc-node/register/esm-register', 'src/main.ts'], {
  env: {
    ...process.env,
    NODE_ENV: 'development',
    HOST: '127.0.0.1',
    PORT: String(port),
    EMBEDDED_DB_DIR: 'memory://',
    WECHAT_EMULATOR: 'on',
    EMULATOR_PORT: String(await freePort()),
    LOG_LEVEL: 'error',
  },
  stdio: ['ignore', 'pipe', 'pipe'],
});
/** Lines the server logged (errors only: LOG_LEVEL=error) and wrote to stderr. */
const logged: string[] = [];
child.stdout.on('data', (chunk: Buffer) =>
  logged.push(...chunk.toString('utf8').split('\n').filter(Boolean)),
);
child.stderr.on('data', (chunk: Buffer) =>
  logged.push(...chunk.toString('utf8').split('\n').filter(Boolean)),
);
const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

let ready = false;
for (const deadline = Date.now() + 120_000; Date.now() < deadline && child.exitCode === null;) {
  ready = (await fetch(`${url}/livez`).catch(() => undefined))?.status === 200;
  if (ready) break;
  await new Promise((resolve) => setTimeout(resolve, 200));
}
if (!ready) {
  child.kill('SIGTERM');
  process.stderr.write(`the server did not start:\n${logged.join('\n')}\n`);
  process.exit(1);
}
const startupLines = logged.length;

out(`fuzzing ${url}/graphql: ${COUNT} requests, seed ${SEED}`);
const result = await runFuzz({
  url,
  count: COUNT,
  seed: SEED,
  onAnswer: (r) => {
    if (r.tried % 2000 === 0) out(`  ${r.tried} sent, worst answer ${r.worstAnswerMs.toFixed(1)} ms`);
  },
});
child.kill('SIGTERM');
await exited;

const errors = logged.slice(startupLines).filter((line) => /"level":(50|60)/.test(line));
const sorted = (counts: Record<string, number>) =>
  Object.entries(counts)
    .sort((a, b) => b[1] - a[1])
    .map(([key, n]) => `${key} ${n}`)
    .join(', ');
out();
out(`documents tried:   ${result.tried} (seed ${SEED})`);
out(`duration:          ${(result.durationMs / 1000).toFixed(1)} s`);
out(`statuses:          ${sorted(result.statuses)}`);
out(`error codes:       ${sorted(result.codes)}`);
out(`worst answer:      ${result.worstAnswerMs.toFixed(1)} ms: ${result.slowest ?? ''}`);
out(
  `worst /livez:      ${result.worstLivezMs.toFixed(1)} ms (${result.livezPolls} polls, ${result.livezFailures} not 200)`,
);
for (const request of result.duringWorstLivez) out(`  answering meanwhile: ${request}`);
out(`untyped answers:   ${result.problems.length}`);
for (const problem of result.problems.slice(0, 10))
  out(
    `  ${problem.problems.join(', ')} (${problem.status}): ${JSON.stringify(problem.request).slice(0, 300)}`,
  );
out(`server errors:     ${errors.length}`);
for (const line of errors.slice(0, 10)) out(`  ${line.slice(0, 300)}`);
process.exit(result.problems.length > 0 || result.livezFailures > 0 || errors.length > 0 ? 1 : 0);
