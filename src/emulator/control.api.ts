import type { FastifyPluginCallback, FastifyReply } from 'fastify';
import { z } from 'zod';
import type { AppTokenApi } from './app-tokens.api.js';
import { AVATAR_PATH, DEFAULT_AVATAR_PATH, UserKey, type EmulatorCore } from './core.js';
import type { Traffic } from './traffic.js';
import type { MiniProgramApi } from './mini-program.api.js';
import type { MiniProgramCodesApi } from './mini-program-codes.api.js';
import type { OAuthApi } from './oauth.api.js';
import type { OfficialAccountApi } from './official-account.api.js';

const PhoneNumber = z.string().regex(/^\d{5,15}$/);

const Schemas = {
  user: z.object({
    key: UserKey,
    nickname: z.string().max(100).optional(),
    avatarUrl: z.string().max(2000).optional(),
    phoneNumber: PhoneNumber.optional(),
  }),
  code: z.object({
    appid: z.string(),
    user: UserKey,
    scope: z.string().max(200).optional(),
    snapshot: z.boolean().default(false),
  }),
  codeBatch: z.object({ appid: z.string(), users: z.array(UserKey).min(1).max(100_000) }),
  encryptedData: z.object({ appid: z.string(), user: UserKey, real: z.boolean().default(false) }),
  phoneCode: z.object({
    appid: z.string(),
    user: UserKey,
    phoneNumber: PhoneNumber.optional(),
    countryCode: z.union([z.string().regex(/^\d{1,3}$/), z.number().int().min(1).max(999)]).optional(),
    watermarkAppid: z.string().min(1).max(64).optional(),
  }),
  appid: z.object({ appid: z.string() }),
  scan: z.object({
    appid: z.string(),
    scene: z.string().min(1).max(1024),
    user: UserKey,
    event: z.string().max(64).optional(),
  }),
  fault: z
    .object({
      path: z.string().startsWith('/'),
      times: z.number().int().min(1).max(10_000).default(1),
      errcode: z.number().int().optional(),
      status: z.number().int().min(400).max(599).optional(),
      delayMs: z.number().int().min(0).max(600_000).optional(),
      drop: z.boolean().optional(),
      reset: z.boolean().optional(),
      malformed: z.boolean().optional(),
    })
    .refine(
      (f) =>
        [f.errcode !== undefined, f.status !== undefined, f.drop, f.reset, f.malformed].filter(Boolean)
          .length <= 1,
      'at most one of errcode, status, drop, reset, malformed (delayMs combines with any)',
    )
    .refine(
      (f) =>
        f.errcode !== undefined ||
        f.status !== undefined ||
        f.drop ||
        f.reset ||
        f.malformed ||
        f.delayMs !== undefined,
      'a fault needs errcode, status, delayMs, drop, reset or malformed',
    ),
  latency: z.object({ ms: z.number().int().min(0).max(600_000) }),
  clock: z.object({ advanceMs: z.number().int().min(0) }),
};

export interface ControlDeps {
  core: EmulatorCore;
  oauth: OAuthApi;
  mini: MiniProgramApi;
  /** Mini program codes and URL Links: what POST /__emulator/scan scans. */
  codes: MiniProgramCodesApi;
  /** Official accounts' QR codes: what POST /__emulator/scan scans for an official account. */
  official: OfficialAccountApi;
  appTokens: AppTokenApi;
  traffic: Traffic;
  /**
   * A login code of that app for that person: wx.login for a mini program, a confirmed OAuth login
   * otherwise (`snapshot`: an official account's page in snapshot mode). Throws for a bad combination.
   */
  loginCode(appid: string, user: string, scope?: string, snapshot?: boolean): string;
  /** Forgets people, codes, tokens, faults, latency, the clock offset and the log. */
  reset(): void;
}

/** A 132×132 avatar, the size WeChat's URLs ending in /132 have. */
function sendAvatar(reply: FastifyReply, shapes: string): FastifyReply {
  return reply
    .type('image/svg+xml')
    .header('cache-control', 'no-cache')
    .header('x-content-type-options', 'nosniff')
    .send(
      `<svg xmlns="http://www.w3.org/2000/svg" width="132" height="132" viewBox="0 0 132 132">${shapes}</svg>`,
    );
}

