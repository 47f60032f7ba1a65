import { readdirSync, readFileSync } from 'node:fs';
import autocannon from 'autocannon';
import { Pool } from 'undici';
import type { BenchOptions } from './options.js';
import type { Server } from './processes.js';

/**
 * How one run is driven and measured: load from autocannon (or clients with think time), the
 * server's CPU time and peak RSS from /proc, WeChat calls from the emulator's stats and, for ours,
 * where requests waited from its /metrics.
 */

/** One server's requests for a run: its path, and `next()` gives each request its body. */
export interface Requests {
  path: string;
  next: () => string;
  headers?: Record<string, string>;
  /** Each request's Authorization header, when they differ (bearer tokens of many sessions). */
  authorization?: () => string;
}

interface Load {
  rps: number;
  p50: number;
  p99: number;
  completed: number;
  sent: number;
  errors: number;
}

export interface Figures {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  errors: number;
  cpuMsPerRequest: number;
  peakRssMiB: number;
  wechatCallsPerRequest: number;
  wechatConnections: number;
  /** Ours only (its /metrics, read every 250 ms): the most queries ever waiting for a pool connection. */
  poolWaitingMax: number;
  /** Ours only: the worst event-loop delay p99 of any 250 ms window, ms. */
  loopLagP99Ms: number;
}

/** autocannon's hook before each request: a fresh body, and the Authorization header when it varies. */
const setupRequest =
  ({ next, authorization }: Requests) =>
  (request: autocannon.Request): autocannon.Request =>
    authorization
      ? { ...request, body: next(), headers: { ...request.headers, authorization: authorization() } }
      : { ...request, body: next() };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The process and its descendants (WEB_CONCURRENCY's workers), from /proc/<pid>/task/<tid>/children. */
function processTree(pid: number): number[] {
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) {
    for (const task of readdirSync(`/proc/${tree[i]}/task`)) {
      const children = readFileSync(`/proc/${tree[i]}/task/${task}/children`, 'utf8').trim();
      if (children) tree.push(...children.split(' ').map(Number));
    }
  }
  return tree;
}

/**
 * CPU seconds (user + system) and peak RSS (MiB) of a process and its descendants, from /proc: a
 * primary and its workers count as one server. The CPU includes children already gone (the
 * parent's cutime and cstime: a worker replaced meanwhile); the peak RSS is the sum of each live
 * process's own peak (VmHWM), so at least the peak of their total.
 */
export function usage(pid: number): { cpu: number; peakRssMiB: number } {
  let ticks = 0;
  let hwmKiB = 0;
  for (const member of processTree(pid)) {
    try {
      const stat = readFileSync(`/proc/${member}/stat`, 'utf8').split(') ')[1]!.split(' ');
      ticks += Number(stat[11]) + Number(stat[12]) + Number(stat[13]) + Number(stat[14]);
      hwmKiB += Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${member}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      // Gone since it was listed.
    }
  }
  return { cpu: ticks / 100, peakRssMiB: Math.round(hwmKiB / 1024) };
}

/** Clients with think time (see BenchOptions.thinkMs), over keep-alive connections; latency per request. */
async function thinkLoad(
  options: BenchOptions,
  connections: number,
  url: string,
  { path, next, authorization }: Requests,
  headers: Record<string, string>,
): Promise<Load> {
  const pool = new Pool(url, { connections });
  const latencies: number[] = [];
  let errors = 0;
  let sent = 0;
  const started = Date.now();
  const end = started + options.duration * 1000;
  await Promise.all(
    Array.from({ length: connections }, async (_, i) => {
      await sleep((options.thinkMs * i) / connections);
      while (Date.now() < end) {
        const body = next();
        sent += 1;
        const t0 = performance.now();
        try {
          const response = await pool.request({
            method: 'POST',
            path,
            headers: authorization ? { ...headers, authorization: authorization() } : headers,
            body,
          });
          const text = await response.body.text();
          if (response.statusCode !== 200 || text.includes('"errors"')) errors += 1;
          latencies.push(performance.now() - t0);
        } catch {
          errors += 1;
        }
        await sleep(options.thinkMs);
      }
    }),
  );
  const elapsed = (Date.now() - started) / 1000;
  await pool.close();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return {
    rps: latencies.length / elapsed,
    p50: at(0.5),
    p99: at(0.99),
    completed: latencies.length,
    sent,
    errors,
  };
}

