/**
 * The hand-written baseline: the least work that gives the same answers as the server's fastest
 * paths, with plain node:http, pg and undici and nothing in between (no framework, no GraphQL, no
 * ORM, no validation library, no logging). It runs the server's own SQL statements, imported from
 * src/ (the returning-user login, the first login, refresh rotation, `me`'s session read, spending a
 * web state), seals WeChat credentials with the server's SecretBox and signs and verifies the same
 * ES256 access tokens with the server's own functions (src/sessions/jwt.ts; one key made at start,
 * held in memory as the server holds its own). So the
 * ratio ours / baseline is what the server's layers cost, nothing else.
 *
 *   POST /login/mini {code}                   jscode2session, then the returning or first login
 *   POST /login/app  {code}                   oauth2/access_token, then the returning login
 *   POST /login/web  {code, state, redirectUri} the state checked and spent, then as the app
 *   POST /refresh    {refreshToken}           rotation in one statement
 *   POST /me         (Authorization: Bearer)  the token verified, the session and user read
 *
 * Answers `{ data }` with the fields the benchmark's GraphQL queries ask for, or `{ errors }`.
 */
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import { calculateJwkThumbprint, type JWK } from 'jose';
import pg from 'pg';
import { Pool } from 'undici';
import { sha256 } from '../../src/crypto/keys.js';
import { SecretBox } from '../../src/crypto/secret-box.js';
import { runPrepared, type PgQueryable, type Statement } from '../../src/db/sql.js';
import { NEW_USER_LOGIN, RETURNING_LOGIN, sessionParams } from '../../src/sessions/login.repository.js';
import { SPEND_STATE, WebStateService } from '../../src/logins/web-state.service.js';
import { encodedHeader, signAccessToken, verifyAccessToken } from '../../src/sessions/jwt.js';
import { OPEN_SESSION_USER, ROTATE } from '../../src/sessions/session.repository.js';
import { sessionDevice, type SessionDevice } from '../../src/sessions/session-device.js';

const env = process.env;
const AUTH_SECRET = env.AUTH_SECRET!;
const APPS = {
  mini: { appId: env.MINI_APPID!, secret: env.MINI_SECRET!, kind: 'WECHAT_MINI' },
  app: { appId: env.APP_APPID!, secret: env.APP_SECRET!, kind: 'WECHAT_APP' },
  web: { appId: env.WEB_APPID!, secret: env.WEB_SECRET!, kind: 'WECHAT_WEB' },
};
const REDIRECT = env.WEB_REDIRECT!;
const db = new pg.Pool({ connectionString: env.DATABASE_URL, max: Number(env.POOL_MAX ?? 10) });
const wechat = new Pool(env.WECHAT_API_BASE_URL!, { connections: 128 });
const ISSUER = env.PUBLIC_URL ?? `http://localhost:${env.PORT}`;
const ACCESS_TTL = 900;
const REFRESH_TTL_MS = 30 * 24 * 3600 * 1000;
const PROFILE_TTL_MS = 24 * 3600 * 1000;
const signing = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const kid = await calculateJwkThumbprint(signing.publicKey.export({ format: 'jwk' }) as JWK);
const header = encodedHeader(kid);
const box = new SecretBox(AUTH_SECRET);
const states = new WebStateService({ authSecret: AUTH_SECRET, ttlSeconds: 3600 });
const webApp = {
  kind: 'web',
  appId: APPS.web.appId,
  secret: APPS.web.secret,
  redirectUris: [REDIRECT],
} as const;

class Refused extends Error {}

/** A statement of the server's, run as the server runs it: a named prepared statement. */
async function query<P extends string, Row>(
  statement: Statement<P, Row>,
  params: Readonly<Record<P, unknown>>,
) {
  const rows = await runPrepared(db as unknown as PgQueryable, statement, params);
  return { rows, rowCount: rows.length };
}

async function wechatGet<T>(path: string, params: Record<string, string>): Promise<T> {
  const { body } = await wechat.request({
    path: `${path}?${new URLSearchParams(params)}`,
    method: 'GET',
    headersTimeout: 5000,
    bodyTimeout: 5000,
  });
  const json = JSON.parse(await body.text()) as T & { errcode?: number };
  if (json.errcode) throw new Refused(`wechat errcode ${json.errcode}`);
  return json;
}

/** What a session records of the client, as the server records it. */
const deviceOf = (req: http.IncomingMessage) =>
  sessionDevice({ ip: req.socket.remoteAddress ?? '', userAgent: req.headers['user-agent'] });

function newSession(now: Date, device: SessionDevice) {
  const refreshToken = `rt_${randomBytes(32).toString('base64url')}`;
  return {
    sessionId: randomUUID(),
    refreshToken,
    tokenHash: sha256(refreshToken),
    expiresAt: new Date(now.getTime() + REFRESH_TTL_MS),
    device,
  };
}

function sign(userId: string, sessionId: string, now: Date) {
  const iat = Math.floor(now.getTime() / 1000);
  const exp = iat + ACCESS_TTL;
  const claims = { sid: sessionId, sub: userId, iss: ISSUER, aud: ISSUER, iat, exp };
  return {
    accessToken: signAccessToken(header, claims, signing.privateKey),
    expiresAt: new Date(exp * 1000),
  };
}

interface Identity {
  kind: string;
  appId: string;
  openId: string;
  unionId: string | null;
  accessCode: string;
}

