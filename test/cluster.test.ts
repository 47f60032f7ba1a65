import { spawn, spawnSync } from 'node:child_process';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ConfigError, loadConfig } from '../src/config.js';
import { DEMO_APPS } from '../src/emulator/apps.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { emulatorControl } from './support/emulator.js';
import { eventually } from './support/eventually.js';
import { parseMetrics, sumOf } from './support/metrics.js';
import { freePort, spawnServer, type ServerProcess } from './support/process.js';
import { AUTH_SECRET } from './support/world.js';

const MINI = DEMO_APPS.find((a) => a.kind === 'mini')!.appid;
const MAIN = ['--import', '@swc-node/register/esm-register', 'src/main.ts'];

function configError(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('WEB_CONCURRENCY, the setting', () => {
  it('is a whole number of processes from 1 to 64, 1 by default; "auto" is not one', () => {
    expect(loadConfig({}).webConcurrency).toBe(1);
    expect(loadConfig({ WEB_CONCURRENCY: '3', DATABASE_URL: 'postgresql://db/app' }).webConcurrency).toBe(3);
    expect(configError({ WEB_CONCURRENCY: 'auto' })).toBe(
      'WEB_CONCURRENCY: must be a whole number of server processes (1: one, the default) (got "auto")',
    );
    expect(configError({ WEB_CONCURRENCY: '0' })).toMatch(/^WEB_CONCURRENCY: must be 1 to 64/);
    expect(configError({ WEB_CONCURRENCY: '65', DATABASE_URL: 'postgresql://db/app' })).toMatch(
      /^WEB_CONCURRENCY: must be 1 to 64/,
    );
  });

  it('refuses more than 1 on the embedded database: one line naming WEB_CONCURRENCY and DATABASE_URL, exit 1', () => {
    const { DATABASE_URL: _unset, ...inherited } = process.env;
    const result = spawnSync(process.execPath, MAIN, {
      env: { ...inherited, NODE_OPTIONS: '', WEB_CONCURRENCY: '2', EMBEDDED_DB_DIR: 'memory://' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      'Configuration error: WEB_CONCURRENCY: more than 1 needs DATABASE_URL: the embedded database (PGlite) ' +
        'serves one process; set DATABASE_URL to a PostgreSQL server, or unset WEB_CONCURRENCY\n',
    );
  });
});

/** A request on a connection of its own: the primary hands each new connection to the next worker. */
function post(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const outgoing = request(
      `${url}/graphql`,
      { method: 'POST', agent: false, headers: { 'content-type': 'application/json', ...headers } },
      (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString()));
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }),
        );
      },
    );
    outgoing.on('error', reject);
    outgoing.end(JSON.stringify(body));
  });
}

/** The JSON log lines written so far (the primary's and its workers': they share its stdout). */
function logLines(server: ServerProcess): Record<string, unknown>[] {
  return server
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Worker id → pid, from the workers' own log lines (each carries both; the primary's name a workerPid). */
function workerPids(server: ServerProcess): Map<number, number> {
  const pids = new Map<number, number>();
  for (const line of logLines(server)) {
    if (typeof line.worker === 'number' && line.workerPid === undefined && typeof line.pid === 'number') {
      pids.set(line.worker, line.pid);
    }
  }
  return pids;
}

