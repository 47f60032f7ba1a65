import { readFile } from 'node:fs/promises';
import * as oidc from 'openid-client';
import type { BenchOptions } from './options.js';
import { APPS, freePort, post, startEmulator, startOurs, stopProcesses, type Server } from './processes.js';
import { percentile } from './tickets.js';

/**
 * `npm run bench -- --oidc`: the OpenID Connect provider (bench/oidc.ts).
 * - Start-up and memory: our server started STARTS times without OIDC_CLIENTS and with it (time from
 *   spawn to /healthz, resident memory once healthy), then its memory after the flows.
 * - A flow: FLOWS complete sign-ins of a relying party (openid-client in this process, one after
 *   another) through the sign-in page's website QR (the emulator plays WeChat's page: a code at
 *   once), the code exchanged and refreshed once: the requests the browser makes to our server and
 *   the redirects among them, and each part's time.
 */
const FLOWS = Number(process.env.BENCH_OIDC_FLOWS ?? 200);
const STARTS = Number(process.env.BENCH_OIDC_STARTS ?? 3);
const RP = 'https://rp.example';
const CLIENT = {
  clientId: 'bench-rp',
  clientSecret: 'bench-rp-secret-0123456789abcdefghijkl',
  redirectUris: [`${RP}/callback`],
  name: 'Bench RP',
  firstParty: true,
};