/** The returning-user statement, then (mini only) the first-login one; a lost race reads again. */
async function signIn(
  identity: Identity,
  profileFreshAfter: Date | null,
  mayRegister: boolean,
  device: SessionDevice,
) {
  const sealed = box.seal(identity.accessCode);
  for (let attempt = 1; ; attempt++) {
    const now = new Date();
    const session = newSession(now, device);
    const returning = await query(RETURNING_LOGIN, {
      now,
      accessCode: sealed,
      appId: identity.appId,
      openId: identity.openId,
      unionId: identity.unionId,
      profileFreshAfter,
      ...sessionParams(session),
      // The audit event the server writes with every login (no request id here).
      requestId: null,
      auditDetails: JSON.stringify({ kind: identity.kind, isNewUser: false }),
    });
    let userId = returning.rows[0]?.id as string | undefined;
    let isNewUser = false;
    if (!userId && mayRegister) {
      try {
        const created = await query(NEW_USER_LOGIN, {
          now,
          userId: randomUUID(),
          unionId: identity.unionId,
          nickname: null,
          avatarUrl: null,
          phoneNumber: null,
          methodId: randomUUID(),
          kind: identity.kind,
          appId: identity.appId,
          openId: identity.openId,
          accessCode: sealed,
          profileRefreshedAt: null,
          ...sessionParams(session),
          messageId: null,
          eventBody: null,
          endpoints: '[]',
          requestId: null,
          auditDetails: JSON.stringify({ kind: identity.kind, isNewUser: true }),
        });
        userId = created.rows[0]?.id as string | undefined;
        isNewUser = true;
      } catch (error) {
        // A concurrent first login of the same person won: the next attempt finds its user.
        if ((error as { code?: string }).code === '23505' && attempt < 3) continue;
        throw error;
      }
    }
    if (!userId) throw new Refused('not a returning user (the baseline has no full path)');
    return {
      ...sign(userId, session.sessionId, now),
      refreshToken: session.refreshToken,
      isNewUser,
      user: { id: userId },
    };
  }
}

async function miniLogin(body: { code: string }, req: http.IncomingMessage) {
  const app = APPS.mini;
  const session = await wechatGet<{ openid: string; unionid?: string; session_key: string }>(
    '/sns/jscode2session',
    { appid: app.appId, secret: app.secret, js_code: body.code, grant_type: 'authorization_code' },
  );
  return signIn(
    { ...app, openId: session.openid, unionId: session.unionid ?? null, accessCode: session.session_key },
    null,
    true,
    deviceOf(req),
  );
}

async function oauthLogin(app: (typeof APPS)['app'], code: string, req: http.IncomingMessage) {
  const token = await wechatGet<{ access_token: string; openid: string; unionid?: string }>(
    '/sns/oauth2/access_token',
    { appid: app.appId, secret: app.secret, code, grant_type: 'authorization_code' },
  );
  const identity = {
    ...app,
    openId: token.openid,
    unionId: token.unionid ?? null,
    accessCode: token.access_token,
  };
  return signIn(identity, new Date(Date.now() - PROFILE_TTL_MS), false, deviceOf(req));
}

async function webLogin(
  body: { code: string; state: string; redirectUri: string },
  req: http.IncomingMessage,
) {
  const spend = states.verify(body.state, { app: webApp, redirectUri: body.redirectUri });
  if ((await query(SPEND_STATE, spend)).rowCount !== 1) throw new Refused('state already used');
  return oauthLogin(APPS.web, body.code, req);
}

async function refresh(body: { refreshToken: string }, req: http.IncomingMessage) {
  const now = new Date();
  const refreshToken = `rt_${randomBytes(32).toString('base64url')}`;
  const { rows } = await query(ROTATE, {
    now,
    graceStart: new Date(now.getTime() - 60_000),
    presentedHash: sha256(body.refreshToken),
    newHash: sha256(refreshToken),
    ...deviceOf(req),
  });
  const row = rows[0];
  if (!row) throw new Refused('refresh token refused');
  return { ...sign(row.id as string, row.sessionId, now), refreshToken };
}

async function me(authorization: string | undefined) {
  const token = /^Bearer (.+)$/.exec(authorization ?? '')?.[1];
  if (!token) throw new Refused('no token');
  const claims = await verifyAccessToken(token, {
    issuer: ISSUER,
    audience: ISSUER,
    now: Math.floor(Date.now() / 1000),
    keyFor: (tokenKid) => (tokenKid === kid ? signing.publicKey : undefined),
  });
  const { rows } = await query(OPEN_SESSION_USER, {
    sessionId: claims.sid,
    userId: claims.sub,
    now: new Date(),
  });
  if (!rows[0]) throw new Refused('session ended');
  return { id: rows[0].id as string };
}

const routes: Record<string, (body: never, req: http.IncomingMessage) => Promise<unknown>> = {
  '/login/mini': miniLogin,
  '/login/app': (body: { code: string }, req) => oauthLogin(APPS.app, body.code, req),
  '/login/web': webLogin,
  '/refresh': refresh,
  '/me': (_body: never, req) => me(req.headers.authorization),
};

const server = http.createServer((req, res) => {
  const route = req.method === 'POST' ? routes[req.url ?? ''] : undefined;
  if (!route) {
    res.writeHead(404).end();
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    let body: never;
    try {
      body = (chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {}) as never;
    } catch {
      res.writeHead(400).end();
      return;
    }
    route(body, req).then(
      (data) => {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data }));
      },
      (error: Error) => {
        res
          .writeHead(error instanceof Refused ? 400 : 502, { 'content-type': 'application/json' })
          .end(JSON.stringify({ errors: [{ message: error.message }] }));
      },
    );
  });
});
server.keepAliveTimeout = 72_000;
server.listen(Number(env.PORT), '127.0.0.1', () => process.stdout.write('baseline ready\n'));
process.on('SIGTERM', () => {
  server.close();
  void Promise.all([db.end(), wechat.close()]).then(() => process.exit(0));
});
