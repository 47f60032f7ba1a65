import type { EntityManager } from '@mikro-orm/postgresql';
import type { PlatformCredentials } from '../config.js';
import type { LoginMethodKind } from '../identity/user-login-method.entity.js';
import type { WeChatIdentity } from '../identity/wechat-identity.js';
import type { OAuthClient } from '../wechat/oauth.client.js';
import type { LoginResult, SignIn } from './sign-in.js';

/** How long a web/app profile (nickname, avatar) is trusted before userinfo is asked again. */
const PROFILE_TTL_MS = 24 * 3600 * 1000;

/**
 * The Open Platform OAuth login shared by the website and the mobile app: code → access token
 * (openid, unionid), then userinfo only when the identity is new or its profile is a day old.
 */
export class OAuthLogin {
  constructor(
    private readonly oauth: OAuthClient,
    private readonly signIn: SignIn,
  ) {}

  async login(
    em: EntityManager,
    kind: LoginMethodKind,
    app: PlatformCredentials,
    code: string,
  ): Promise<LoginResult> {
    const token = await this.oauth.exchangeCode(app, code);
    await this.signIn.limitIdentity(em, app.appId, token.openId);
    const identity: WeChatIdentity = {
      kind,
      appId: app.appId,
      openId: token.openId,
      unionId: token.unionId,
      profile: undefined,
      accessCode: token.accessToken,
    };
    // A returning user whose profile is less than a day old: one statement, no userinfo call.
    const returning = await this.signIn.returning(em, identity, new Date(Date.now() - PROFILE_TTL_MS));
    if (returning) return returning;
    const profile = await this.oauth.userInfo(token.accessToken, token.openId);
    return this.signIn.register(em, {
      ...identity,
      unionId: token.unionId ?? profile.unionId,
      profile: { nickname: profile.nickname, avatarUrl: profile.avatarUrl },
    });
  }
}