/** Resident memory of the server process (VmRSS), in MiB. */
async function residentMiB(server: Server): Promise<number> {
  const status = await readFile(`/proc/${server.pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1]) / 1024;
}

/** A cookie jar and manual redirects: what a browser does, counted. */
class Browser {
  private readonly jar = new Map<string, string>();
  requests = 0;
  redirects = 0;

  async get(url: string): Promise<{ status: number; location: string | null }> {
    this.requests++;
    const cookie = [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const response = await fetch(url, { redirect: 'manual', headers: cookie ? { cookie } : {} });
    for (const line of response.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const at = pair.indexOf('=');
      this.jar.set(pair.slice(0, at), pair.slice(at + 1));
    }
    await response.arrayBuffer();
    const location = response.headers.get('location');
    if (location) this.redirects++;
    return { status: response.status, location: location && new URL(location, url).href };
  }

  /** Follows redirects while they stay on `origin`; the first URL elsewhere. */
  async follow(url: string, origin: string): Promise<string> {
    let at = url;
    for (;;) {
      const { location } = await this.get(at);
      if (!location) throw new Error(`${at}: no redirect`);
      if (new URL(location).origin !== origin) return location;
      at = location;
    }
  }
}

interface FlowFigures {
  /** From the relying party's redirect to the sign-in page being shown. */
  toPage: number;
  /** From choosing the website QR to the relying party's redirect URI (WeChat's page is instant here). */
  signIn: number;
  exchange: number;
  refresh: number;
  requests: number;
  redirects: number;
}

async function flow(
  config: oidc.Configuration,
  issuer: string,
  emulatorUrl: string,
  i: number,
): Promise<FlowFigures> {
  const browser = new Browser();
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: `${RP}/callback`,
    scope: 'openid profile offline_access',
    prompt: 'consent',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
  });
  let t = performance.now();
  const interaction = (await browser.get(url.href)).location!;
  await browser.get(interaction);
  const toPage = performance.now() - t;
  t = performance.now();
  const toWechat = (await browser.get(`${interaction}/wechat/web`)).location!;
  const wechat = new URL(toWechat);
  const { code } = await post<{ code: string }>(`${emulatorUrl}/__emulator/codes`, {
    appid: APPS.web.appid,
    user: `bench-oidc-${i % 100}`,
  });
  const back = `${wechat.searchParams.get('redirect_uri')}?code=${code}&state=${wechat.searchParams.get('state')}`;
  const callback = await browser.follow(back, new URL(issuer).origin);
  const signIn = performance.now() - t;
  t = performance.now();
  const tokens = await oidc.authorizationCodeGrant(config, new URL(callback), {
    pkceCodeVerifier: verifier,
    expectedState: state,
  });
  const exchange = performance.now() - t;
  t = performance.now();
  await oidc.refreshTokenGrant(config, tokens.refresh_token!);
  const refresh = performance.now() - t;
  return { toPage, signIn, exchange, refresh, requests: browser.requests, redirects: browser.redirects };
}

export async function measureOidc(
  options: BenchOptions,
  dbUrl: string,
  out: (line: string) => void,
): Promise<void> {
  const env = (issuer: string) => ({ PUBLIC_URL: issuer, OIDC_CLIENTS: JSON.stringify([CLIENT]) });

  const starts: Record<'without' | 'with', { ms: number; mib: number }[]> = { without: [], with: [] };
  for (let i = 0; i < STARTS; i++) {
    for (const side of ['without', 'with'] as const) {
      const port = await freePort();
      const began = performance.now();
      // No WeChat call at a start: no emulator yet (stopping the servers stops every process).
      const server = await startOurs(
        options,
        dbUrl,
        'http://127.0.0.1:9',
        false,
        port,
        side === 'with' ? env(`http://127.0.0.1:${port}`) : {},
      );
      starts[side].push({ ms: performance.now() - began, mib: await residentMiB(server) });
      await stopProcesses();
    }
  }

  const emulatorUrl = await startEmulator();
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const server = await startOurs(options, dbUrl, emulatorUrl, false, port, env(issuer));
  const config = await oidc.discovery(new URL(issuer), CLIENT.clientId, CLIENT.clientSecret, undefined, {
    execute: [oidc.allowInsecureRequests],
  });
  for (let i = 0; i < 20; i++) await flow(config, issuer, emulatorUrl, i);
  const before = await residentMiB(server);
  const flows: FlowFigures[] = [];
  const began = performance.now();
  for (let i = 0; i < FLOWS; i++) flows.push(await flow(config, issuer, emulatorUrl, i));
  const wall = performance.now() - began;
  const after = await residentMiB(server);

  const ms = (n: number) => `${n.toFixed(1)} ms`;
  const row = (name: string, pick: (f: FlowFigures) => number) => {
    const s = flows.map(pick).sort((a, b) => a - b);
    return `| ${name} | ${ms(percentile(s, 0.5))} | ${ms(percentile(s, 0.9))} | ${ms(percentile(s, 0.99))} | ${ms(s.at(-1)!)} |`;
  };
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  out(
    `OpenID Connect provider (${STARTS} starts each way; ${FLOWS} flows one after another after 20 to warm up):`,
  );
  out('| start | time to /healthz (median) | resident memory once healthy (median) |');
  out('|---|---|---|');
  for (const side of ['without', 'with'] as const) {
    out(
      `| ${side} OIDC_CLIENTS | ${ms(median(starts[side].map((s) => s.ms)))} | ${median(starts[side].map((s) => s.mib)).toFixed(1)} MiB |`,
    );
  }
  out(
    `\nBrowser requests to our server per flow: ${flows[0]!.requests}, of which redirects: ${flows[0]!.redirects}`,
  );
  out('| part of a flow | p50 | p90 | p99 | max |');
  out('|---|---|---|---|---|');
  out(row('authorization request → sign-in page shown', (f) => f.toPage));
  out(row('website QR chosen → relying party’s redirect URI', (f) => f.signIn));
  out(row('code → tokens (token endpoint)', (f) => f.exchange));
  out(row('refresh (token endpoint)', (f) => f.refresh));
  out(row('whole flow', (f) => f.toPage + f.signIn + f.exchange + f.refresh));
  out(
    `\n${FLOWS} flows in ${(wall / 1000).toFixed(1)} s; resident memory ${before.toFixed(1)} MiB before them, ${after.toFixed(1)} MiB after`,
  );
}
