import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { SigningKeys } from '../keys/signing-keys.js';

/** The JWKS document from memory, cacheable until one refresh interval after the reading it shows. */
export function sendJwks(reply: FastifyReply, signingKeys: SigningKeys): FastifyReply {
  const { body, maxAgeSeconds } = signingKeys.jwks();
  return reply
    .header('content-type', 'application/json; charset=utf-8')
    .header('cache-control', `public, max-age=${maxAgeSeconds}`)
    .send(body);
}

/**
 * The routes other services verify our access tokens with: the JWKS (every key that may have
 * signed a live token) and a discovery document pointing at it, for libraries that take an issuer
 * URL (Spring's issuer-uri). Both come from memory; the keys are re-read in the background. The
 * JWKS may be cached until one refresh interval after the reading it shows (SigningKeys.jwks).
 */
export function registerWellKnownRoutes(
  app: FastifyInstance,
  {
    publicUrl,
    signingKeys,
    oidcDiscovery,
  }: {
    publicUrl: string;
    signingKeys: SigningKeys;
    /** With OIDC_CLIENTS: the provider answers discovery, with its endpoints (src/server/oidc.ts). */
    oidcDiscovery?: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
  },
): void {
  const discovery = JSON.stringify({ issuer: publicUrl, jwks_uri: `${publicUrl}/.well-known/jwks.json` });

  app.get('/.well-known/jwks.json', async (_request, reply) => sendJwks(reply, signingKeys));

  if (oidcDiscovery) {
    app.get('/.well-known/openid-configuration', oidcDiscovery);
    return;
  }
  app.get('/.well-known/openid-configuration', async (_request, reply) =>
    reply
      .header('content-type', 'application/json; charset=utf-8')
      .header('cache-control', 'public, max-age=3600')
      .send(discovery),
  );
}
