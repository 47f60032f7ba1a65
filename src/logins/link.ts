import type { EntityManager } from '@mikro-orm/postgresql';
import type { AccountLifecycle } from '../identity/account-lifecycle.service.js';
import { LoginMethodKind } from '../identity/user-login-method.entity.js';
import type { User } from '../identity/user.entity.js';
import type { WeChatIdentity } from '../identity/wechat-identity.js';
import { BadUserInputError } from '../errors.js';
import type { RateLimiter } from '../rate-limits/rate-limiter.js';
import type { AppLogin } from './app.login.js';
import type { MiniProgramLogin } from './mini-program.login.js';
import type { RedirectLogin } from './redirect.login.js';

/** linkWechatIdentity's input: the fields of the login of that kind, and whether to merge. */
export interface LinkInput {
  kind: LoginMethodKind;
  code: string;
  /** WECHAT_WEB and WECHAT_OFFICIAL_ACCOUNT: the authorize URL's state, as for their login. */
  state?: string | null;
  redirectUri?: string | null;
  codeVerifier?: string | null;
  appId?: string | null;
  /** Merge the user that holds this identity into the signed-in one (else IDENTITY_IN_USE). */
  merge?: boolean | null;
}

export interface LinkDeps {
  web: RedirectLogin;
  official: RedirectLogin;
  app: AppLogin;
  mini: MiniProgramLogin;
  lifecycle: AccountLifecycle;
  rateLimiter: RateLimiter;
}

/**
 * Adds a WeChat identity to the signed-in user: the code is exchanged exactly as the login of its
 * kind would (a website or official account state checked and spent first, PKCE included), then
 * AccountLifecycle.link attaches it, merging its holder when asked. Counts as a login attempt
 * against the client IP's and the identity's limits.
 */
export class LinkWechatIdentity {
  constructor(private readonly deps: LinkDeps) {}

  async link(em: EntityManager, userId: string, input: LinkInput, clientIp: string): Promise<User> {
    const identify = this.identifier(input);
    await this.deps.rateLimiter.ip('login', clientIp);
    const identity = await identify(em);
    return this.deps.lifecycle.link(em, userId, identity, input.merge === true);
  }

  /** How to exchange this kind's code, once its input has the fields that kind needs. */
  private identifier(input: LinkInput): (em: EntityManager) => Promise<WeChatIdentity> {
    const { kind, code, appId } = input;
    const redirect = kind === LoginMethodKind.WECHAT_WEB || kind === LoginMethodKind.WECHAT_OFFICIAL_ACCOUNT;
    if (redirect) {
      if (input.state == null) {
        throw new BadUserInputError(`A ${kind} link needs the state of its authorize URL`, 'state');
      }
      const login = kind === LoginMethodKind.WECHAT_WEB ? this.deps.web : this.deps.official;
      const fields = {
        code,
        state: input.state,
        redirectUri: input.redirectUri,
        codeVerifier: input.codeVerifier,
        appId,
      };
      return (em) => login.identify(em, fields);
    }
    for (const field of ['state', 'redirectUri', 'codeVerifier'] as const) {
      if (input[field] != null) {
        throw new BadUserInputError(
          `${field} is only for WECHAT_WEB and WECHAT_OFFICIAL_ACCOUNT links`,
          field,
        );
      }
    }
    const login = kind === LoginMethodKind.WECHAT_APP ? this.deps.app : this.deps.mini;
    return (em) => login.identify(em, { code, appId });
  }
}