/** autocannon's back-to-back requests (or --rate requests/s over all connections). */
async function autocannonLoad(
  options: BenchOptions,
  connections: number,
  url: string,
  requests: Requests,
  headers: Record<string, string>,
): Promise<Load> {
  const { path } = requests;
  let errors = 0;
  const result = await autocannon({
    url,
    connections,
    duration: options.duration,
    ...(options.rate > 0 ? { overallRate: options.rate } : {}),
    requests: [
      {
        method: 'POST',
        path,
        headers,
        setupRequest: setupRequest(requests),
        onResponse: (status, body) => {
          if (status !== 200 || body.includes('"errors"')) errors += 1;
        },
      },
    ],
  });
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    completed: result.requests.total,
    sent: result.requests.sent,
    errors: errors + result.errors + result.timeouts + result.non2xx,
  };
}

/** Reads our server's /metrics every 250 ms while `work` runs: where requests wait. */
async function sampleQueues<T>(
  metricsUrl: string | undefined,
  work: () => Promise<T>,
): Promise<{ result: T; poolWaitingMax: number; loopLagP99Ms: number }> {
  let poolWaitingMax = 0;
  let loopLagP99Ms = 0;
  let running = true;
  const value = (text: string, name: string) =>
    Number(new RegExp(`^${name} ([0-9.e+-]+)$`, 'm').exec(text)?.[1] ?? 0);
  const sampler = (async () => {
    while (metricsUrl && running) {
      await sleep(250);
      const text = await fetch(metricsUrl).then(
        (r) => r.text(),
        () => '',
      );
      poolWaitingMax = Math.max(poolWaitingMax, value(text, 'wechat_login_db_pool_pending_acquires'));
      loopLagP99Ms = Math.max(
        loopLagP99Ms,
        1000 * value(text, 'wechat_login_nodejs_eventloop_lag_p99_seconds'),
      );
    }
  })();
  try {
    return { result: await work(), poolWaitingMax, loopLagP99Ms };
  } finally {
    running = false;
    await sampler;
  }
}

async function emulatorStats(emulatorUrl: string): Promise<{ calls: number; connections: number }> {
  const stats = (await (await fetch(`${emulatorUrl}/__emulator/stats`)).json()) as {
    calls: Record<string, number>;
    connections: number;
  };
  return { calls: Object.values(stats.calls).reduce((a, b) => a + b, 0), connections: stats.connections };
}

/** One measured run of `requests` on `target` at `connections` connections. */
export async function measureRun(
  options: BenchOptions,
  emulatorUrl: string,
  target: Server,
  requests: Requests,
  connections: number,
): Promise<Figures> {
  const { headers = {} } = requests;
  const statsBefore = await emulatorStats(emulatorUrl);
  const before = usage(target.pid);
  const allHeaders = { 'content-type': 'application/json', ...headers };
  const drive = (): Promise<Load> =>
    (options.thinkMs > 0 ? thinkLoad : autocannonLoad)(
      options,
      connections,
      target.url,
      requests,
      allHeaders,
    );
  const sampled = await sampleQueues(target.metricsUrl, drive);
  const load = sampled.result;
  const after = usage(target.pid);
  const statsAfter = await emulatorStats(emulatorUrl);
  const calls = statsAfter.calls - statsBefore.calls;
  const completed = load.completed;
  return {
    rps: load.rps,
    p50: load.p50,
    p99: load.p99,
    requests: completed,
    errors: load.errors,
    cpuMsPerRequest: ((after.cpu - before.cpu) * 1000) / Math.max(1, completed),
    peakRssMiB: after.peakRssMiB,
    // Per request sent: requests still in flight when the run stops made their calls too.
    wechatCallsPerRequest: calls / Math.max(1, load.sent),
    wechatConnections: statsAfter.connections - statsBefore.connections,
    poolWaitingMax: sampled.poolWaitingMax,
    loopLagP99Ms: sampled.loopLagP99Ms,
  };
}

/** A short run, not measured: JIT, pools and keep-alive connections warm before the counted runs. */
export async function warmUp(url: string, connections: number, requests: Requests): Promise<void> {
  const { path, headers = {} } = requests;
  await autocannon({
    url,
    connections,
    duration: 1,
    requests: [
      {
        method: 'POST',
        path,
        headers: { 'content-type': 'application/json', ...headers },
        setupRequest: setupRequest(requests),
      },
    ],
  });
}
