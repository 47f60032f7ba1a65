import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import { AppAccessTokens } from '../app-tokens/app-access-tokens.js';
import { JsapiTickets } from '../app-tokens/jsapi-tickets.js';
import type { Config } from '../config.js';
import type { SecretBox } from '../crypto/secret-box.js';
import { rateLimitStore } from '../db/pool.js';
import type { SigningKeys } from '../keys/signing-keys.js';
import { AccountLifecycle } from '../identity/account-lifecycle.service.js';
import { AccountService } from '../identity/account.service.js';
import { ProfileService } from '../identity/profile.service.js';
import { AppLogin } from '../logins/app.login.js';
import { JsSdkConfigs } from '../logins/js-sdk.js';
import { LinkWechatIdentity } from '../logins/link.js';
import { LoginTickets } from '../login-tickets/login-tickets.js';
import { LoginTicketRepository } from '../login-tickets/login-ticket.repository.js';
import { TicketWakeups } from '../login-tickets/ticket-wakeups.js';
import { LoginMethodKind } from '../identity/user-login-method.entity.js';
import { outcomeOf, type Metrics } from '../metrics/metrics.js';
import { MiniProgramLogin } from '../logins/mini-program.login.js';
import { OfficialAccountLogin } from '../logins/official-account.login.js';
import { OAuthExchange } from '../logins/oauth-exchange.js';
import { SignIn } from '../logins/sign-in.js';
import { WebLogin } from '../logins/web.login.js';
import { WebStateService } from '../logins/web-state.service.js';
import { PhoneNumberService } from '../logins/phone-number.service.js';
import { FollowLogin } from '../official-account/follow-login.js';
import { RateLimiter } from '../rate-limits/rate-limiter.js';
import { AccessTokens } from '../sessions/access-tokens.js';
import { SessionService } from '../sessions/session.service.js';
import { AppTokenClient } from '../wechat/app-token.client.js';
import { WeChatHttp } from '../wechat/http.js';
import { JsapiTicketClient } from '../wechat/jsapi-ticket.client.js';
import { MiniProgramClient } from '../wechat/mini-program.client.js';
import { MiniProgramCodeClient } from '../wechat/mini-program-code.client.js';
import { OAuthClient } from '../wechat/oauth.client.js';
import { OfficialAccountClient } from '../wechat/official-account.client.js';
import { PhoneNumberClient } from '../wechat/phone-number.client.js';
import type { WebhookOutbox } from '../webhooks/outbox.js';

/** What resolvers and routes call: one instance of each per process. */
export interface Services {
  /** Every login, whatever its platform: SignIn.login(em, kind, input, client). */
  signIn: SignIn;
  /** The authorize URLs of the two redirect logins. */
  webLogin: WebLogin;
  officialAccountLogin: OfficialAccountLogin;
  phoneNumbers: PhoneNumberService;
  sessions: SessionService;
  profiles: ProfileService;
  /** linkWechatIdentity: the code exchanged as its kind's login, then AccountLifecycle.link. */
  link: LinkWechatIdentity;
  /** Unlink and delete. */
  lifecycle: AccountLifecycle;
  /** Login tickets: a waiting page signed in from the mini program (codes, links, the handover). */
  loginTickets: LoginTickets;
  /** Official Account pushes (/wechat/events/:appId): follow-login, follows and unfollows. */
  followLogin: FollowLogin;
  /** wechatJsSdkConfig: official account pages' JS-SDK config, with the shared jsapi_ticket. */
  jsSdk: JsSdkConfigs;
  /** The per-minute limits (per client IP, WeChat identity and signed-in user). */
  rateLimiter: RateLimiter;
  /** Frees what the services hold open (WeChat keep-alive sockets, a Redis connection). */
  close(): Promise<void>;
}

/** What services share with the app that built them: the sealing box and the signing keys. */
export interface ServiceDeps {
  box: SecretBox;
  signingKeys: SigningKeys;
  /** Where changes write their webhook events (a no-op without WEBHOOK_URLS). */
  outbox: WebhookOutbox;
  /** The ORM's global entity manager: the rate limiter borrows its connection pool. */
  em: EntityManager;
  /** This instance's metrics: services get narrow hooks into it, never the registry. */
  metrics: Metrics;
  /**
   * A real database's URL, for the connection that LISTENs for the other instances' ticket
   * changes; undefined for the embedded one (one process; its session cannot keep a LISTEN).
   */
  listenUrl?: string;
}

const KINDS = new Set<string>(Object.values(LoginMethodKind));

/** How a login or link ended, as the metrics label it: `success`, an AppError's code or INTERNAL. */
const outcome = (error: unknown) => (error === undefined ? 'success' : outcomeOf(error));

