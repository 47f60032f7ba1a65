import { createServer } from 'node:net';
import path from 'node:path';
import type { Config } from '../config.js';
import { runningServerOn } from '../db/embedded.js';

/**
 * What would stop the start, found in a moment, before the emulator, the database and the
 * migrations take their seconds: a server already running on this data directory, a port that is
 * taken. One line for a person, or undefined when nothing is in the way. The listeners still
 * report a port taken in between (portInUse).
 */
export async function whyNotStart(config: Config): Promise<string | undefined> {
  const { url, embeddedDir } = config.database;
  if (url === undefined && !embeddedDir.startsWith('memory://')) {
    const running = await runningServerOn(embeddedDir);
    if (running) return alreadyRunning(embeddedDir, running.pid, running.url);
  }
  for (const { port, host } of ports(config)) {
    const code = await tryListen(port, host);
    if (code === undefined) continue;
    return (await portInUse({ code, port }, config)) ?? `Port ${port} cannot be used (${code})`;
  }
  return undefined;
}

/** A server of ours holds the embedded database's directory. */
export function alreadyRunning(dataDir: string, pid: number, url: string | undefined): string {
  return (
    `A WeChat login server (pid ${pid}) is already running on the embedded database in ${path.resolve(dataDir)}` +
    (url ? `: use it at ${url}/graphql, or stop it (kill ${pid})` : `: stop it (kill ${pid})`) +
    '; a second server beside it needs its own EMBEDDED_DB_DIR and PORT'
  );
}

/** The ports this start will listen on, in the order they are reported. */
function ports({ port, host, emulator, metrics }: Config): { port: number; host: string }[] {
  const list = port === 0 ? [] : [{ port, host }];
  if (emulator.enabled && emulator.url === undefined && emulator.port !== 0) {
    list.push({ port: emulator.port, host: emulator.host });
  }
  if (metrics.port !== undefined) list.push({ port: metrics.port, host: metrics.host });
  return list;
}

/** Listens on the port and lets it go: undefined when that worked, else the error's code. */
function tryListen(port: number, host: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'EADDRINUSE'));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}

/** What answers on a taken port of this machine: one of our servers, an emulator, or something else. */
async function whoAnswers(port: number): Promise<'server' | 'emulator' | undefined> {
  const get = async (route: string) => {
    const response = await fetch(`http://127.0.0.1:${port}${route}`, { signal: AbortSignal.timeout(1000) });
    return response.ok ? ((await response.json()) as Record<string, unknown>) : undefined;
  };
  const discovery = await get('/.well-known/openid-configuration').catch(() => undefined);
  if (typeof discovery?.jwks_uri === 'string' && discovery.jwks_uri.endsWith('/.well-known/jwks.json')) {
    return 'server';
  }
  const apps = await get('/__emulator/apps').catch(() => undefined);
  return Array.isArray(apps?.apps) ? 'emulator' : undefined;
}

/**
 * EADDRINUSE / EACCES on one of our ports, as one line: which port, the variable that moves it,
 * and what already answers there (our own server, an emulator to use instead of starting one).
 */
export async function portInUse(error: unknown, config: Config): Promise<string | undefined> {
  const { port, emulator, metrics } = config;
  const { code, port: taken } = (error ?? {}) as NodeJS.ErrnoException & { port?: number };
  if ((code !== 'EADDRINUSE' && code !== 'EACCES') || taken === undefined) return undefined;
  const problem = code === 'EADDRINUSE' ? 'is already in use' : 'needs privileges this user lacks';
  const answering = code === 'EADDRINUSE' ? await whoAnswers(taken) : undefined;
  const server = `http://localhost:${taken}`;
  if (taken === port) {
    if (code === 'EACCES')
      return `Port ${taken} (PORT) ${problem}: set PORT to one above 1023 (PORT=4000 npm start)`;
    if (answering === 'server') {
      return (
        `Port ${taken} (PORT) is in use by a WeChat login server already running, at ${server}/graphql: ` +
        `use that one, or stop it, or start this one on a free port (PORT=${taken + 1} npm start)`
      );
    }
    return `Port ${taken} (PORT) ${problem}: is another server running? Stop it, or set PORT to a free port (PORT=${taken + 1} npm start)`;
  }
  if (emulator.enabled && emulator.url === undefined && taken === emulator.port) {
    if (answering === 'emulator') {
      return (
        `Port ${taken} (EMULATOR_PORT) is in use by a WeChat emulator already running: use it ` +
        `(WECHAT_EMULATOR_URL=http://127.0.0.1:${taken} npm start), or set EMULATOR_PORT to a free port`
      );
    }
    return (
      `Port ${taken} (EMULATOR_PORT, the built-in WeChat emulator) ${problem}` +
      (answering === 'server' ? ' by a WeChat login server' : '') +
      ': set EMULATOR_PORT to a free port'
    );
  }
  if (taken === metrics.port) {
    return `Port ${taken} (METRICS_PORT, the metrics listener) ${problem}: set METRICS_PORT to a free port, or unset it`;
  }
  return undefined;
}
