import { createHash, createHmac } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { HelmetOptions } from 'helmet';
import type { InteractionResults } from 'oidc-provider';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { deriveKey } from '../crypto/keys.js';
import { OIDC_WECHAT_CALLBACK_PATH } from '../config/oidc.js';
import { AppError, RateLimitedError } from '../errors.js';
import { LoginMethodKind } from '../identity/user-login-method.entity.js';
import type { SigningKeys } from '../keys/signing-keys.js';
import { LoginTicketKind } from '../login-tickets/login-ticket.entity.js';
import type { LoginResult } from '../logins/sign-in.js';
import {
  consentPage,
  langOf,
  messagePage,
  signInPage,
  SIGN_IN_SCRIPT,
  STYLESHEET,
  type Lang,
} from '../oidc/pages.js';
import { loadOidcProviderModule, OIDC_PATH, OidcProvider } from '../oidc/provider.js';
import type { RequestClient } from '../sessions/session-device.js';
import { SessionRepository } from '../sessions/session.repository.js';
import { requestClientOf } from './request-id.js';
import type { Services } from './services.js';
import { sendJwks } from './well-known.js';

export interface OidcDeps {
  config: Config;
  em: EntityManager;
  signingKeys: SigningKeys;
  services: Services;
  logger: Logger;
}

/**
 * Our cookie that ties WeChat's redirect back to the sign-in page it left (uid and platform). Over
 * https it is a `__Host-` cookie: no sibling subdomain can plant one (an attacker's uid would have
 * the victim's WeChat approval finish the attacker's sign-in).
 */
const WECHAT_COOKIE = 'oidc_wechat';
/** Longer than any URL a browser sends us in the flow: an authorization request past it gets 414. */
const MAX_PROVIDER_URL = 4096;
/** How long a person may take on WeChat's page (its state lives as long). */
const WECHAT_COOKIE_SECONDS = 600;
const INTERACTION_UID = /^[A-Za-z0-9_-]{1,64}$/;
const TICKET_ID = /^[0-9a-f-]{36}$/i;
const MAX_TICKET_SECRET = 128;

/**
 * The provider's pages: our CSS and script from 'self', images from 'self' and data: (ticket QR
 * codes), fetches to 'self'; forms post to 'self', and the redirects that follow a form (consent,
 * logout) may go to the clients' registered origins (or native apps' schemes) only.
 */
function pagePolicy(config: Config): HelmetOptions['contentSecurityPolicy'] {
  const clientOrigins = new Set<string>();
  for (const client of config.oidc?.clients ?? []) {
    for (const uri of [...client.redirectUris, ...client.postLogoutRedirectUris]) {
      // A native app's redirect is its scheme (`com.example.app:`), as a CSP source.
      clientOrigins.add(/^https?:/.test(uri) ? new URL(uri).origin : new URL(uri).protocol);
    }
  }
  return {
    useDefaults: false,
    directives: {
      defaultSrc: ["'none'"],
      baseUri: ["'none'"],
      connectSrc: ["'self'"],
      formAction: ["'self'", ...clientOrigins],
      frameAncestors: ["'none'"],
      imgSrc: ["'self'", 'data:'],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'"],
      objectSrc: ["'none'"],
    },
  };
}

const cookieOf = (request: FastifyRequest, name: string): string | undefined => {
  const header = request.headers.cookie;
  if (!header || header.length > 8192) return undefined;
  for (const part of header.split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) return value.join('=');
  }
  return undefined;
};

/**
 * The OpenID Connect provider under /oidc when OIDC_CLIENTS is set (docs/oidc.md): the provider's
 * own endpoints (authorization, token, userinfo, end session, revocation) handed to it, the
 * discovery document at /.well-known/openid-configuration from it, the JWKS at /oidc/jwks (the
 * server's one key set), and our sign-in and consent pages, which finish the provider's
 * interactions with the logins the server already has. Nothing at all without OIDC_CLIENTS.
 * Answers the discovery route's handler, for /.well-known/.
 */
