/**
 * Another backend of yours that trusts our access tokens without calling us: it verifies each
 * bearer token against the JWKS at `${ISSUER}/.well-known/jwks.json` (fetched once, cached, and
 * fetched again when a token names a key it has not seen), checks the issuer and the audience, and
 * nothing else. Imports nothing from src/: copy it. docs/integration.md explains each choice.
 *
 *   ISSUER=http://localhost:4000 PORT=4200 \
 *     node --import @swc-node/register/esm-register examples/resource-server.ts
 *   curl -H "authorization: Bearer $ACCESS_TOKEN" http://localhost:4200/hello
 */
import http from 'node:http';
import { createRemoteJWKSet, jwtVerify } from 'jose';

/** The login server's PUBLIC_URL: the tokens' `iss`. */
const ISSUER = (process.env.ISSUER ?? 'http://localhost:4000').replace(/\/+$/, '');
/** The login server's TOKEN_AUDIENCE (PUBLIC_URL unless set). */
const AUDIENCE = process.env.AUDIENCE ?? ISSUER;
const PORT = Number(process.env.PORT ?? 4200);
/** jose fetches the JWKS again for an unknown kid at most this often (its default: 30 s). */
const COOLDOWN_SECONDS = Number(process.env.JWKS_COOLDOWN_SECONDS ?? 30);

const jwks = createRemoteJWKSet(new URL(`${ISSUER}/.well-known/jwks.json`), {
  cooldownDuration: COOLDOWN_SECONDS * 1000,
});

/** The token's user and session, or null when it does not verify (forged, expired, foreign). */
async function authenticate(authorization: string | undefined): Promise<{ sub: string; sid: string } | null> {
  const token = /^Bearer (\S+)$/.exec(authorization ?? '')?.[1];
  if (!token) return null;
  try {
    const { payload } = await jwtVerify(token, jwks, {
      issuer: ISSUER,
      audience: AUDIENCE,
      algorithms: ['ES256'],
    });
    if (typeof payload.sub !== 'string' || typeof payload.sid !== 'string') return null;
    return { sub: payload.sub, sid: payload.sid };
  } catch {
    return null;
  }
}

function send(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: http.OutgoingHttpHeaders = {},
) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

const server = http.createServer((req, res) => {
  if (req.method !== 'GET' || req.url !== '/hello') return send(res, 404, { error: 'not found' });
  authenticate(req.headers.authorization).then(
    (caller) =>
      caller
        ? send(res, 200, caller)
        : send(res, 401, { error: 'invalid or missing access token' }, { 'www-authenticate': 'Bearer' }),
    () => send(res, 500, { error: 'internal error' }),
  );
});

server.listen(PORT, '127.0.0.1', () => {
  process.stdout.write(`resource server on http://127.0.0.1:${PORT}/hello, trusting ${ISSUER}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
