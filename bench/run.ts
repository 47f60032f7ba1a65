/**
 * `npm run bench`: every scenario on the server and on the hand-written baseline
 * (bench/baseline/server.ts: the same SQL, sealing and signing with nothing in between), side by
 * side and interleaved, on real PostgreSQL with the WeChat emulator, and the ratio ours / baseline.
 *
 *   npm run bench
 *   npm run bench -- --only mini,new --rounds 3
 *
 * Scenarios (--only picks some): mini (returning-user mini login), new (first mini login), tail
 * (returning mini login at --tail-latency ms of WeChat latency with --tail-connections connections
 * back to back), web, app (returning-user logins), me, refresh.
 *
 * Options: --wechat-latency ms (0) for all but tail, --connections n (32), --tail-latency ms (50),
 * --tail-connections n (200), --duration s per run (6), --rounds n of the interleaved
 * ours/baseline runs (2), --users n returning users (500), --rate-limit (leave rate limits on,
 * with limits too high to refuse anything: the cost of counting; they are off by default; then
 * compare the rate limiter alone with the hand-written one it replaced, bench/rate-limit.ts),
 * --rate-limit-only (that comparison alone), --tickets (login tickets alone: bench/tickets.ts), --follow (follow-login alone: bench/follow.ts), --oidc (the OpenID Connect provider alone: bench/oidc.ts), --peer (a complete website login, both steps, on ours and on better-auth's WeChat provider, and the ratio: bench/peer.ts), --rate n requests/s offered over all connections (0,
 * the default: saturation), --think-ms t: clients that wait t ms after each answer (people using an
 * app) instead of autocannon's back-to-back requests, --ours-dir dir: run the server of another
 * built checkout as "ours" (before/after: `git worktree add ../before <commit>`, `npm ci && npm run
 * build` there, then `npm run bench -- --ours-dir ../before`), --vs dir: that other build in the
 * baseline's place, sent the same GraphQL requests (one change's before/after in one interleaved
 * run: `npm run bench -- --vs ../before`), --web-concurrency n: our server's WEB_CONCURRENCY (1: one
 * process; n: a primary and n workers, whose CPU and RSS are summed). BENCH_NODE_FLAGS (BENCH_VS_NODE_FLAGS for --vs's server): extra node flags
 * for the server (V8 tuning experiments). BENCH_CPU_PROFILE=dir writes the server's
 * CPU profile (node --cpu-prof) there when it stops.
 *
 * This file is the command line and the loop over the scenario table; the parts: options.ts (the
 * command line's options), processes.ts (the database, emulator, our server and the baseline),
 * fixtures.ts (returning users, codes, tokens), scenarios.ts (the table: what one request is on
 * each server), measure.ts (one run's load and figures) and report.ts (the printed table).
 */
import { prepareFixtures } from './fixtures.js';
import { measureRun, warmUp, type Figures } from './measure.js';
import { parseOptions } from './options.js';
import {
  createDatabase,
  killProcesses,
  setWechatLatency,
  startServers,
  stopProcesses,
  type Servers,
} from './processes.js';
import { compareRateLimiters } from './rate-limit.js';
import { measureFollow } from './follow.js';
import { measureOidc } from './oidc.js';
import { measureScale } from './scale.js';
import { measurePeer } from './peer.js';
import { measureTickets } from './tickets.js';
import { out, printReport, type Measured } from './report.js';
import { scenarioTable, type Scenario } from './scenarios.js';

const options = parseOptions();
const SIDES = ['ours', 'baseline'] as const;

/** A short warm-up of every scenario on both (JIT, pools, keep-alive connections), not counted. */
async function warmUpAll(scenarios: Scenario[], servers: Servers): Promise<void> {
  for (const scenario of scenarios) {
    await setWechatLatency(servers.emulatorUrl, scenario.latency);
    for (const side of SIDES) {
      await warmUp(servers[side].url, scenario.connections, await scenario[side]());
    }
  }
}

/** Interleaved: ours, baseline, ours, baseline… on the same database, emulator and machine. */
async function measureRounds(scenarios: Scenario[], servers: Servers): Promise<Measured[]> {
  const measured = scenarios.map((scenario) => ({
    name: scenario.name,
    ours: [] as Figures[],
    baseline: [] as Figures[],
  }));
  for (let round = 0; round < options.rounds; round++) {
    for (const [i, scenario] of scenarios.entries()) {
      await setWechatLatency(servers.emulatorUrl, scenario.latency);
      for (const side of SIDES) {
        const requests = await scenario[side]();
        measured[i]![side].push(
          await measureRun(options, servers.emulatorUrl, servers[side], requests, scenario.connections),
        );
      }
    }
  }
  return measured;
}

async function main(): Promise<void> {
  const database = await createDatabase();
  try {
    if (options.tickets) {
      await measureTickets(options, database.url, out);
      return;
    }
    if (options.follow) {
      await measureFollow(options, database.url, out);
      return;
    }
    if (options.oidc) {
      await measureOidc(options, database.url, out);
      return;
    }
    if (options.scale) {
      if ((await measureScale(options, out)) !== 0) process.exitCode = 1;
      return;
    }
    if (options.peer) {
      await measurePeer(options, database.url, out);
      return;
    }
    if (options.rateLimitOnly) {
      await compareRateLimiters(database.url, out);
      return;
    }
    const servers = await startServers(options, database.url);
    const fixtures = await prepareFixtures(options, servers, database.url);
    const scenarios = scenarioTable(options, fixtures).filter((scenario) => options.only.has(scenario.key));
    await warmUpAll(scenarios, servers);
    const measured = await measureRounds(scenarios, servers);
    const errors = printReport(options, database.host, measured, servers);
    if (errors !== 0) process.exitCode = 1;
    if (options.rateLimit) {
      // The limiter alone, once the servers are gone (they would share the CPUs).
      await stopProcesses();
      await compareRateLimiters(database.url, out);
    }
  } finally {
    await stopProcesses();
    await database.drop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  killProcesses('SIGKILL');
  process.exit(1);
});
