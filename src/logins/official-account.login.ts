import type { Config } from '../config.js';
import { LoginMethodKind } from '../identity/user-login-method.entity.js';
import { OA_AUTHORIZE_PATH } from '../wechat/endpoints.js';
import type { OAuthExchange } from './oauth-exchange.js';
import { RedirectLogin } from './redirect.login.js';
import type { WebStateService } from './web-state.service.js';

/** What the page asks WeChat for: the openid silently, or the profile (and unionid) with consent. */
export type OfficialAccountScope = 'BASE' | 'USERINFO';

const WECHAT_SCOPES: Record<OfficialAccountScope, string> = {
  BASE: 'snsapi_base',
  USERINFO: 'snsapi_userinfo',
};

/**
 * Official account web authorization: a page opened inside WeChat's own browser sends the person
 * to WeChat's authorize page (silent for BASE, a consent page for USERINFO), which comes back to
 * the redirect URI with a code (docs/api.md, "Official account pages"). BASE tokens carry no
 * unionid and may not read userinfo: the shared OAuth login reads the granted scope and asks
 * userinfo only when allowed; a snapshot-mode virtual account is refused there.
 */
export class OfficialAccountLogin extends RedirectLogin {
  constructor(config: Config, webState: WebStateService, oauth: OAuthExchange) {
    super(config, webState, oauth, {
      platform: 'official',
      kind: LoginMethodKind.WECHAT_OFFICIAL_ACCOUNT,
      authorizePath: OA_AUTHORIZE_PATH,
    });
  }

  /** WeChat's authorize URL for this page and scope, and its state. */
  pageAuthorizeUrl(
    redirectUri: string,
    scope: OfficialAccountScope,
    codeChallenge?: string | null,
    appId?: string | null,
  ) {
    return this.authorizeUrl(redirectUri, WECHAT_SCOPES[scope], codeChallenge, appId);
  }
}
