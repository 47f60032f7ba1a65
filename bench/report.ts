import os from 'node:os';
import { usage, type Figures } from './measure.js';
import type { BenchOptions } from './options.js';
import type { Servers } from './processes.js';

/**
 * What the bench prints: a heading with the machine and the options, one row per scenario (means
 * over the rounds, ours against the baseline), what the columns mean, both servers' peak RSS and
 * the errors (which must be 0).
 */

export const out = (line = '') => process.stdout.write(`${line}\n`);

/** One scenario's runs: its name and every round's figures of each server. */
export interface Measured {
  name: string;
  ours: Figures[];
  baseline: Figures[];
}

/** Means over the rounds; requests and errors summed, peaks the highest. */
function mean(runs: Figures[]): Figures {
  return {
    ...runs[0]!,
    ...Object.fromEntries(
      (
        [
          'rps',
          'p50',
          'p99',
          'cpuMsPerRequest',
          'wechatCallsPerRequest',
          'wechatConnections',
          'loopLagP99Ms',
        ] as const
      ).map((k) => [k, runs.reduce((sum, r) => sum + r[k], 0) / runs.length]),
    ),
    requests: runs.reduce((sum, r) => sum + r.requests, 0),
    errors: runs.reduce((sum, r) => sum + r.errors, 0),
    peakRssMiB: Math.max(...runs.map((r) => r.peakRssMiB)),
    poolWaitingMax: Math.max(...runs.map((r) => r.poolWaitingMax)),
  };
}

function printHeading(options: BenchOptions, postgresHost: string): void {
  const { wechatLatency, tailLatency, connections, tailConnections, thinkMs, rate } = options;
  out();
  out(
    `WeChat login server benchmark: ${os.cpus().length} cores, Node ${process.version}, PostgreSQL at ${postgresHost}`,
  );
  out(
    `WeChat latency ${wechatLatency} ms (tail: ${tailLatency} ms), ${connections} ${thinkMs > 0 ? `clients thinking ${thinkMs} ms between requests` : `connections (tail: ${tailConnections}), ${rate > 0 ? `${rate} req/s offered` : 'saturation'}`}, ` +
      `${options.duration} s per run, ${options.rounds} interleaved rounds ours/baseline (means), rate limits ${options.rateLimit ? 'on' : 'off'}`,
  );
  if (options.vsDir)
    out(`baseline ("base"): our server built in ${options.vsDir} (--vs), not bench/baseline`);
  if (options.webConcurrency > 1) {
    out(
      `ours: WEB_CONCURRENCY=${options.webConcurrency}, a primary and ${options.webConcurrency} workers of 10 pool connections each; ` +
        'CPU and RSS summed over them; pool wait summed and loop lag p99 averaged over them (their /metrics)',
    );
  }
  out();
}

const HEADER = [
  'scenario',
  'ours req/s',
  'base req/s',
  'ratio',
  'ours p50',
  'ours p99',
  'base p50',
  'base p99',
  'p99 ratio',
  'errors',
  'ours CPU ms',
  'base CPU ms',
  'WeChat calls',
  'pool wait',
  'loop lag p99',
];

function row(name: string, us: Figures, them: Figures): string[] {
  return [
    name,
    us.rps.toFixed(0),
    them.rps.toFixed(0),
    (us.rps / them.rps).toFixed(2),
    us.p50.toFixed(1),
    us.p99.toFixed(1),
    them.p50.toFixed(1),
    them.p99.toFixed(1),
    (us.p99 / them.p99).toFixed(2),
    `${us.errors}/${them.errors}`,
    us.cpuMsPerRequest.toFixed(2),
    them.cpuMsPerRequest.toFixed(2),
    us.wechatCallsPerRequest.toFixed(2),
    String(us.poolWaitingMax),
    us.loopLagP99Ms.toFixed(1),
  ];
}

/** Prints the whole report; returns the errors of every run of both servers. */
export function printReport(
  options: BenchOptions,
  postgresHost: string,
  measured: Measured[],
  servers: Servers,
): number {
  printHeading(options, postgresHost);
  const rows: string[][] = [];
  let errors = 0;
  for (const scenario of measured) {
    const us = mean(scenario.ours);
    const them = mean(scenario.baseline);
    errors += us.errors + them.errors;
    rows.push(row(scenario.name, us, them));
  }
  const widths = HEADER.map((h, i) => Math.max(h.length, ...rows.map((cells) => cells[i]!.length)));
  for (const cells of [HEADER, ...rows])
    out(cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  '));
  out();
  out(
    'ratio: ours / baseline req/s; p99 ratio: ours / baseline p99; latencies in ms; CPU ms: CPU time per request; ' +
      'WeChat calls: ours, per request sent; pool wait: the most queries ours ever had waiting for a ' +
      'database connection; loop lag p99: ours, worst event-loop delay p99 of a 250 ms window, ms',
  );
  out(
    `peak RSS under load (VmHWM): ours ${usage(servers.ours.pid).peakRssMiB} MiB, baseline ${usage(servers.baseline.pid).peakRssMiB} MiB`,
  );
  out(errors === 0 ? 'errors: 0' : `errors: ${errors} (must be 0)`);
  return errors;
}
