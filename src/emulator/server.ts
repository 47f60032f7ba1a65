import { setTimeout as sleep } from 'node:timers/promises';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type { Logger } from 'pino';
import { z } from 'zod';
import { DEMO_APPS, type EmulatorApp, type EmulatorAppKind } from './apps.js';
import { errorPage, loginPage } from './pages.js';
import { EmulatorStore, type WeChatBody } from './store.js';

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
  logger?: Logger;
}

export interface Emulator {
  /** e.g. http://127.0.0.1:41234 — both api.weixin.qq.com and open.weixin.qq.com. */
  readonly url: string;
  readonly port: number;
  readonly store: EmulatorStore;
  readonly apps: readonly EmulatorApp[];
  close(): Promise<void>;
}

type Query = Record<string, string | undefined>;

const UserKey = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'user key: 1-64 letters, digits, _ . or -');

const ControlSchemas = {
  user: z.object({
    key: UserKey,
    nickname: z.string().max(100).optional(),
    avatarUrl: z.string().max(2000).optional(),
    phoneNumber: z
      .string()
      .regex(/^\d{5,15}$/)
      .optional(),
  }),
  code: z.object({ appid: z.string(), user: UserKey, scope: z.string().max(200).optional() }),
  codeBatch: z.object({ appid: z.string(), users: z.array(UserKey).min(1).max(100_000) }),
  encryptedData: z.object({ appid: z.string(), user: UserKey }),
  phoneCode: z.object({
    appid: z.string(),
    user: UserKey,
    phoneNumber: z
      .string()
      .regex(/^\d{5,15}$/)
      .optional(),
  }),
  fault: z
    .object({
      path: z.string().startsWith('/'),
      times: z.number().int().min(1).max(10_000).default(1),
      errcode: z.number().int().optional(),
      status: z.number().int().min(400).max(599).optional(),
      delayMs: z.number().int().min(0).max(600_000).optional(),
      drop: z.boolean().optional(),
      malformed: z.boolean().optional(),
    })
    .refine(
      (f) =>
        [f.errcode !== undefined, f.status !== undefined, f.drop, f.malformed].filter(Boolean).length <= 1,
      'at most one of errcode, status, drop, malformed (delayMs combines with any)',
    )
    .refine(
      (f) =>
        f.errcode !== undefined || f.status !== undefined || f.drop || f.malformed || f.delayMs !== undefined,
      'a fault needs errcode, status, delayMs, drop or malformed',
    ),
  latency: z.object({ ms: z.number().int().min(0).max(600_000) }),
  clock: z.object({ advanceMs: z.number().int().min(0) }),
};

