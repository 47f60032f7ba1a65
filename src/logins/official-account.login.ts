import type { EntityManager } from '@mikro-orm/postgresql';
import type { Config } from '../config.js';
import { BadUserInputError } from '../errors.js';
import { LoginMethodKind } from '../identity/user-login-method.entity.js';
import { OA_AUTHORIZE_PATH } from '../wechat/endpoints.js';
import { checkCode, checkCodeChallenge, checkCodeVerifier, INPUT_LIMITS } from './login-input.js';
import type { OAuthLogin } from './oauth.login.js';
import { credentialsFor } from './platform.js';
import type { LoginResult, SignIn } from './sign-in.js';
import type { WebStateService } from './web-state.service.js';

/** What the page asks WeChat for: the openid silently, or the profile (and unionid) with consent. */
export type OfficialAccountScope = 'BASE' | 'USERINFO';

const WECHAT_SCOPES: Record<OfficialAccountScope, string> = {
  BASE: 'snsapi_base',
  USERINFO: 'snsapi_userinfo',
};

export interface OfficialAccountLoginInput {
  code: string;
  state: string;
  redirectUri?: string | null;
  codeVerifier?: string | null;
  appId?: string | null;
}

/**
 * Official account web authorization: a page opened inside WeChat's own browser sends the person
 * to WeChat's authorize URL (silent for BASE, a consent page for USERINFO), which comes back to the
 * redirect URI with a code. The same signed single-use state as the website login (bound to the
 * app, the redirect URI and, with PKCE, a codeChallenge); the code exchange and the profile rules
 * are the shared OAuth login's (docs/wechat.md, "Official account pages").
 */
export class OfficialAccountLogin {
  constructor(
    private readonly config: Config,
    private readonly webState: WebStateService,
    private readonly oauth: OAuthLogin,
    private readonly signIn: SignIn,
  ) {}

  /** WeChat's authorize URL for this page, and its state (WeChat's parameter order). */
  authorizeUrl(
    redirectUri: string,
    scope: OfficialAccountScope,
    codeChallenge?: string | null,
    appId?: string | null,
  ): { url: string; state: string } {
    const app = credentialsFor(this.config, 'official', appId);
    if (redirectUri.length > INPUT_LIMITS.redirectUri)
      throw new BadUserInputError('redirectUri is too long', 'redirectUri');
    checkCodeChallenge(codeChallenge);
    const state = this.webState.issue(app, redirectUri, codeChallenge);
    const query = [
      ['appid', app.appId],
      ['redirect_uri', redirectUri],
      ['response_type', 'code'],
      ['scope', WECHAT_SCOPES[scope]],
      ['state', state],
    ]
      .map(([k, v]) => `${k}=${encodeURIComponent(v!)}`)
      .join('&');
    return { url: `${this.config.wechat.openBaseUrl}${OA_AUTHORIZE_PATH}?${query}#wechat_redirect`, state };
  }

  login(em: EntityManager, input: OfficialAccountLoginInput, clientIp: string): Promise<LoginResult> {
    const app = credentialsFor(this.config, 'official', input.appId);
    checkCode(input.code);
    if (input.state.length > INPUT_LIMITS.state) throw new BadUserInputError('state is too long', 'state');
    checkCodeVerifier(input.codeVerifier);
    const kind = LoginMethodKind.WECHAT_OFFICIAL_ACCOUNT;
    return this.signIn.admit(em, kind, input, clientIp, async () => {
      await this.webState.consume(em.fork(), input.state, { ...input, app });
      return this.oauth.login(em, kind, app, input.code);
    });
  }
}
