/**
 * The hand-written baseline: the same mini program login as the server's wechatMiniLogin, with
 * plain node:http, pg and undici and nothing else: jscode2session, then find-or-register and a new
 * session in one transaction on the same tables, the session key sealed (AES-256-GCM) and the same
 * JWT signing (ES256 with a kid; one key made at start and held in memory). What a careful
 * developer would write by hand; the practical limit of the machine. Sealing comes from the
 * server's own src/crypto (plain node:crypto), so both write the same sealed values.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from 'jose';
import pg from 'pg';
import { Pool } from 'undici';
import { sha256 } from '../../src/crypto/keys.js';
import { SecretBox } from '../../src/crypto/secret-box.js';

const env = process.env;
const APPID = env.MINI_APPID!;
const SECRET = env.MINI_SECRET!;
const AUTH_SECRET = env.AUTH_SECRET!;
const db = new pg.Pool({ connectionString: env.DATABASE_URL, max: Number(env.POOL_MAX ?? 10) });
const wechat = new Pool(env.WECHAT_API_BASE_URL!, { connections: 128 });
const ISSUER = env.PUBLIC_URL ?? `http://localhost:${env.PORT}`;
const signing = await generateKeyPair('ES256');
const kid = await calculateJwkThumbprint(await exportJWK(signing.publicKey));
const box = new SecretBox(AUTH_SECRET);

async function codeToSession(code: string) {
  const query = new URLSearchParams({
    appid: APPID,
    secret: SECRET,
    js_code: code,
    grant_type: 'authorization_code',
  });
  const { body } = await wechat.request({
    path: `/sns/jscode2session?${query}`,
    method: 'GET',
    headersTimeout: 5000,
    bodyTimeout: 5000,
  });
  const json = JSON.parse(await body.text()) as {
    openid?: string;
    unionid?: string;
    session_key?: string;
    errcode?: number;
  };
  if (json.errcode || !json.openid || !json.session_key) throw new Error(`wechat errcode ${json.errcode}`);
  return { openId: json.openid, unionId: json.unionid ?? null, sessionKey: json.session_key };
}

async function login(code: string) {
  const session = await codeToSession(code);
  const accessCode = box.seal(session.sessionKey);
  for (let attempt = 1; ; attempt++) {
    const client = await db.connect();
    try {
      await client.query('begin');
      const now = new Date();
      let userId: string;
      let isNewUser = false;
      const found = await client.query<{ id: string; user_id: string }>(
        'select id, user_id from user_login_method where app_id = $1 and open_id = $2',
        [APPID, session.openId],
      );
      if (found.rows[0]) {
        userId = found.rows[0].user_id;
        await client.query(
          'update user_login_method set last_login_at = $1, access_code = $2, updated_at = $1 where id = $3',
          [now, accessCode, found.rows[0].id],
        );
      } else {
        const byUnion = session.unionId
          ? await client.query<{ id: string }>('select id from "user" where union_id = $1', [session.unionId])
          : { rows: [] };
        if (byUnion.rows[0]) {
          userId = byUnion.rows[0].id;
        } else {
          userId = randomUUID();
          isNewUser = true;
          await client.query(
            'insert into "user" (id, created_at, updated_at, union_id) values ($1, $2, $2, $3)',
            [userId, now, session.unionId],
          );
        }
        await client.query(
          `insert into user_login_method (id, created_at, updated_at, user_id, kind, app_id, open_id, union_id, access_code, last_login_at)
           values ($1, $2, $2, $3, 'WECHAT_MINI', $4, $5, $6, $7, $2)`,
          [randomUUID(), now, userId, APPID, session.openId, session.unionId, accessCode],
        );
      }
      const sessionId = randomUUID();
      await client.query(
        'insert into session (id, created_at, updated_at, user_id, expires_at) values ($1, $2, $2, $3, $4)',
        [sessionId, now, userId, new Date(now.getTime() + 30 * 24 * 3600 * 1000)],
      );
      const refreshToken = `rt_${randomBytes(32).toString('base64url')}`;
      await client.query(
        'insert into refresh_token (token_hash, session_id, created_at) values ($1, $2, $3)',
        [sha256(refreshToken), sessionId, now],
      );
      await client.query('commit');
      const iat = Math.floor(now.getTime() / 1000);
      const accessToken = await new SignJWT({ sid: sessionId })
        .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid })
        .setSubject(userId)
        .setIssuer(ISSUER)
        .setAudience(ISSUER)
        .setIssuedAt(iat)
        .setExpirationTime(iat + 900)
        .sign(signing.privateKey);
      return {
        accessToken,
        refreshToken,
        expiresAt: new Date((iat + 900) * 1000),
        isNewUser,
        user: { id: userId },
      };
    } catch (error) {
      await client.query('rollback').catch(() => undefined);
      // A concurrent first login won the race: read again and find its user.
      if ((error as { code?: string }).code === '23505' && attempt < 3) continue;
      throw error;
    } finally {
      client.release();
    }
  }
}

const server = http.createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/login') {
    res.writeHead(404).end();
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    let code: string;
    try {
      code = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { code: string }).code;
    } catch {
      res.writeHead(400).end();
      return;
    }
    login(code).then(
      (result) => {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data: result }));
      },
      (error: Error) => {
        res
          .writeHead(502, { 'content-type': 'application/json' })
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