/** Builds every service once per process, from the config: the one place they are wired. */
export function createServices(
  config: Config,
  logger: Logger,
  { box, signingKeys, outbox, em, metrics, listenUrl }: ServiceDeps,
): Services {
  const http = new WeChatHttp({
    baseUrl: config.wechat.apiBaseUrl,
    timeoutMs: config.wechat.timeoutMs,
    logger: logger.child({ component: 'wechat' }),
    onAttempt: (endpoint, errcode, seconds) => {
      metrics.wechatRequests.inc({ endpoint, errcode });
      metrics.wechatDuration.observe({ endpoint }, seconds);
    },
  });
  const rateLimiter = new RateLimiter(config.rateLimit, rateLimitStore(em), (action) =>
    metrics.rateLimitRefusals.inc({ action }),
  );
  const sessions = new SessionService({
    accessTokens: new AccessTokens(signingKeys, {
      ...config.accessTokens,
      ttlSeconds: config.session.accessTokenTtlSeconds,
    }),
    rateLimiter,
    refreshTokenTtlSeconds: config.session.refreshTokenTtlSeconds,
    refreshReuseGraceSeconds: config.session.refreshReuseGraceSeconds,
  });
  const oauth = new OAuthExchange(new OAuthClient(http), logger.child({ component: 'login' }));
  const webState = new WebStateService({
    authSecret: config.authSecret,
    authSecretPrevious: config.authSecretPrevious,
    ttlSeconds: config.session.webStateTtlSeconds,
  });
  // One per process: its memo and in-flight fetches are what keep token fetches to one.
  const appTokens = new AppAccessTokens({
    box,
    client: new AppTokenClient(http),
    logger: logger.child({ component: 'wechat' }),
    onFetched: (forced) => metrics.appTokenFetches.inc({ mode: forced ? 'forced' : 'normal' }),
  });
  const phoneNumberClient = new PhoneNumberClient(http, appTokens, logger.child({ component: 'wechat' }));
  const webLogin = new WebLogin(config, webState, oauth);
  const officialAccountLogin = new OfficialAccountLogin(config, webState, oauth);
  const accounts = new AccountService(box, logger, outbox, config.registrationOpen);
  const signIn = new SignIn({
    platforms: {
      [LoginMethodKind.WECHAT_WEB]: webLogin,
      [LoginMethodKind.WECHAT_APP]: new AppLogin(config, oauth),
      [LoginMethodKind.WECHAT_MINI]: new MiniProgramLogin({
        config,
        mini: new MiniProgramClient(http),
        phoneNumbers: phoneNumberClient,
        logger,
      }),
      [LoginMethodKind.WECHAT_OFFICIAL_ACCOUNT]: officialAccountLogin,
    },
    accounts,
    sessions,
    rateLimiter,
    box,
    outbox,
    logger: logger.child({ component: 'login' }),
    onLogin: (kind, error) => metrics.logins.inc({ kind, outcome: outcome(error) }),
  });
  const wakeups = new TicketWakeups(logger.child({ component: 'login-tickets' }), (payload) =>
    LoginTicketRepository.announce(em.fork(), payload),
  );
  if (listenUrl) wakeups.listen(listenUrl);
  const officialAccounts = new OfficialAccountClient(http, appTokens);
  const loginTickets = new LoginTickets({
    config,
    codes: new MiniProgramCodeClient(http, appTokens),
    officialAccounts,
    sessions,
    rateLimiter,
    wakeups,
    onEvent: (kind, event) => metrics.loginTickets.inc({ kind, event }),
    onLogin: (kind) => metrics.logins.inc({ kind, outcome: 'success' }),
  });
  const lifecycle = new AccountLifecycle(box, logger.child({ component: 'accounts' }), outbox);
  const link = new LinkWechatIdentity({
    signIn,
    lifecycle,
    onLink: (kind, error) =>
      metrics.links.inc({ kind: KINDS.has(kind) ? kind : 'UNKNOWN', outcome: outcome(error) }),
  });
  return {
    signIn,
    webLogin,
    officialAccountLogin,
    phoneNumbers: new PhoneNumberService({ config, client: phoneNumberClient, rateLimiter, outbox }),
    sessions,
    profiles: new ProfileService({ allowLoopbackHttpAvatars: !config.isProduction }, outbox),
    link,
    lifecycle,
    loginTickets,
    followLogin: new FollowLogin({
      client: officialAccounts,
      accounts,
      wakeups,
      onConfirmed: () => metrics.loginTickets.inc({ kind: 'OFFICIAL_ACCOUNT_QR', event: 'confirmed' }),
    }),
    jsSdk: new JsSdkConfigs(
      config,
      new JsapiTickets({
        box,
        client: new JsapiTicketClient(http),
        appTokens,
        logger: logger.child({ component: 'wechat' }),
      }),
    ),
    rateLimiter,
    close: async () => {
      await wakeups.close();
      http.close();
      await rateLimiter.close();
    },
  };
}