// DATABASE_URL is the test database: a PostgreSQL server's (TEST_DATABASE_URL), or the embedded one
// this test process serves on a socket, which takes the connections of several processes in turns.
describe('WEB_CONCURRENCY=2: a primary and two workers on one database', () => {
  let db: TestDatabase;
  let server: ServerProcess;
  let emulatorUrl: string;
  let metricsUrl: string;
  let primaryPid: number;
  /** GraphQL operations sent so far (the metrics must count every one, whichever worker answered). */
  let operations = 0;
  let requestNo = 0;

  /** `{ me { id } }` with the token on a new connection: which worker answered (from its log line), and the body. */
  async function meOnNewConnection(token: string): Promise<{ worker: number; body: unknown }> {
    const reqId = `cluster-test-${++requestNo}`;
    operations++;
    const answer = await post(
      server.url,
      { query: '{ me { id } }' },
      { authorization: `Bearer ${token}`, 'x-request-id': reqId },
    );
    expect(answer.status).toBe(200);
    let worker = 0;
    await eventually(async () => {
      const line = logLines(server).find((l) => l.reqId === reqId && l.msg === 'request completed');
      expect(typeof line?.worker).toBe('number');
      worker = line!.worker as number;
    });
    return { worker, body: answer.body };
  }

  let token: string;
  let userId: string;

  beforeAll(async () => {
    // Empty: the primary applies the migrations.
    db = await createTestDatabase({ empty: true });
    const emulatorPort = await freePort();
    const metricsPort = await freePort();
    emulatorUrl = `http://127.0.0.1:${emulatorPort}`;
    metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    server = await spawnServer(
      {
        WEB_CONCURRENCY: '2',
        DATABASE_URL: db.url,
        DATABASE_POOL_MAX: String(db.poolMax === 1 ? 1 : 5),
        AUTH_SECRET,
        WECHAT_EMULATOR: 'on',
        EMULATOR_PORT: String(emulatorPort),
        METRICS_PORT: String(metricsPort),
        LOG_LEVEL: 'info',
        RATE_LIMIT: 'off',
      },
      await freePort(),
    );
    primaryPid = server.child.pid!;
    // /healthz answers once one worker listens; the primary says when both are ready.
    await eventually(async () => expect(server.output()).toContain('WeChat login server ready at'), 60_000);
  }, 120_000);

  afterAll(async () => {
    if (server?.child.exitCode === null) {
      server.child.kill('SIGKILL');
      for (const pid of workerPids(server).values()) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    await db?.drop();
  });

  it('migrates once, in the primary, and runs two workers whose lines name them', () => {
    const lines = logLines(server);
    const migrations = lines.filter((l) => l.msg === 'applied migrations');
    expect(migrations).toHaveLength(1);
    expect(migrations[0]!.pid).toBe(primaryPid);
    expect(migrations[0]!.worker).toBeUndefined();
    const ready = lines.find(
      (l) => typeof l.msg === 'string' && l.msg.startsWith('WeChat login server ready'),
    );
    expect(ready).toMatchObject({ pid: primaryPid, workers: 2 });
    const pids = workerPids(server);
    expect([...pids.keys()].sort()).toEqual([1, 2]);
    expect(new Set(pids.values()).size).toBe(2);
    expect([...pids.values()]).not.toContain(primaryPid);
  });

  it('answers from both workers: a login on one is good on the other', async () => {
    const code = await emulatorControl(emulatorUrl).code(MINI, 'alice');
    operations++;
    const login = await post(server.url, {
      query: 'mutation ($c: String!) { wechatMiniLogin(input: { code: $c }) { accessToken user { id } } }',
      variables: { c: code },
    });
    const data = (login.body.data as { wechatMiniLogin: { accessToken: string; user: { id: string } } })
      .wechatMiniLogin;
    token = data.accessToken;
    userId = data.user.id;

    const workers = new Set<number>();
    for (let i = 0; i < 6; i++) {
      const { worker, body } = await meOnNewConnection(token);
      expect(body).toEqual({ data: { me: { id: userId } } });
      workers.add(worker);
    }
    expect([...workers].sort()).toEqual([1, 2]);
  }, 60_000);

  it('serves one /metrics on METRICS_PORT: the sum of every worker’s counts', async () => {
    await eventually(async () => {
      const samples = parseMetrics(await (await fetch(metricsUrl)).text());
      // Every operation, whichever worker answered it.
      expect(sumOf(samples, 'wechat_login_graphql_operation_duration_seconds_count')).toBe(operations);
      expect(sumOf(samples, 'wechat_login_logins_total', { kind: 'WECHAT_MINI', outcome: 'success' })).toBe(
        1,
      );
      // Each process's own figures are summed: CPU and memory of the primary and both workers.
      expect(sumOf(samples, 'wechat_login_process_resident_memory_bytes')).toBeGreaterThan(0);
      // Once, whatever the number of processes (prom-client keeps the first).
      expect(samples.filter((s) => s.name === 'wechat_login_nodejs_version_info')).toHaveLength(1);
      expect(samples.filter((s) => s.name === 'wechat_login_webhook_outbox_pending')).toHaveLength(1);
    });
  }, 30_000);

  it('replaces a worker that dies, after a short delay, and serves from the new one', async () => {
    const before = workerPids(server);
    process.kill(before.get(1)!, 'SIGKILL');
    await eventually(async () => {
      const lines = logLines(server);
      expect(
        lines.find((l) => l.msg === 'worker 1 exited by SIGKILL: starting another in 500 ms'),
      ).toMatchObject({ level: 50, pid: primaryPid, worker: 1, signal: 'SIGKILL', restartInMs: 500 });
      expect(lines.find((l) => l.msg === 'worker ready (a replacement)')).toMatchObject({ worker: 3 });
    }, 60_000);
    // New connections reach the replacement too (and never the dead one).
    const workers = new Set<number>();
    for (let i = 0; i < 6; i++) {
      const { worker, body } = await meOnNewConnection(token);
      expect(body).toEqual({ data: { me: { id: userId } } });
      workers.add(worker);
    }
    expect([...workers].sort()).toEqual([2, 3]);
    // The sum now counts what workers 2 and 3 answered since: worker 1's counts went with it.
    const samples = parseMetrics(await (await fetch(metricsUrl)).text());
    expect(sumOf(samples, 'wechat_login_graphql_operation_duration_seconds_count')).toBeGreaterThan(0);
  }, 90_000);

  it('leaves a worker that does not answer out of a scrape, and scrapes at once share one gathering', async () => {
    const stuck = workerPids(server).get(2)!;
    process.kill(stuck, 'SIGSTOP');
    try {
      const warned = () => logLines(server).filter((l) => l.msg === 'a worker left out of a metrics scrape');
      const before = warned().length;
      const answers = await Promise.all([1, 2, 3].map(() => fetch(metricsUrl)));
      expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
      const samples = parseMetrics(await answers[0]!.text());
      // The primary's and worker 3's figures came: one version line, the primary's memory at least.
      expect(samples.filter((s) => s.name === 'wechat_login_nodejs_version_info')).toHaveLength(1);
      expect(sumOf(samples, 'wechat_login_process_resident_memory_bytes')).toBeGreaterThan(0);
      await eventually(async () => expect(warned().length).toBe(before + 1));
      expect(warned().at(-1)).toMatchObject({ level: 40, pid: primaryPid, worker: 2, workerPid: stuck });
    } finally {
      process.kill(stuck, 'SIGCONT');
    }
  }, 60_000);

  it('stops every worker on SIGTERM (each as a server alone stops) and exits 0', async () => {
    const pids = [...workerPids(server).entries()].filter(([id]) => id !== 1).map(([, pid]) => pid);
    expect(pids).toHaveLength(2);
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
    const lines = logLines(server);
    expect(lines.filter((l) => l.msg === 'stopped').map((l) => l.worker ?? 'primary')).toEqual(
      expect.arrayContaining([2, 3, 'primary']),
    );
    expect(lines.find((l) => l.msg === 'stopping: every worker drains and stops')).toMatchObject({
      pid: primaryPid,
      signal: 'SIGTERM',
    });
    await expect(fetch(`${server.url}/livez`)).rejects.toThrow();
  }, 60_000);
});

describe('WEB_CONCURRENCY=2, a worker that cannot start', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('stops the start: the primary exits 1 rather than start workers again and again', async () => {
    // Every worker exits at once, as one whose start fails would; the primary is untouched.
    const refuse = `import cluster from 'node:cluster'; if (cluster.isWorker) { process.stderr.write('worker refused by the test\\n'); process.exit(1); }`;
    const started = spawnServer(
      {
        WEB_CONCURRENCY: '2',
        DATABASE_URL: db.url,
        DATABASE_POOL_MAX: String(db.poolMax),
        AUTH_SECRET,
        WECHAT_EMULATOR: 'off',
        LOG_LEVEL: 'warn',
      },
      await freePort(),
      [`--import=data:text/javascript,${encodeURIComponent(refuse)}`],
    );
    const error = await started.then(
      () => new Error('the server started'),
      (e: unknown) => e as Error,
    );
    expect(error.message).toMatch(/^server exited early \(1\)/);
    expect(error.message).toMatch(
      /^Start failed: worker \d exited with code 1 before it was ready; stopping \(WEB_CONCURRENCY=2\)$/m,
    );
    // Two workers forked, none started again.
    expect(error.message.match(/worker refused by the test/g)!.length).toBeLessThanOrEqual(2);
  }, 60_000);
});

