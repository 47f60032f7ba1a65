import type { EntityManager } from '@mikro-orm/postgresql';
import type { Config } from '../config.js';
import { BadUserInputError } from '../errors.js';
import { LoginMethodKind } from '../identity/user-login-method.entity.js';
import { QRCONNECT_PATH } from '../wechat/endpoints.js';
import { checkCode, checkCodeChallenge, checkCodeVerifier, INPUT_LIMITS } from './login-input.js';
import type { OAuthLogin } from './oauth.login.js';
import { credentialsFor } from './platform.js';
import type { LoginResult, SignIn } from './sign-in.js';
import type { WebStateService } from './web-state.service.js';

export interface WebLoginInput {
  code: string;
  state: string;
  redirectUri?: string | null;
  /** PKCE: required when the authorize URL was made with a codeChallenge, refused otherwise. */
  codeVerifier?: string | null;
  /** Which website app, when this server has several. */
  appId?: string | null;
}

/**
 * Website QR login: an authorize URL with a signed single-use state (bound to the redirect URI and,
 * with PKCE, to a codeChallenge), then the code WeChat redirects back with. The state is checked
 * and spent before WeChat is called.
 */
export class WebLogin {
  constructor(
    private readonly config: Config,
    private readonly webState: WebStateService,
    private readonly oauth: OAuthLogin,
    private readonly signIn: SignIn,
  ) {}

  /** The QR-connect URL for a website login and its state (WeChat's parameter order). */
  authorizeUrl(
    redirectUri: string,
    codeChallenge?: string | null,
    appId?: string | null,
  ): { url: string; state: string } {
    const app = credentialsFor(this.config, 'web', appId);
    if (redirectUri.length > INPUT_LIMITS.redirectUri)
      throw new BadUserInputError('redirectUri is too long', 'redirectUri');
    checkCodeChallenge(codeChallenge);
    const state = this.webState.issue(app, redirectUri, codeChallenge);
    const query = [
      ['appid', app.appId],
      ['redirect_uri', redirectUri],
      ['response_type', 'code'],
      ['scope', 'snsapi_login'],
      ['state', state],
    ]
      .map(([k, v]) => `${k}=${encodeURIComponent(v!)}`)
      .join('&');
    return { url: `${this.config.wechat.openBaseUrl}${QRCONNECT_PATH}?${query}#wechat_redirect`, state };
  }

  login(em: EntityManager, input: WebLoginInput, clientIp: string): Promise<LoginResult> {
    const app = credentialsFor(this.config, 'web', input.appId);
    checkCode(input.code);
    if (input.state.length > INPUT_LIMITS.state) throw new BadUserInputError('state is too long', 'state');
    checkCodeVerifier(input.codeVerifier);
    return this.signIn.admit(em, LoginMethodKind.WECHAT_WEB, input, clientIp, async () => {
      await this.webState.consume(em.fork(), input.state, { ...input, app });
      return this.oauth.login(em, LoginMethodKind.WECHAT_WEB, app, input.code);
    });
  }
}
