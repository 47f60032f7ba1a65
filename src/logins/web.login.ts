import type { Config } from '../config.js';
import { LoginMethodKind } from '../identity/user-login-method.entity.js';
import { QRCONNECT_PATH } from '../wechat/endpoints.js';
import type { OAuthExchange } from './oauth-exchange.js';
import { RedirectLogin } from './redirect.login.js';
import type { WebStateService } from './web-state.service.js';

/** Website QR login: WeChat's QR page (scope snsapi_login), then the code it redirects back with. */
export class WebLogin extends RedirectLogin {
  constructor(config: Config, webState: WebStateService, oauth: OAuthExchange) {
    super(config, webState, oauth, {
      platform: 'web',
      kind: LoginMethodKind.WECHAT_WEB,
      authorizePath: QRCONNECT_PATH,
    });
  }

  /** The QR-connect URL for a website login and its state. */
  qrConnectUrl(redirectUri: string, codeChallenge?: string | null, appId?: string | null) {
    return this.authorizeUrl(redirectUri, 'snsapi_login', codeChallenge, appId);
  }
}