describe('under another cluster primary (PM2 cluster mode), WEB_CONCURRENCY unset', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('runs as a server alone: its checks, its ready line, and nothing said to that primary', async () => {
    const port = await freePort();
    // A primary that is not ours: it forks src/main.ts and prints whatever the worker sends it.
    const primary = [
      "import cluster from 'node:cluster';",
      "cluster.setupPrimary({ exec: 'src/main.ts', execArgv: ['--import', '@swc-node/register/esm-register'] });",
      'const worker = cluster.fork();',
      "worker.on('message', (m) => process.stdout.write('TO PRIMARY ' + JSON.stringify(m) + '\\n'));",
      "process.on('SIGTERM', () => worker.process.kill('SIGTERM'));",
    ].join('\n');
    const { WEB_CONCURRENCY: _unset, ...inherited } = process.env;
    const child = spawn(process.execPath, ['--input-type=module', '-e', primary], {
      env: {
        ...inherited,
        NODE_OPTIONS: '',
        HOST: '127.0.0.1',
        PORT: String(port),
        DATABASE_URL: db.url,
        DATABASE_POOL_MAX: String(db.poolMax),
        AUTH_SECRET,
        WECHAT_EMULATOR: 'off',
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise((resolve) => child.on('exit', resolve));
    try {
      await eventually(async () => expect(output).toContain('WeChat login server ready at'), 60_000);
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      expect(output).not.toContain('TO PRIMARY');
      const ready = output
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .find((l) => typeof l.msg === 'string' && l.msg.startsWith('WeChat login server ready'));
      expect(ready?.worker).toBeUndefined();
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  }, 90_000);
});
