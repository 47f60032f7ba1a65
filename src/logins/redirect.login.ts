import type { EntityManager } from '@mikro-orm/postgresql';
import type { Config, ConfiguredApp } from '../config.js';
import { BadUserInputError } from '../errors.js';
import type { LoginMethodKind } from '../identity/user-login-method.entity.js';
import { checkCode, checkCodeChallenge, checkCodeVerifier, INPUT_LIMITS, withState } from './login-input.js';
import type { OAuthExchange } from './oauth-exchange.js';
import { credentialsFor, type Exchange, type LinkFields, type Platform } from './platform.js';
import type { WebStateService } from './web-state.service.js';

/** What WeChat appends to the redirect URI, and what the client kept from the authorize call. */
export interface RedirectLoginInput {
  code: string;
  state: string;
  redirectUri?: string | null;
  /** PKCE: required when the authorize URL was made with a codeChallenge, refused otherwise. */
  codeVerifier?: string | null;
  /** Which app, when this server has several of the kind. */
  appId?: string | null;
}

/** Which redirect login: the kind of app, its login method kind, and WeChat's authorize page. */
export interface RedirectFlow {
  platform: 'web' | 'official';
  kind: LoginMethodKind;
  /** The authorize page's path on WECHAT_OPEN_BASE_URL. */
  authorizePath: string;
}

/**
 * A login that goes through a WeChat page and comes back to a redirect URI (the website's QR page,
 * an official account's authorize page): an authorize URL with a signed single-use state (bound to
 * the app, the redirect URI and, with PKCE, a codeChallenge), then the code WeChat redirects back
 * with. The state is checked and spent before WeChat is called; the code exchange and profile rules
 * are the shared OAuth login's.
 */
export class RedirectLogin implements Platform<RedirectLoginInput> {
  readonly kind: LoginMethodKind;

  constructor(
    private readonly config: Config,
    private readonly webState: WebStateService,
    private readonly oauth: OAuthExchange,
    private readonly flow: RedirectFlow,
  ) {
    this.kind = flow.kind;
  }

  /** WeChat's authorize URL and its state, in WeChat's parameter order. */
  authorizeUrl(
    redirectUri: string,
    scope: string,
    codeChallenge?: string | null,
    appId?: string | null,
  ): { url: string; state: string } {
    const app = credentialsFor(this.config, this.flow.platform, appId);
    if (redirectUri.length > INPUT_LIMITS.redirectUri)
      throw new BadUserInputError('redirectUri is too long', 'redirectUri');
    checkCodeChallenge(codeChallenge);
    const state = this.webState.issue(app, redirectUri, codeChallenge);
    const query = [
      ['appid', app.appId],
      ['redirect_uri', redirectUri],
      ['response_type', 'code'],
      ['scope', scope],
      ['state', state],
    ]
      .map(([k, v]) => `${k}=${encodeURIComponent(v!)}`)
      .join('&');
    const base = `${this.config.wechat.openBaseUrl}${this.flow.authorizePath}`;
    return { url: `${base}?${query}#wechat_redirect`, state };
  }

  check(input: RedirectLoginInput): ConfiguredApp {
    const app = credentialsFor(this.config, this.flow.platform, input.appId);
    checkCode(input.code);
    if (input.state.length > INPUT_LIMITS.state) throw new BadUserInputError('state is too long', 'state');
    checkCodeVerifier(input.codeVerifier);
    return app;
  }

  /** The state checked and spent first, then the code exchanged as every OAuth login's is. */
  async exchange(em: EntityManager, app: ConfiguredApp, input: RedirectLoginInput): Promise<Exchange> {
    await this.webState.consume(em.fork(), input.state, { ...input, app });
    return this.oauth.exchange(this.kind, app, input.code);
  }

  linkInput(fields: LinkFields): RedirectLoginInput {
    return withState(this.kind, fields);
  }
}