/** `/__emulator/*`: what tests and tools use to drive the emulator (docs/emulator.md, "Control API"). */
export function controlRoutes(deps: ControlDeps): FastifyPluginCallback {
  const { core, mini, codes, official, appTokens, traffic } = deps;

  /**
   * A person scans an official account's QR code of that scene (the newest): they follow through it
   * or, following already, scan; the event is pushed to the account's server. `event`, when given,
   * is what the caller expects WeChat to push (409 if it would push the other).
   */
  async function scanOfficial(body: z.output<typeof Schemas.scan>, reply: FastifyReply) {
    const expected = official.scanEvent(body.appid, body.user);
    if (body.event !== undefined && body.event !== expected) {
      return reply.code(409).send({
        error: `event: WeChat would push ${expected}, not ${body.event} (${body.user} ${expected === 'SCAN' ? 'follows' : 'does not follow'} ${body.appid})`,
      });
    }
    const unknown = `scene "${body.scene}" was never issued for ${body.appid} (no QR code of it)`;
    const { status, body: answer } = await official.scan(
      official.qrOf(body.appid, body.scene),
      body.user,
      unknown,
    );
    return reply.code(status).send(answer);
  }

  return (app, _options, done) => {
    app.get('/__emulator/apps', async () => ({
      apps: [...core.apps.values()].map(({ appid, kind, bound }) => ({ appid, kind, bound })),
    }));
    /** Binds an app to the Open Platform account from now on (an app bound after people used it). */
    app.post('/__emulator/apps/bind', { schema: { body: Schemas.appid } }, async (request, reply) => {
      const { appid } = request.body as z.output<typeof Schemas.appid>;
      try {
        const { kind, bound } = core.bind(appid);
        return { appid, kind, bound };
      } catch (error) {
        return reply.code(400).send({ error: (error as Error).message });
      }
    });
    app.get('/__emulator/users', async () => ({ users: core.people.list() }));
    app.post('/__emulator/users', { schema: { body: Schemas.user } }, async (request) => {
      const { key, ...profile } = request.body as z.output<typeof Schemas.user>;
      return core.people.upsert(key, profile);
    });
    app.post('/__emulator/codes', { schema: { body: Schemas.code } }, async (request, reply) => {
      const body = request.body as z.output<typeof Schemas.code>;
      if (!core.apps.has(body.appid))
        return reply.code(400).send({ error: `appid: unknown app "${body.appid}"` });
      try {
        return { code: deps.loginCode(body.appid, body.user, body.scope, body.snapshot) };
      } catch (error) {
        return reply.code(400).send({ error: (error as Error).message });
      }
    });
    /** Many codes at once (benchmarks): one per user key, in order. */
    app.post('/__emulator/codes/batch', { schema: { body: Schemas.codeBatch } }, async (request, reply) => {
      const body = request.body as z.output<typeof Schemas.codeBatch>;
      if (!core.apps.has(body.appid))
        return reply.code(400).send({ error: `appid: unknown app "${body.appid}"` });
      return { codes: body.users.map((user) => deps.loginCode(body.appid, user)) };
    });
    /**
     * A person scans a mini program code (or opens a URL Link) the emulator issued: a fresh
     * wx.login code of theirs in that mini program, for the page the code opened with its scene.
     * An official account's QR code: scanOfficial.
     */
    app.post('/__emulator/scan', { schema: { body: Schemas.scan } }, async (request, reply) => {
      const body = request.body as z.output<typeof Schemas.scan>;
      const known = core.apps.get(body.appid);
      if (!known) return reply.code(400).send({ error: `appid: unknown app "${body.appid}"` });
      if (known.kind === 'official') return scanOfficial(body, reply);
      if (known.kind !== 'mini') {
        return reply.code(400).send({
          error: `appid: "${body.appid}" is neither a mini program nor an official account (kind ${known.kind}): only their codes can be scanned`,
        });
      }
      if (body.event !== undefined) {
        return reply
          .code(400)
          .send({ error: "event: for an official account's QR codes only, not a mini program's" });
      }
      if (!codes.scan(body.appid, body.scene)) {
        return reply.code(404).send({
          error: `scene "${body.scene}" was never issued for ${body.appid} (no mini program code or URL Link of it)`,
        });
      }
      return { scene: body.scene, code: mini.login(body.appid, body.user) };
    });
    /** The mini program codes, URL Links and official accounts' QR codes issued recently, newest first. */
    app.get('/__emulator/scenes', async () => ({
      scenes: [...codes.list().map((entry) => codes.describe(entry)), ...official.listQrs()].sort(
        (a, b) => Date.parse(b.issuedAt) - Date.parse(a.issuedAt),
      ),
    }));
    app.get('/__emulator/stats', async () => traffic.stats());
    app.post('/__emulator/phone-codes', { schema: { body: Schemas.phoneCode } }, async (request, reply) => {
      const body = request.body as z.output<typeof Schemas.phoneCode>;
      const { appid, user, phoneNumber, ...options } = body;
      try {
        return { code: appTokens.phoneCode(appid, user, phoneNumber, options) };
      } catch (error) {
        return reply.code(400).send({ error: (error as Error).message });
      }
    });
    app.get('/__emulator/app-tokens', async () => ({ apps: appTokens.stableTokenCounts() }));
    /** Ends every access token of an app now (40001 on their next use), as WeChat revoking them. */
    app.post(
      '/__emulator/app-tokens/invalidate',
      { schema: { body: Schemas.appid } },
      async (request, reply) => {
        const { appid } = request.body as z.output<typeof Schemas.appid>;
        try {
          return { invalidated: appTokens.invalidate(appid) };
        } catch (error) {
          return reply.code(400).send({ error: (error as Error).message });
        }
      },
    );
    app.post(
      '/__emulator/encrypted-data',
      { schema: { body: Schemas.encryptedData } },
      async (request, reply) => {
        const body = request.body as z.output<typeof Schemas.encryptedData>;
        try {
          return mini.encryptedData(body.appid, body.user, { real: body.real });
        } catch (error) {
          return reply.code(409).send({ error: (error as Error).message });
        }
      },
    );
    app.post('/__emulator/faults', { schema: { body: Schemas.fault } }, async (request, reply) => {
      const fault = request.body as z.output<typeof Schemas.fault>;
      traffic.addFault(fault);
      return reply.code(201).send({ fault });
    });
    app.post('/__emulator/latency', { schema: { body: Schemas.latency } }, async (request) => {
      const { ms } = request.body as z.output<typeof Schemas.latency>;
      traffic.setLatency(ms);
      return { latencyMs: ms };
    });
    app.post('/__emulator/clock', { schema: { body: Schemas.clock } }, async (request) => {
      const { advanceMs } = request.body as z.output<typeof Schemas.clock>;
      return { now: new Date(core.clock.advance(advanceMs)).toISOString() };
    });
    /**
     * A generated avatar (the person's initial on a colour of their key): the default avatarUrl of
     * the emulator's people, so pages show one without the internet. Any key answers, known or not.
     */
    app.get(`${AVATAR_PATH}:file`, async (request, reply) => {
      // Fastify has already decoded the path parameter.
      const key = (request.params as { file: string }).file.replace(/\.svg$/, '');
      const person = core.people.list().find((u) => u.key === key);
      const initial = [...(person?.nickname ?? key)][0]?.toUpperCase() ?? '?';
      const hue = [...key].reduce((h, c) => (h * 31 + c.charCodeAt(0)) % 360, 7);
      const letter = initial.replace(/[<>&"']/g, '?');
      return sendAvatar(
        reply,
        `<rect width="132" height="132" fill="hsl(${hue},55%,55%)"/>` +
          `<text x="66" y="88" font-size="64" font-family="sans-serif" text-anchor="middle" fill="#fff">${letter}</text>`,
      );
    });
    /** WeChat's grey default avatar (a silhouette) of anonymous profiles, served here so it shows offline. */
    app.get(DEFAULT_AVATAR_PATH, async (_request, reply) =>
      sendAvatar(
        reply,
        `<rect width="132" height="132" fill="#e3e3e3"/><circle cx="66" cy="52" r="24" fill="#b8b8b8"/>` +
          `<path d="M22 132c0-28 20-44 44-44s44 16 44 44z" fill="#b8b8b8"/>`,
      ),
    );
    app.get('/__emulator/requests', async () => ({ requests: traffic.requests() }));
    app.post('/__emulator/reset', async () => {
      deps.reset();
      return { reset: true };
    });
    done();
  };
}