function parse<T>(schema: z.ZodType<T>, body: unknown, reply: FastifyReply): T | undefined {
  const result = schema.safeParse(body ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  void reply.code(400).send({ error: `${issue.path.join('.') || 'body'}: ${issue.message}` });
  return undefined;
}

/** Starts a WeChat emulator: WeChat's API, its login pages and a control API for tests. */
export async function createEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const apps = options.apps ?? DEMO_APPS;
  const store = new EmulatorStore({ apps, now: options.now ?? Date.now, seed: options.seed });
  const app: FastifyInstance = Fastify({
    loggerInstance: (options.logger ?? undefined) as FastifyBaseLogger | undefined,
    forceCloseConnections: true,
    bodyLimit: 16 * 1024 * 1024,
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

  /** Latency, faults, the request log and WeChat's body conventions, for every API route. */
  async function api(request: FastifyRequest, reply: FastifyReply, answer: () => WeChatBody) {
    const path = request.url.split('?')[0]!;
    const query = request.query as Query;
    const body = (request.body ?? {}) as Record<string, unknown>;
    const appid = query.appid ?? (typeof body.appid === 'string' ? body.appid : null);
    if (store.latencyMs > 0) await sleep(store.latencyMs);
    const fault = store.takeFault(path);
    if (fault?.delayMs) await sleep(fault.delayMs);
    if (fault?.drop) {
      store.record({ method: request.method, path, appid, outcome: 'fault:drop' });
      request.raw.socket.destroy();
      return reply.hijack();
    }
    if (fault?.status !== undefined) {
      store.record({ method: request.method, path, appid, outcome: `fault:status:${fault.status}` });
      return reply
        .code(fault.status)
        .type('text/html')
        .send(`<html><body><h1>${fault.status}</h1>emulated server error</body></html>`);
    }
    if (fault?.malformed) {
      store.record({ method: request.method, path, appid, outcome: 'fault:malformed' });
      return reply.type('text/html').send('<html><body>emulated: this is not JSON</body></html>');
    }
    let result: WeChatBody;
    if (fault?.errcode !== undefined) {
      result = { errcode: fault.errcode, errmsg: `emulated fault, rid: ${Date.now().toString(16)}` };
    } else if (body.__malformed) {
      result = { errcode: 47001, errmsg: 'data format error' };
    } else {
      result = answer();
    }
    const errcode = typeof result.errcode === 'number' && result.errcode !== 0 ? result.errcode : 0;
    store.record({ method: request.method, path, appid, outcome: errcode ? `errcode:${errcode}` : 'ok' });
    // WeChat answers errors with HTTP 200; /sns/* bodies come as text/plain, the rest as JSON.
    return reply
      .code(200)
      .type(path.startsWith('/sns/') ? 'text/plain' : 'application/json; encoding=utf-8')
      .send(JSON.stringify(result));
  }

  const q = (request: FastifyRequest) => request.query as Query;
  const b = (request: FastifyRequest) => (request.body ?? {}) as Record<string, unknown>;

  // ------------------------------------------------------------------ api.weixin.qq.com
  app.get('/sns/oauth2/access_token', (req, rep) => api(req, rep, () => store.oauthAccessToken(q(req))));
  app.get('/sns/oauth2/refresh_token', (req, rep) => api(req, rep, () => store.oauthRefreshToken(q(req))));
  app.get('/sns/auth', (req, rep) => api(req, rep, () => store.snsAuth(q(req))));
  app.get('/sns/userinfo', (req, rep) => api(req, rep, () => store.snsUserinfo(q(req))));
  app.get('/sns/jscode2session', (req, rep) => api(req, rep, () => store.jscode2session(q(req))));
  app.get('/cgi-bin/token', (req, rep) => api(req, rep, () => store.cgiToken(q(req))));
  app.post('/cgi-bin/stable_token', (req, rep) => api(req, rep, () => store.stableToken(b(req))));
  app.post('/wxa/business/getuserphonenumber', (req, rep) =>
    api(req, rep, () => store.getUserPhoneNumber(q(req), b(req))),
  );
  app.get('/wxa/checksession', (req, rep) => api(req, rep, () => store.checkSession(q(req))));

  // ------------------------------------------------------------------ open.weixin.qq.com pages
  function checkAuthorize(query: Query, kind: EmulatorAppKind, scopes: string[]): string | null {
    if (!query.appid) return '参数错误: appid 为空 (10012)';
    const known = store.apps.get(query.appid);
    if (!known || known.kind !== kind) return '参数错误: appid 无效';
    if (!query.redirect_uri) return 'redirect_uri 参数错误 (10011)';
    if (!URL.canParse(query.redirect_uri) || !/^https?:$/.test(new URL(query.redirect_uri).protocol)) {
      return 'redirect_uri 参数错误';
    }
    if (query.response_type !== 'code') return 'response_type 参数错误';
    if (!query.scope) return 'Scope 参数错误或没有 Scope 权限 (10010)';
    if (!query.scope.split(',').every((s) => scopes.includes(s))) return 'Scope 参数错误或没有 Scope 权限';
    if (query.state && query.state.length > 128) return 'state 参数错误';
    return null;
  }

  function showLogin(request: FastifyRequest, reply: FastifyReply, kind: EmulatorAppKind, scopes: string[]) {
    const query = q(request);
    const problem = checkAuthorize(query, kind, scopes);
    const path = request.url.split('?')[0]!;
    store.record({ method: 'GET', path, appid: query.appid ?? null, outcome: problem ? 'error-page' : 'ok' });
    if (problem) return reply.code(200).type('text/html; charset=utf-8').send(errorPage(problem));
    return reply
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .send(
        loginPage({
          appid: query.appid!,
          redirectUri: query.redirect_uri!,
          scope: query.scope!,
          state: query.state ?? '',
          users: store.listUsers(),
          action: '/connect/confirm',
          title: kind === 'web' ? '微信登录' : '微信授权',
        }),
      );
  }

  app.get('/connect/qrconnect', (req, rep) => showLogin(req, rep, 'web', ['snsapi_login']));
  app.get('/connect/oauth2/authorize', (req, rep) =>
    showLogin(req, rep, 'official', ['snsapi_base', 'snsapi_userinfo']),
  );

  /** The person's answer on the login page: confirm → redirect with a code; cancel → without. */
  app.post('/connect/confirm', async (request, reply) => {
    const form = b(request) as Record<string, string | undefined>;
    const known = form.appid ? store.apps.get(form.appid) : undefined;
    const scopes = known?.kind === 'web' ? ['snsapi_login'] : ['snsapi_base', 'snsapi_userinfo'];
    const problem = known
      ? checkAuthorize({ ...form, response_type: 'code' }, known.kind, scopes)
      : '参数错误: appid 无效';
    if (problem) return reply.type('text/html; charset=utf-8').send(errorPage(problem));
    const target = new URL(form.redirect_uri!);
    if (form.action === 'confirm') {
      const key = form.new_user?.trim() || form.user;
      const parsedKey = UserKey.safeParse(key);
      if (!parsedKey.success)
        return reply.code(400).type('text/html; charset=utf-8').send(errorPage('请选择或输入用户'));
      target.searchParams.set('code', store.mintCode(known!.appid, parsedKey.data, form.scope));
    }
    target.searchParams.set('state', form.state ?? '');
    store.record({
      method: 'POST',
      path: '/connect/confirm',
      appid: known!.appid,
      outcome: form.action ?? 'cancel',
    });
    return reply.redirect(target.toString(), 302);
  });

  // ------------------------------------------------------------------ control API
  app.get('/__emulator/apps', async () => ({
    apps: apps.map(({ appid, kind, bound }) => ({ appid, kind, bound })),
  }));
  app.get('/__emulator/users', async () => ({ users: store.listUsers() }));
  app.post('/__emulator/users', async (request, reply) => {
    const body = parse(ControlSchemas.user, request.body, reply);
    if (!body) return reply;
    const { key, ...profile } = body;
    return store.upsertUser(key, profile);
  });
  app.post('/__emulator/codes', async (request, reply) => {
    const body = parse(ControlSchemas.code, request.body, reply);
    if (!body) return reply;
    if (!store.apps.has(body.appid))
      return reply.code(400).send({ error: `appid: unknown app "${body.appid}"` });
    return { code: store.mintCode(body.appid, body.user, body.scope) };
  });
  /** Many codes at once (benchmarks): one per user key, in order. */
  app.post('/__emulator/codes/batch', async (request, reply) => {
    const body = parse(ControlSchemas.codeBatch, request.body, reply);
    if (!body) return reply;
    if (!store.apps.has(body.appid))
      return reply.code(400).send({ error: `appid: unknown app "${body.appid}"` });
    return { codes: body.users.map((user) => store.mintCode(body.appid, user)) };
  });
  app.get('/__emulator/stats', async () => store.stats());
  app.post('/__emulator/phone-codes', async (request, reply) => {
    const body = parse(ControlSchemas.phoneCode, request.body, reply);
    if (!body) return reply;
    try {
      return { code: store.mintPhoneCode(body.appid, body.user, body.phoneNumber) };
    } catch (error) {
      return reply.code(400).send({ error: (error as Error).message });
    }
  });
  app.post('/__emulator/encrypted-data', async (request, reply) => {
    const body = parse(ControlSchemas.encryptedData, request.body, reply);
    if (!body) return reply;
    try {
      return store.encryptedData(body.appid, body.user);
    } catch (error) {
      return reply.code(409).send({ error: (error as Error).message });
    }
  });
  app.post('/__emulator/faults', async (request, reply) => {
    const body = parse(ControlSchemas.fault, request.body, reply);
    if (!body) return reply;
    store.addFault(body);
    return reply.code(201).send({ fault: body });
  });
  app.post('/__emulator/latency', async (request, reply) => {
    const body = parse(ControlSchemas.latency, request.body, reply);
    if (!body) return reply;
    store.latencyMs = body.ms;
    return { latencyMs: body.ms };
  });
  app.post('/__emulator/clock', async (request, reply) => {
    const body = parse(ControlSchemas.clock, request.body, reply);
    if (!body) return reply;
    return { now: new Date(store.advanceClock(body.advanceMs)).toISOString() };
  });
  /** A generated avatar (the person's initial), so pages show one without the internet. */
  app.get('/__emulator/avatars/:file', async (request, reply) => {
    const key = decodeURIComponent((request.params as { file: string }).file).replace(/\.svg$/, '');
    const initial = (store.listUsers().find((u) => u.key === key)?.nickname ?? key).slice(0, 1).toUpperCase();
    const hue = [...key].reduce((h, c) => (h * 31 + c.charCodeAt(0)) % 360, 7);
    const letter = initial.replace(/[<>&"']/g, '?');
    return reply
      .type('image/svg+xml')
      .send(
        `<svg xmlns="http://www.w3.org/2000/svg" width="132" height="132"><rect width="132" height="132" fill="hsl(${hue},55%,55%)"/>` +
          `<text x="66" y="88" font-size="64" font-family="sans-serif" text-anchor="middle" fill="#fff">${letter}</text></svg>`,
      );
  });
  app.get('/__emulator/requests', async () => ({ requests: store.requests() }));
  app.post('/__emulator/reset', async () => {
    store.reset();
    return { reset: true };
  });

  app.server.on('connection', () => {
    store.connections += 1;
  });
  await app.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : (options.port ?? 0);
  const host = options.host && options.host !== '0.0.0.0' ? options.host : '127.0.0.1';
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  store.baseUrl = url;
  return {
    url,
    port,
    store,
    apps,
    close: () => app.close(),
  };
}
