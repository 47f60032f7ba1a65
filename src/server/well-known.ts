import type { FastifyInstance } from 'fastify';
import type { SigningKeys } from '../keys/signing-keys.js';

/**
 * The routes other services verify our access tokens with: the JWKS (every key that may have
 * signed a live token) and a discovery document pointing at it, for libraries that take an issuer
 * URL (Spring's issuer-uri). Both come from memory; the keys are re-read in the background (and
 * before answering when that is overdue). The JWKS may be cached for one refresh interval: a new key
 * is published three intervals before it signs, so a verifier's cached copy lists it in time.
 */
export function registerWellKnownRoutes(
  app: FastifyInstance,
  {
    publicUrl,
    signingKeys,
    jwksMaxAgeSeconds,
  }: { publicUrl: string; signingKeys: SigningKeys; jwksMaxAgeSeconds: number },
): void {
  const discovery = JSON.stringify({ issuer: publicUrl, jwks_uri: `${publicUrl}/.well-known/jwks.json` });

  app.get('/.well-known/jwks.json', async (_request, reply) =>
    reply
      .header('content-type', 'application/json; charset=utf-8')
      .header('cache-control', `public, max-age=${jwksMaxAgeSeconds}`)
      .send(await signingKeys.jwks()),
  );

  app.get('/.well-known/openid-configuration', async (_request, reply) =>
    reply
      .header('content-type', 'application/json; charset=utf-8')
      .header('cache-control', 'public, max-age=3600')
      .send(discovery),
  );
}
