import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { AccountService } from '../accounts/account.service.js';
import { LoginService } from '../accounts/login.service.js';
import { RateLimiter } from '../accounts/rate-limiter.js';
import { SecretBox } from '../accounts/secrets.js';
import { SessionService } from '../accounts/session.service.js';
import { WebStateService } from '../accounts/web-state.service.js';
import { WeChatHttp } from '../wechat/http.js';
import { MiniProgramClient } from '../wechat/mini-program.client.js';
import { OAuthClient } from '../wechat/oauth.client.js';

export interface Services {
  logins: LoginService;
  rateLimiter: RateLimiter;
  sessions: SessionService;
  close(): void;
}

/** Builds every service once per process, from the config: the one place they are wired. */
export function createServices(config: Config, logger: Logger): Services {
  const http = new WeChatHttp({
    baseUrl: config.wechat.apiBaseUrl,
    timeoutMs: config.wechat.timeoutMs,
    logger: logger.child({ component: 'wechat' }),
  });
  const sessions = new SessionService({
    authSecret: config.authSecret,
    accessTokenTtlSeconds: config.session.accessTokenTtlSeconds,
    refreshTokenTtlSeconds: config.session.refreshTokenTtlSeconds,
  });
  const rateLimiter = new RateLimiter(config.rateLimit);
  const logins = new LoginService({
    rateLimiter,
    config,
    oauth: new OAuthClient(http),
    mini: new MiniProgramClient(http),
    accounts: new AccountService(new SecretBox(config.authSecret), logger),
    sessions,
    webState: new WebStateService({
      authSecret: config.authSecret,
      ttlSeconds: config.session.webStateTtlSeconds,
      redirectUris: config.wechat.webRedirectUris,
    }),
    logger,
  });
  return { logins, sessions, rateLimiter, close: () => http.close() };
}
