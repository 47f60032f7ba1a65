import type { Logger } from 'pino';
import type { PlatformCredentials } from '../config.js';
import { LoginMethodKind } from '../identity/user-login-method.entity.js';
import type { WeChatIdentity } from '../identity/wechat-identity.js';
import { AppError } from '../errors.js';
import { WeChatError } from '../wechat/errcodes.js';
import type { OAuthClient, WeChatProfile } from '../wechat/oauth.client.js';
import type { Exchange } from './platform.js';

/** How long a web/app profile (nickname, avatar) is trusted before userinfo is asked again. */
const PROFILE_TTL_MS = 24 * 3600 * 1000;

/** userinfo's answer to a token that may not read it (snsapi_base, or a snapshot-mode account). */
const SCOPE_REFUSED = 48001;

function snapshotUser(): AppError {
  return new AppError(
    'WECHAT_SNAPSHOT_USER',
    'WeChat opened this page in snapshot mode (a preview with a virtual account): ask the person ' +
      'to tap "use full service" (使用完整服务) or open the page again for real, then log in again',
  );
}

/** Scopes whose token may read userinfo (snsapi_base's may not: WeChat answers 48001). */
const PROFILE_SCOPES = /(^|,)\s*snsapi_(userinfo|login)\s*(,|$)/;

/**
 * The OAuth code exchange shared by the website, the mobile app and official account pages: code →
 * access token (openid, unionid), then userinfo only when the token's scope allows it and the
 * identity is new or its profile is a day old (the returning check comes first). The code is spent
 * once exchanged, so a userinfo failure does not fail the login: the person signs in (or
 * registers) without a fresh profile, and the next login asks again. A snapshot-mode virtual
 * account is refused before anything is written.
 */
export class OAuthExchange {
  constructor(
    private readonly oauth: OAuthClient,
    private readonly logger: Logger,
  ) {}

  async exchange(kind: LoginMethodKind, app: PlatformCredentials, code: string): Promise<Exchange> {
    const token = await this.oauth.exchangeCode(app, code);
    if (token.isSnapshotUser) throw snapshotUser();
    // snsapi_base (a silent official account login): openid only, no userinfo to ask, and no
    // unionId taken even if one came: a silent login links no account.
    const mayReadProfile = token.scope === '' || PROFILE_SCOPES.test(token.scope);
    const identity: WeChatIdentity = {
      kind,
      appId: app.appId,
      openId: token.openId,
      unionId: mayReadProfile ? token.unionId : undefined,
      profile: undefined,
      accessCode: token.accessToken,
    };
    return {
      identity,
      // A returning user whose profile is less than a day old: one statement, no userinfo call.
      returning: mayReadProfile ? new Date(Date.now() - PROFILE_TTL_MS) : null,
      enrich: () => this.withProfile(identity, mayReadProfile),
    };
  }

  private async withProfile(identity: WeChatIdentity, mayReadProfile: boolean): Promise<WeChatIdentity> {
    const profile = mayReadProfile
      ? await this.profileOf(identity.kind, identity.accessCode!, identity.openId)
      : undefined;
    return {
      ...identity,
      unionId: identity.unionId ?? profile?.unionId,
      profile: profile && { nickname: profile.nickname, avatarUrl: profile.avatarUrl },
    };
  }

  /**
   * userinfo's answer, or undefined when WeChat fails it (logged; the login goes on without it).
   * An official account's snsapi_userinfo token that userinfo refuses (48001) is a snapshot-mode
   * virtual account whose exchange did not say so (WeChat does not always send is_snapshotuser):
   * refused like one, before its virtual unionId can name anybody.
   */
  private async profileOf(
    kind: LoginMethodKind,
    accessToken: string,
    openId: string,
  ): Promise<WeChatProfile | undefined> {
    try {
      return await this.oauth.userInfo(accessToken, openId);
    } catch (error) {
      if (!(error instanceof WeChatError)) throw error;
      if (kind === LoginMethodKind.WECHAT_OFFICIAL_ACCOUNT && error.errcode === SCOPE_REFUSED) {
        this.logger.warn('userinfo refused an official account token (48001): taken as a snapshot-mode user');
        throw snapshotUser();
      }
      this.logger.warn(
        { code: error.code },
        'userinfo failed after the code exchange: signing in without a profile',
      );
      return undefined;
    }
  }
}
