import cors from '@fastify/cors';
import type { FastifyInstance } from 'fastify';
import helmet, { type HelmetOptions } from 'helmet';
import type { Config } from '../config.js';
import { REQUEST_ID_HEADER } from './request-id.js';

/** Any port of localhost or 127.0.0.1 over http: the development default of CORS_ORIGINS. */
const LOCALHOST_ORIGIN = /^http:\/\/(localhost|127\.0\.0\.1)(:\d{1,5})?$/;

/**
 * Whether a browser page of `origin` may call us (CORS_ORIGINS): over HTTP, CORS answers it; on
 * the WebSocket side of /graphql, the upgrade is refused otherwise (src/server/subscriptions.ts).
 */
export function originAllowed(config: Config, origin: string): boolean {
  const allowed = config.http.corsOrigins;
  return allowed === 'localhost' ? LOCALHOST_ORIGIN.test(origin) : allowed.includes(origin);
}

/**
 * What a browser client sends us beyond the simple headers: JSON bodies, the bearer token, Apollo's
 * CSRF-prevention headers (any one of them lets a GET or a form-like POST through) and a request
 * id to correlate logs.
 */
const ALLOWED_HEADERS = [
  'content-type',
  'authorization',
  'apollo-require-preflight',
  'x-apollo-operation-name',
  REQUEST_ID_HEADER,
];

/**
 * Development only: the CSP that lets Apollo Sandbox (the /graphql landing page) load from
 * Apollo's CDN and frame its IDE, and lets the example pages show avatars from anywhere: WeChat's
 * (https) and the emulator's (http://127.0.0.1:<its port>, another origin than the page).
 * Production keeps helmet's strict default; its landing page is a plain page without scripts.
 */
const DEVELOPMENT_CSP: HelmetOptions['contentSecurityPolicy'] = {
  directives: {
    scriptSrc: ["'self'", "'unsafe-inline'", 'https://embeddable-sandbox.cdn.apollographql.com'],
    styleSrc: ["'self'", "'unsafe-inline'", 'https:'],
    frameSrc: ['https://sandbox.embed.apollographql.com'],
    imgSrc: ["'self'", 'data:', 'https:', 'http:'],
    manifestSrc: ["'self'", 'https://apollo-server-landing-page.cdn.apollographql.com'],
    // http://localhost stays http: some browsers would otherwise upgrade its subresources.
    upgradeInsecureRequests: null,
  },
};

/**
 * Development only: the CSP of the local explorer (/graphiql and its assets), which replaces the
 * one above there. Everything comes from this server and nothing from elsewhere: scripts and styles
 * files from 'self', GraphiQL's fonts and icons as data: URLs, and the <style> elements its
 * components add (hence 'unsafe-inline' for styles, never for scripts); it talks to /graphql only.
 */
export const LOCAL_EXPLORER_CSP: HelmetOptions['contentSecurityPolicy'] = {
  useDefaults: false,
  directives: {
    defaultSrc: ["'self'"],
    baseUri: ["'self'"],
    connectSrc: ["'self'"],
    fontSrc: ["'self'", 'data:'],
    formAction: ["'self'"],
    frameAncestors: ["'self'"],
    imgSrc: ["'self'", 'data:'],
    objectSrc: ["'none'"],
    scriptSrc: ["'self'"],
    scriptSrcAttr: ["'none'"],
    styleSrc: ["'self'", "'unsafe-inline'"],
  },
};

type SecurityHeaders = ReturnType<typeof helmet>;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** This route's Content-Security-Policy, instead of the server's (the local explorer's). */
    contentSecurityPolicy?: HelmetOptions['contentSecurityPolicy'];
    /** Set when the route is added: helmet built for its own policy. */
    securityHeaders?: SecurityHeaders;
  }
}

/**
 * Security headers (helmet) on every answer, and CORS for the origins in CORS_ORIGINS: a
 * preflight from an allowed origin is answered 204 with the headers and methods clients use;
 * any other origin gets no CORS header at all, so its browser keeps the answer from its page.
 * Apollo's CSRF prevention stays on behind this: a preflight never reaches it, and a cross-origin
 * request that skipped one (a form, a simple GET) is still refused.
 *
 * Helmet's middleware is built once per policy, here, and applied by one hook: the Fastify plugin
 * rebuilt it (parsing every CSP directive) on every request.
 */
export async function registerBrowserSecurity(app: FastifyInstance, config: Config): Promise<void> {
  const options: HelmetOptions = {
    // Production: helmet's strict default.
    ...(!config.isProduction && { contentSecurityPolicy: DEVELOPMENT_CSP }),
    // The API is called cross-origin on purpose (CORS decides who may read it).
    crossOriginResourcePolicy: { policy: 'cross-origin' },
  };
  const serverWide = helmet(options);
  const perPolicy = new Map<unknown, SecurityHeaders>();
  // A route with a policy of its own gets its middleware when it is added (a bad policy stops the
  // start, not a request); routes sharing a policy share one.
  app.addHook('onRoute', (route) => {
    const csp = route.config?.contentSecurityPolicy;
    if (csp === undefined) return;
    let securityHeaders = perPolicy.get(csp);
    if (!securityHeaders)
      perPolicy.set(csp, (securityHeaders = helmet({ ...options, contentSecurityPolicy: csp })));
    route.config = { ...route.config, securityHeaders };
  });
  app.addHook('onRequest', (request, reply, done) => {
    const headers = request.routeOptions.config.securityHeaders ?? serverWide;
    headers(request.raw, reply.raw, () => done());
  });

  const corsOptions = {
    methods: ['GET', 'POST', 'OPTIONS'],
    allowedHeaders: ALLOWED_HEADERS,
    exposedHeaders: [REQUEST_ID_HEADER, 'retry-after'],
    // Bearer tokens, no cookies: browsers need not send credentials.
    credentials: false,
    maxAge: 600,
    strictPreflight: true,
  };
  await app.register(cors, {
    // The admin API is server to server: no browser origin is ever allowed there.
    delegator: (request, callback) => {
      const origin = request.headers.origin;
      const admin = request.url.startsWith('/admin/');
      callback(null, {
        ...corsOptions,
        origin: !admin && origin !== undefined && originAllowed(config, origin),
      });
    },
  });
}