export async function registerOidc(
  app: FastifyInstance,
  { config, em, signingKeys, services, logger }: OidcDeps,
): Promise<((request: FastifyRequest, reply: FastifyReply) => Promise<void>) | undefined> {
  if (!config.oidc) return undefined;
  const oidcLogger = logger.child({ component: 'oidc' });
  const module = await loadOidcProviderModule(oidcLogger);
  const oidc = new OidcProvider(module, { config, em, signingKeys, logger: oidcLogger });
  // Built now: a client list the provider refuses stops the start, not a request.
  await oidc.current();
  const publicUrl = new URL(config.publicUrl);
  const base = `${oidc.basePath}${OIDC_PATH}`;
  const callbackUrl = `${config.publicUrl}${OIDC_WECHAT_CALLBACK_PATH}`;
  const policy = pagePolicy(config);
  const routeConfig = { contentSecurityPolicy: policy };
  const secure = publicUrl.protocol === 'https:';
  const wechatCookie = secure
    ? { name: `__Host-${WECHAT_COOKIE}`, attributes: 'Path=/; HttpOnly; SameSite=Lax; Secure' }
    : { name: WECHAT_COOKIE, attributes: `Path=${base}/wechat; HttpOnly; SameSite=Lax` };
  const verifierKey = deriveKey(config.authSecret, 'oidc-wechat');
  /** The PKCE verifier of a WeChat login started from sign-in page `uid`: its state is bound to it. */
  const verifierOf = (uid: string) =>
    createHmac('sha256', verifierKey).update(uid).digest('base64url') + 'oidc-wechat-login';
  const challengeOf = (verifier: string) => createHash('sha256').update(verifier).digest('base64url');

  /**
   * Hands the request to the provider (Koa), with the host and scheme of PUBLIC_URL. What writes a
   * row for a stranger (an authorization request: an interaction; a logout request: a session) is
   * limited per client IP, and its URL in length.
   */
  const forward = async (request: FastifyRequest, reply: FastifyReply, path: string): Promise<void> => {
    if (/^\/(auth|session\/end)(\?|$)/.test(path)) {
      if (request.url.length > MAX_PROVIDER_URL) return reply.code(414).send();
      try {
        await services.rateLimiter.ip('oidc', request.ip);
      } catch (error) {
        if (!(error instanceof RateLimitedError)) throw error;
        const seconds = String(error.details?.retryAfterSeconds ?? 60);
        reply.header('retry-after', seconds);
        return problem(
          request,
          reply,
          (lang) =>
            lang === 'zh'
              ? { title: '请求过于频繁', text: `请 ${seconds} 秒后再试。` }
              : { title: 'Too many requests', text: `Try again in ${seconds} s.` },
          undefined,
          429,
        );
      }
    }
    const { handler } = await oidc.current();
    reply.hijack();
    const raw = request.raw as typeof request.raw & { originalUrl?: string };
    raw.headers['x-forwarded-host'] = publicUrl.host;
    raw.headers['x-forwarded-proto'] = publicUrl.protocol.slice(0, -1);
    raw.headers['x-forwarded-for'] = request.ip;
    raw.originalUrl = `${base}${path}`;
    raw.url = path;
    await handler(raw, reply.raw);
  };

  const langFor = (request: FastifyRequest): Lang => langOf(request.headers['accept-language']);
  const html = (reply: FastifyReply, status: number, body: string) =>
    reply
      .code(status)
      .header('content-type', 'text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .send(body);
  /** A page of ours (400 unless said) saying why the sign-in cannot go on, in the browser's language. */
  const problem = (
    request: FastifyRequest,
    reply: FastifyReply,
    say: (lang: Lang) => { title: string; text: string },
    back?: string,
    status = 400,
  ) => {
    const lang = langFor(request);
    return html(reply, status, messagePage({ lang, base, ...say(lang), back }));
  };
  const expired = (request: FastifyRequest, reply: FastifyReply) =>
    problem(request, reply, (lang) =>
      lang === 'zh'
        ? { title: '登录已过期', text: '这个登录页面已失效。请回到原来的应用重新开始。' }
        : {
            title: 'This sign-in has expired',
            text: 'This sign-in page is no longer valid. Go back to the app and start again.',
          },
    );

  /** The interaction of this request's cookie, when it is the one the path names. */
  const interactionOf = async (request: FastifyRequest, reply: FastifyReply) => {
    const { uid } = request.params as { uid: string };
    if (!INTERACTION_UID.test(uid)) return undefined;
    const { provider } = await oidc.current();
    try {
      const details = await provider.interactionDetails(request.raw, reply.raw);
      return details.uid === uid ? { provider, details } : undefined;
    } catch (error) {
      if (error instanceof module.errors.SessionNotFound) return undefined;
      throw error;
    }
  };

  /** A ticket call's typed refusal as JSON for the page's script (anything else is a 500). */
  const refused = (reply: FastifyReply, error: unknown) => {
    if (!(error instanceof AppError)) throw error;
    return reply.code(400).send({ error: error.code, message: error.message });
  };

  /** A POST from our own pages only (the browser says where it comes from). */
  const sameOrigin = (request: FastifyRequest) => {
    const origin = request.headers.origin;
    return origin === undefined || origin === publicUrl.origin;
  };

  /** The first app of a kind (with event pushes: `withToken`) that the sign-in page's logins use. */
  const firstAppOf = (kind: string, withToken = false) =>
    config.wechat.apps.find((a) => a.kind === kind && (!withToken || a.token !== undefined))?.appId;
  const configured = (kind: string, withToken = false) => firstAppOf(kind, withToken) !== undefined;

  /**
   * A login of ours finished a sign-in page: the interaction gets its account, and the session the
   * login opened (nobody holds its tokens) ends at once.
   */
  const finishLogin = async (
    provider: Awaited<ReturnType<typeof oidc.current>>['provider'],
    uid: string,
    result: Pick<LoginResult, 'user' | 'sessionId'>,
    client: RequestClient,
  ): Promise<string | undefined> => {
    await SessionRepository.revokeOwn(
      em.fork(),
      { id: result.sessionId, userId: result.user.id, reason: 'oidc_sign_in' },
      new Date(),
      client,
    );
    const interaction = await provider.Interaction.find(uid);
    if (!interaction) return undefined;
    const results: InteractionResults = {
      ...interaction.lastSubmission,
      login: { accountId: result.user.id },
    };
    interaction.result = results;
    await interaction.save(Math.max(1, interaction.exp - Math.floor(Date.now() / 1000)));
    return interaction.returnTo;
  };

  /** Grants what the consent prompt lists as missing; where the provider goes on from. */
  const consent = async (
    request: FastifyRequest,
    reply: FastifyReply,
    { provider, details }: NonNullable<Awaited<ReturnType<typeof interactionOf>>>,
  ): Promise<string | undefined> => {
    const accountId = details.session?.accountId;
    if (!accountId) return undefined;
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId, clientId: String(details.params.client_id) });
    if (!grant) return undefined;
    const missing = details.prompt.details as {
      missingOIDCScope?: string[];
      missingOIDCClaims?: string[];
      missingResourceScopes?: Record<string, string[]>;
    };
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    return provider.interactionResult(request.raw, reply.raw, {
      consent: details.grantId ? {} : { grantId },
    });
  };

  await app.register(async (scope) => {
    // The provider reads its own request bodies: nothing here parses or consumes them.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));

    // The server's one JWKS, readable by any origin (relying parties in a browser verify with it).
    scope.get(`${OIDC_PATH}/jwks`, async (_request, reply) =>
      sendJwks(reply.header('access-control-allow-origin', '*'), signingKeys),
    );
    scope.get(`${OIDC_PATH}/assets/oidc.css`, async (_request, reply) =>
      reply
        .header('content-type', 'text/css; charset=utf-8')
        .header('cache-control', 'public, max-age=3600')
        .send(STYLESHEET),
    );
    scope.get(`${OIDC_PATH}/assets/sign-in.js`, async (_request, reply) =>
      reply
        .header('content-type', 'text/javascript; charset=utf-8')
        .header('cache-control', 'public, max-age=3600')
        .send(SIGN_IN_SCRIPT),
    );

    // The sign-in page (prompt login) or the consent page (prompt consent) of an interaction.
    scope.get(`${OIDC_PATH}/interaction/:uid`, { config: routeConfig }, async (request, reply) => {
      const found = await interactionOf(request, reply);
      if (!found) return expired(request, reply);
      const { details } = found;
      const lang = langFor(request);
      const clientId = String(details.params.client_id);
      const clientName = oidc.clients.get(clientId)?.name ?? clientId;
      if (details.prompt.name === 'login') {
        const insideWechat = /MicroMessenger/i.test(request.headers['user-agent'] ?? '');
        return html(
          reply,
          200,
          signInPage({
            lang,
            base,
            uid: details.uid,
            clientName,
            options: {
              web: configured('web'),
              mini: configured('mini'),
              follow: configured('official', true),
              inside: insideWechat && configured('official'),
            },
          }),
        );
      }
      // A first-party client is the product itself: no question (prompt=consent, which
      // offline_access needs, included).
      if (oidc.clients.get(clientId)?.firstParty) {
        const returnTo = await consent(request, reply, found);
        if (!returnTo) return expired(request, reply);
        return reply.header('cache-control', 'no-store').redirect(returnTo, 303);
      }
      const scopes = [...new Set(String(details.params.scope ?? 'openid').split(' '))];
      return html(reply, 200, consentPage({ lang, base, uid: details.uid, clientName, scopes }));
    });

    // To WeChat's website QR page or an Official Account's page, coming back to the callback below.
    scope.get(`${OIDC_PATH}/interaction/:uid/wechat/:platform`, async (request, reply) => {
      const { platform } = request.params as { platform: string };
      if (platform !== 'web' && platform !== 'official') return reply.code(404).send();
      const found = await interactionOf(request, reply);
      if (!found) return expired(request, reply);
      const uid = found.details.uid;
      const challenge = challengeOf(verifierOf(uid));
      const { url } =
        platform === 'web'
          ? services.webLogin.qrConnectUrl(callbackUrl, challenge, firstAppOf('web'))
          : services.officialAccountLogin.pageAuthorizeUrl(
              callbackUrl,
              'USERINFO',
              challenge,
              firstAppOf('official'),
            );
      const cookie = `${wechatCookie.name}=${uid}~${platform}; Max-Age=${WECHAT_COOKIE_SECONDS}; ${wechatCookie.attributes}`;
      return reply.header('set-cookie', cookie).header('cache-control', 'no-store').redirect(url, 303);
    });

    // WeChat sends the person back here with a code: our login, then the sign-in page's interaction.
    scope.get(`${OIDC_PATH}/wechat/callback`, { config: routeConfig }, async (request, reply) => {
      const query = request.query as Record<string, unknown>;
      const [uid, platform] = (cookieOf(request, wechatCookie.name) ?? '').split('~');
      if (!uid || !INTERACTION_UID.test(uid) || (platform !== 'web' && platform !== 'official')) {
        return expired(request, reply);
      }
      reply.header('set-cookie', `${wechatCookie.name}=; Max-Age=0; ${wechatCookie.attributes}`);
      const back = `${base}/interaction/${uid}`;
      const code = typeof query.code === 'string' ? query.code : undefined;
      const state = typeof query.state === 'string' ? query.state : undefined;
      if (!code || !state) {
        return problem(
          request,
          reply,
          (lang) =>
            lang === 'zh'
              ? { title: '未完成登录', text: '微信没有返回授权。' }
              : { title: 'Sign-in not completed', text: 'WeChat did not authorize the sign-in.' },
          back,
        );
      }
      const client = requestClientOf(request);
      let result: LoginResult;
      try {
        result = await services.signIn.login(
          em.fork(),
          platform === 'web' ? LoginMethodKind.WECHAT_WEB : LoginMethodKind.WECHAT_OFFICIAL_ACCOUNT,
          {
            code,
            state,
            redirectUri: callbackUrl,
            codeVerifier: verifierOf(uid),
            appId: firstAppOf(platform),
          },
          client,
        );
      } catch (error) {
        if (!(error instanceof AppError)) throw error;
        const text = `${error.message} (${error.code})`;
        return problem(
          request,
          reply,
          (lang) => ({ title: lang === 'zh' ? '登录失败' : 'Sign-in failed', text }),
          back,
        );
      }
      const { provider } = await oidc.current();
      const returnTo = await finishLogin(provider, uid, result, client);
      if (!returnTo) return expired(request, reply);
      return reply.header('cache-control', 'no-store').redirect(returnTo, 303);
    });

    // A login ticket for the sign-in page: a mini program code, or an Official Account QR code.
    scope.post(`${OIDC_PATH}/interaction/:uid/ticket`, async (request, reply) => {
      const kind = (request.query as Record<string, unknown>).kind;
      if ((kind !== 'mini' && kind !== 'follow') || !sameOrigin(request)) {
        return reply.code(400).send({ error: 'BAD_REQUEST' });
      }
      if (!(await interactionOf(request, reply)))
        return reply.code(404).send({ error: 'INTERACTION_NOT_FOUND' });
      try {
        const ticket = await services.loginTickets.create(
          em.fork(),
          kind === 'mini' ? LoginTicketKind.MINI_PROGRAM_CODE : LoginTicketKind.OFFICIAL_ACCOUNT_QR,
          kind === 'mini' ? firstAppOf('mini') : firstAppOf('official', true),
          request.ip,
        );
        return reply.header('cache-control', 'no-store').send({
          id: ticket.id,
          secret: ticket.secret,
          qrCode: ticket.qrCode,
          expiresAt: ticket.expiresAt.toISOString(),
        });
      } catch (error) {
        return refused(reply, error);
      }
    });

    // The ticket's state; once confirmed, the interaction is finished and the page told where to go.
    scope.post(`${OIDC_PATH}/interaction/:uid/ticket/:id`, async (request, reply) => {
      const { id } = request.params as { id: string };
      const secret = request.headers['x-ticket-secret'];
      if (
        !TICKET_ID.test(id) ||
        typeof secret !== 'string' ||
        secret.length > MAX_TICKET_SECRET ||
        !sameOrigin(request)
      ) {
        return reply.code(400).send({ error: 'BAD_REQUEST' });
      }
      const found = await interactionOf(request, reply);
      if (!found) return reply.code(404).send({ error: 'INTERACTION_NOT_FOUND' });
      const client = requestClientOf(request);
      try {
        const status = await services.loginTickets.status(em.fork(), id, secret, client);
        if (status.state === 'CONFIRMED' && status.auth) {
          const redirect = await finishLogin(found.provider, found.details.uid, status.auth, client);
          if (!redirect) return reply.code(404).send({ error: 'INTERACTION_NOT_FOUND' });
          return reply.header('cache-control', 'no-store').send({ state: status.state, redirect });
        }
        return reply.header('cache-control', 'no-store').send({ state: status.state });
      } catch (error) {
        return refused(reply, error);
      }
    });

    // Consent: the grant gets what the client asked for, and the flow goes on.
    scope.post(`${OIDC_PATH}/interaction/:uid/consent`, { config: routeConfig }, async (request, reply) => {
      if (!sameOrigin(request)) return reply.code(403).send();
      const found = await interactionOf(request, reply);
      if (!found || found.details.prompt.name !== 'consent') return expired(request, reply);
      const returnTo = await consent(request, reply, found);
      if (!returnTo) return expired(request, reply);
      return reply.header('cache-control', 'no-store').redirect(returnTo, 303);
    });

    // The person declined (or left): the client gets access_denied.
    scope.post(`${OIDC_PATH}/interaction/:uid/abort`, { config: routeConfig }, async (request, reply) => {
      if (!sameOrigin(request)) return reply.code(403).send();
      const found = await interactionOf(request, reply);
      if (!found) return expired(request, reply);
      const returnTo = await found.provider.interactionResult(
        request.raw,
        reply.raw,
        { error: 'access_denied', error_description: 'The person declined to sign in' },
        { mergeWithLastSubmission: false },
      );
      return reply.header('cache-control', 'no-store').redirect(returnTo, 303);
    });

    // Everything else under /oidc is the provider's.
    scope.all(`${OIDC_PATH}/*`, { config: routeConfig }, (request, reply) =>
      forward(request, reply, request.url.slice(OIDC_PATH.length)),
    );
  });

  return (request, reply) => forward(request, reply, '/.well-known/openid-configuration');
}
