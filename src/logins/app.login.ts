import type { EntityManager } from '@mikro-orm/postgresql';
import type { Config } from '../config.js';
import { LoginMethodKind } from '../identity/user-login-method.entity.js';
import type { WeChatIdentity } from '../identity/wechat-identity.js';
import { checkCode } from './login-input.js';
import type { OAuthLogin } from './oauth.login.js';
import { credentialsFor } from './platform.js';
import type { LoginResult, SignIn } from './sign-in.js';

/** Native app login: the code from the WeChat Open SDK's SendAuth, through Open Platform OAuth. */
export class AppLogin {
  constructor(
    private readonly config: Config,
    private readonly oauth: OAuthLogin,
    private readonly signIn: SignIn,
  ) {}

  login(
    em: EntityManager,
    input: { code: string; appId?: string | null },
    clientIp: string,
  ): Promise<LoginResult> {
    const app = credentialsFor(this.config, 'app', input.appId);
    checkCode(input.code);
    return this.signIn.admit(em, LoginMethodKind.WECHAT_APP, input, clientIp, () =>
      this.oauth.login(em, LoginMethodKind.WECHAT_APP, app, input.code),
    );
  }

  /** Who the code names, for linking to a signed-in user. */
  identify(em: EntityManager, input: { code: string; appId?: string | null }): Promise<WeChatIdentity> {
    const app = credentialsFor(this.config, 'app', input.appId);
    checkCode(input.code);
    return this.oauth.identify(em, LoginMethodKind.WECHAT_APP, app, input.code);
  }
}
