import Fastify, { type FastifyBaseLogger, type FastifyError } from 'fastify';
import type { Logger } from 'pino';
import { AppTokenApi, appTokenRoutes } from './app-tokens.api.js';
import { DEMO_APPS, httpUrl, type EmulatorApp } from './apps.js';
import { controlRoutes } from './control.api.js';
import { EmulatorCore, type People } from './core.js';
import { DEFAULT_PUSH_TIMEOUT_MS, EventPusher } from './event-push.js';
import { Traffic } from './traffic.js';
import { MiniProgramApi, miniProgramRoutes } from './mini-program.api.js';
import { MiniProgramCodesApi, miniProgramCodeRoutes } from './mini-program-codes.api.js';
import {
  OfficialAccountApi,
  officialAccountControlRoutes,
  officialAccountRoutes,
} from './official-account.api.js';
import { OAuthApi, oauthRoutes } from './oauth.api.js';
import { pageRoutes } from './pages.js';
import { DEFAULT_LOGIN_SERVER_URL, phoneRoutes } from './phone.js';
import { wechatResponder, zodValidatorCompiler } from './wechat-route.js';

export interface EmulatorOptions {
  apps?: readonly EmulatorApp[];
  /** 0 (default): a port the OS picks. */
  port?: number;
  /** Loopback unless told otherwise. */
  host?: string;
  /** The emulator's clock in ms (default Date.now); POST /__emulator/clock moves it forward. */
  now?: () => number;
  /** Seeds openids/unionids: the same key is the same person across restarts. */
  seed?: string;
  /**
   * How long a kept-alive connection may stay unused before the emulator closes it, announced in
   * each answer as `Keep-Alive: timeout=N` (Node's default, 5 s, when omitted).
   */
  keepAliveTimeoutMs?: number;
  /**
   * The login server's GraphQL URL, which the phone page (/__emulator/phone) calls as the mini
   * program would: `npm start` gives its own; default http://localhost:4000/graphql. A page's
   * `server` query parameter overrides it. An official account's events are pushed to its origin
   * (`/wechat/events/<appid>`) unless the app has an `eventUrl`.
   */
  loginServerUrl?: string;
  /** How long a push waits for the server's answer before WeChat tries again (5000, as WeChat). */
  pushTimeoutMs?: number;
  logger?: Logger;
}

export interface Emulator {
  /** e.g. http://127.0.0.1:41234 — both api.weixin.qq.com and open.weixin.qq.com. */
  readonly url: string;
  readonly port: number;
  readonly apps: readonly EmulatorApp[];
  /** The emulated people (`npm start` adds its demo people here). */
  readonly people: People;
  /** Every secret handed out (session keys, OAuth and app tokens, app secrets, push Tokens and keys): tests scan logs for them. */
  issuedSecrets(): string[];
  /** The session key of this person's latest wx.login in that mini program. */
  sessionKeyOf(appid: string, userKey: string): string | undefined;
  close(): Promise<void>;
}

/**
 * Starts a WeChat emulator: WeChat's API by area (OAuth, mini program, app tokens and phone
 * numbers), its login pages, a fault injector and a control API for tests (docs/emulator.md).
 */
export async function createEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const apps = options.apps ?? DEMO_APPS;
  const loginServerUrl = options.loginServerUrl ?? DEFAULT_LOGIN_SERVER_URL;
  if (!httpUrl(loginServerUrl)) throw new Error(`loginServerUrl: not an http(s) URL: "${loginServerUrl}"`);
  const core = new EmulatorCore({ apps, now: options.now ?? Date.now, seed: options.seed });
  const traffic = new Traffic(() => core.now());
  const oauth = new OAuthApi(core);
  const appTokens = new AppTokenApi(core);
  const mini = new MiniProgramApi(core, appTokens);
  const codes = new MiniProgramCodesApi(core, appTokens);
  const pusher = new EventPusher(
    () => core.now(),
    loginServerUrl,
    options.pushTimeoutMs ?? DEFAULT_PUSH_TIMEOUT_MS,
  );
  const official = new OfficialAccountApi(core, appTokens, pusher);
  // A snapshot-mode code goes to oauth.authorize whatever the app, which refuses it for any but an official account.
  const loginCode = (appid: string, user: string, scope?: string, snapshot = false) =>
    core.appOf(appid).kind === 'mini' && !snapshot
      ? mini.login(appid, user)
      : oauth.authorize(appid, user, scope, snapshot);
  const reset = () => {
    core.reset();
    oauth.reset();
    mini.reset();
    codes.reset();
    official.reset();
    pusher.reset();
    appTokens.reset();
    traffic.reset();
  };

  const app = Fastify({
    loggerInstance: (options.logger ?? undefined) as FastifyBaseLogger | undefined,
    forceCloseConnections: true,
    keepAliveTimeout: options.keepAliveTimeoutMs ?? 5000,
    bodyLimit: 16 * 1024 * 1024,
  });
  app.setValidatorCompiler(zodValidatorCompiler);
  // A control request that fails its schema: 400 with the reason; other errors as Fastify answers them.
  app.setErrorHandler((error: FastifyError, _request, reply) => {
    if (error.code !== 'FST_ERR_VALIDATION') throw error;
    return reply.code(400).send({ error: error.message });
  });
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string' },
    (_request, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
  );
  // WeChat parses bodies itself: a body that is not JSON is its 47001, not a framework 400.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, body === '' ? {} : JSON.parse(body as string));
    } catch {
      done(null, { __malformed: true });
    }
  });

  const respond = wechatResponder(traffic);
  await app.register(oauthRoutes(oauth, respond));
  await app.register(miniProgramRoutes(mini, respond));
  await app.register(appTokenRoutes(appTokens, respond));
  await app.register(miniProgramCodeRoutes(codes, respond));
  await app.register(officialAccountRoutes(official, respond));
  await app.register(officialAccountControlRoutes(official, pusher, core));
  await app.register(pageRoutes(core, oauth, traffic));
  await app.register(phoneRoutes(core, codes, loginServerUrl));
  await app.register(
    controlRoutes({ core, oauth, mini, codes, official, appTokens, traffic, loginCode, reset }),
  );

  app.server.on('connection', (socket) => traffic.connectionOpened(socket));
  await app.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : (options.port ?? 0);
  const host = options.host && options.host !== '0.0.0.0' ? options.host : '127.0.0.1';
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  core.people.serveAvatarsFrom(url);
  codes.serveFrom(url);
  official.serveFrom(url);
  return {
    url,
    port,
    apps,
    people: core.people,
    issuedSecrets: () => [
      ...mini.issuedSecrets(),
      ...oauth.issuedSecrets(),
      ...appTokens.issuedSecrets(),
      ...official.issuedSecrets(),
      ...apps.flatMap((a) => [a.secret, a.token ?? [], a.aesKey ?? []].flat()),
    ],
    sessionKeyOf: (appid, userKey) => mini.sessionKeyOf(appid, userKey),
    close: () => app.close(),
  };
}
