import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { ourSchema, writeRequest, type FuzzRequest } from './fuzz-requests.js';
import { randOf } from './fuzz-writer.js';

/**
 * Sends generated requests (fuzz-requests.ts) to a server and checks every answer is typed, while
 * a thread of its own polls /livez. test/fuzz.test.ts and `npm run fuzz` (scripts/fuzz.ts) run it.
 */

/** What was wrong with one answer to POST /graphql: nothing for a typed answer. */
export function problemsWith(status: number, text: string): string[] {
  const problems: string[] = [];
  if (status >= 500) problems.push(`status ${status}`);
  if (/"stacktrace"/.test(text)) problems.push('a stacktrace extension');
  if (/\\n {4}at |^ {4}at /m.test(text)) problems.push('a stack trace line');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    problems.push('a body that is not JSON');
    return problems;
  }
  if (typeof body !== 'object' || body === null || !('data' in body || 'errors' in body)) {
    problems.push('neither data nor errors');
    return problems;
  }
  const errors = (body as { errors?: unknown }).errors;
  if (errors !== undefined) {
    if (!Array.isArray(errors) || errors.length === 0) problems.push('errors that is not a list of errors');
    else
      for (const error of errors as Array<{ extensions?: { code?: unknown } }>)
        if (typeof error?.extensions?.code !== 'string') problems.push('an error without extensions.code');
  }
  return problems;
}

/** Figures of a fuzz run. */
export interface FuzzResult {
  tried: number;
  /** Answers by HTTP status. */
  statuses: Record<string, number>;
  /** Errors by extensions.code. */
  codes: Record<string, number>;
  worstAnswerMs: number;
  /** The request that took worstAnswerMs, its first 300 characters. */
  slowest?: string;
  worstLivezMs: number;
  /** The requests the server was answering while the slowest /livez poll waited (first 300 characters each). */
  duringWorstLivez: string[];
  livezPolls: number;
  /** Polls of /livez that did not answer 200. */
  livezFailures: number;
  /** Answers that were not typed, with their request. */
  problems: Array<{ request: FuzzRequest; status: number; problems: string[] }>;
  durationMs: number;
}

interface LivezFigures {
  worst: number;
  /** When the slowest poll was sent (ms since the epoch). */
  worstAt: number;
  polls: number;
  failures: number;
}

/**
 * Polls `${url}/livez` every 10 ms from a thread of its own until stopped, so what it measures is
 * the server's delay, not the sender's (a server in this process, as in tests, is measured too).
 */
function pollLivez(url: string): { stop(): Promise<LivezFigures> } {
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
    let done = false, worst = 0, worstAt = 0, polls = 0, failures = 0;
    parentPort.on('message', () => { done = true; });
    (async () => {
      while (!done) {
        const t0 = performance.now();
        let status = 0;
        try {
          const response = await fetch(workerData.url + '/livez');
          status = response.status;
          await response.arrayBuffer();
        } catch {}
        const ms = performance.now() - t0;
        if (ms > worst) [worst, worstAt] = [ms, performance.timeOrigin + t0];
        polls += 1;
        if (status !== 200) failures += 1;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      parentPort.postMessage({ worst, worstAt, polls, failures });
    })();`,
    { eval: true, workerData: { url } },
  );
  const figures = new Promise<LivezFigures>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return {
    async stop() {
      worker.postMessage('stop');
      const result = await figures;
      await worker.terminate();
      return result;
    },
  };
}

/**
 * Sends `count` generated requests (seed `seed`) to `${url}/graphql`, one at a time, while a loop
 * polls `${url}/livez`. `stopOnProblem`: the first untyped answer throws (fast-check reports the
 * seed and the path that replays it); otherwise every problem is collected.
 */
export async function runFuzz(options: {
  url: string;
  count: number;
  seed: number;
  stopOnProblem?: boolean;
  /** Told after each answer (progress). */
  onAnswer?: (result: FuzzResult) => void;
}): Promise<FuzzResult> {
  const { url, count, seed } = options;
  const schema = ourSchema();
  const result: FuzzResult = {
    tried: 0,
    statuses: {},
    codes: {},
    worstAnswerMs: 0,
    worstLivezMs: 0,
    livezPolls: 0,
    livezFailures: 0,
    duringWorstLivez: [],
    problems: [],
    durationMs: 0,
  };
  const started = performance.now();
  const poller = pollLivez(url);
  /** When each request was sent and answered (ms since the epoch), to find what a slow poll waited on. */
  const spans: Array<[number, number, FuzzRequest]> = [];
  try {
    await fc.assert(
      fc.asyncProperty(fc.gen(), async (g) => {
        const request = writeRequest(schema, randOf(g));
        const t0 = performance.now();
        const response = await fetch(`${url}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(request),
        });
        const text = await response.text();
        const ms = performance.now() - t0;
        spans.push([performance.timeOrigin + t0, performance.timeOrigin + t0 + ms, request]);
        if (ms > result.worstAnswerMs) {
          result.worstAnswerMs = ms;
          result.slowest = JSON.stringify(request).slice(0, 300);
        }
        result.tried += 1;
        result.statuses[response.status] = (result.statuses[response.status] ?? 0) + 1;
        try {
          for (const error of (JSON.parse(text) as { errors?: Array<{ extensions?: { code?: unknown } }> })
            .errors ?? [])
            result.codes[String(error?.extensions?.code)] =
              (result.codes[String(error?.extensions?.code)] ?? 0) + 1;
        } catch {
          // problemsWith says so.
        }
        const problems = problemsWith(response.status, text);
        options.onAnswer?.(result);
        if (problems.length === 0) return;
        result.problems.push({ request, status: response.status, problems });
        if (options.stopOnProblem)
          throw new Error(
            `${problems.join(', ')} (status ${response.status}) for ${JSON.stringify(request).slice(0, 2000)}\n` +
              `answer: ${text.slice(0, 2000)}`,
          );
      }),
      { seed, numRuns: count, endOnFailure: true },
    );
  } finally {
    const polls = await poller.stop();
    result.worstLivezMs = polls.worst;
    result.duringWorstLivez = spans
      .filter(([from, to]) => to >= polls.worstAt && from <= polls.worstAt + polls.worst)
      .map(([, , request]) => JSON.stringify(request).slice(0, 300));
    result.livezPolls = polls.polls;
    result.livezFailures = polls.failures;
    result.durationMs = performance.now() - started;
  }
  return result;
}
