/**
 * The peer of `npm run bench -- --peer` (bench/peer.ts): better-auth with its WeChat social provider
 * (website QR login), configured as its docs say (https://better-auth.com/docs/authentication/wechat,
 * /docs/adapters/postgresql, /docs/integrations/node): a `pg` Pool as the database (pg's default
 * size, 10, as ours), the provider's clientId and clientSecret and nothing else (it gives the user,
 * WeChat having no email, the placeholder <unionid or openid>@wechat.placeholder.invalid itself),
 * better-auth's own Node handler, toNodeHandler, straight on node:http (its Node docs mount it on
 * Express, which would only add work). Beyond the docs: rate limits off (on by default in
 * production; ours runs with them off too), and its tables (user, session, account, verification)
 * made at start by its own migration API (what `npx auth migrate` runs) in a database of its own.
 *
 *   POST /api/auth/sign-in/social {provider: 'wechat', callbackURL}  → {url} of WeChat's QR page
 *   GET  /api/auth/callback/wechat?code&state (its state cookie)     → 302 to callbackURL, session cookie
 *
 * Environment: PORT, DATABASE_URL (its own database), AUTH_SECRET, WEB_APPID, WEB_SECRET and
 * WECHAT_BASE_URL (the emulator).
 */
import http from 'node:http';
import { betterAuth } from 'better-auth';
import { getMigrations } from 'better-auth/db/migration';
import { toNodeHandler } from 'better-auth/node';
import pg from 'pg';

const env = process.env;
const emulator = env.WECHAT_BASE_URL!;

/*
 * better-auth's WeChat provider calls WeChat's real hosts, written into its code
 * (https://api.weixin.qq.com/sns/oauth2/access_token and /sns/userinfo; it only builds
 * https://open.weixin.qq.com's QR page URL for the browser) through @better-fetch/fetch, which
 * takes globalThis.fetch on every call. In this process only, that fetch sends those hosts to the
 * emulator (the same URL path and query); everything else goes through unchanged. Our server is
 * pointed at the emulator by its configuration (WECHAT_API_BASE_URL, WECHAT_OPEN_BASE_URL) instead.
 */
const WECHAT_HOSTS = /^https:\/\/(api|open)\.weixin\.qq\.com(?=\/|$)/;
const realFetch = globalThis.fetch;
globalThis.fetch = (input, init) => {
  const url = input instanceof Request ? input.url : String(input);
  if (!WECHAT_HOSTS.test(url)) return realFetch(input, init);
  const target = url.replace(WECHAT_HOSTS, emulator);
  return realFetch(input instanceof Request ? new Request(target, input) : target, init);
};

const baseURL = `http://127.0.0.1:${env.PORT}`;
const options = {
  baseURL,
  secret: env.AUTH_SECRET!,
  database: new pg.Pool({ connectionString: env.DATABASE_URL }),
  socialProviders: {
    wechat: {
      clientId: env.WEB_APPID!,
      clientSecret: env.WEB_SECRET!,
    },
  },
  rateLimit: { enabled: false },
};

await (await getMigrations(options)).runMigrations();
const auth = betterAuth(options);

http.createServer(toNodeHandler(auth)).listen(Number(env.PORT), '127.0.0.1');
