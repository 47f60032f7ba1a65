import type { EntityManager } from '@mikro-orm/postgresql';
import type { Config, ConfiguredApp } from '../config.js';
import { LoginMethodKind } from '../identity/user-login-method.entity.js';
import { checkCode, codeOnly } from './login-input.js';
import type { OAuthExchange } from './oauth-exchange.js';
import { credentialsFor, type Exchange, type LinkFields, type Platform } from './platform.js';

export interface AppLoginInput {
  code: string;
  /** Which mobile app, when this server has several. */
  appId?: string | null;
}

/** Native app login: the code from the WeChat Open SDK's SendAuth, through Open Platform OAuth. */
export class AppLogin implements Platform<AppLoginInput> {
  readonly kind = LoginMethodKind.WECHAT_APP;

  constructor(
    private readonly config: Config,
    private readonly oauth: OAuthExchange,
  ) {}

  check(input: AppLoginInput): ConfiguredApp {
    const app = credentialsFor(this.config, 'app', input.appId);
    checkCode(input.code);
    return app;
  }

  exchange(_em: EntityManager, app: ConfiguredApp, input: AppLoginInput): Promise<Exchange> {
    return this.oauth.exchange(this.kind, app, input.code);
  }

  linkInput(fields: LinkFields): AppLoginInput {
    return codeOnly(fields);
  }
}
