import { UniqueConstraintViolationException } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import type { Config, PlatformCredentials } from '../config.js';
import { AppError, BadUserInputError } from '../errors.js';
import { ANONYMOUS_NICKNAME, QRCONNECT_PATH } from '../wechat/constants.js';
import { DecryptError, decryptUserData, isBase64, verifyRawDataSignature } from '../wechat/crypto.js';
import type { MiniProgramClient } from '../wechat/mini-program.client.js';
import type { OAuthClient, OAuthToken, WeChatProfile } from '../wechat/oauth.client.js';
import type { AccountService, UserSummary, WeChatIdentity } from './account.service.js';
import type { RateLimiter } from './rate-limiter.js';
import { sha256 } from './secrets.js';
import type { IssuedTokens, SessionService } from './session.service.js';
import { LoginMethodKind } from './user-login-method.entity.js';
import type { WebStateService } from './web-state.service.js';

export interface LoginResult extends IssuedTokens {
  user: UserSummary;
  isNewUser: boolean;
}

export interface MiniLoginInput {
  code: string;
  encryptedData?: string | null;
  iv?: string | null;
  rawData?: string | null;
  signature?: string | null;
}

/** How long a web/app profile (nickname, avatar) is trusted before userinfo is asked again. */
const PROFILE_TTL_MS = 24 * 3600 * 1000;
/** Attempts of a login transaction that lost a race on a unique constraint. */
const RACE_ATTEMPTS = 3;

const LIMITS = { code: 256, state: 512, redirectUri: 2048, encryptedData: 32 * 1024, rawData: 8 * 1024 };

function checkCode(code: string): void {
  if (code.length === 0) throw new BadUserInputError('code must not be empty', 'code');
  if (code.length > LIMITS.code)
    throw new BadUserInputError(`code is longer than ${LIMITS.code} characters`, 'code');
  // WeChat codes are printable ASCII; anything else cannot be one.
  if (!/^[\x21-\x7e]+$/.test(code))
    throw new BadUserInputError('code has characters a WeChat code never has', 'code');
}

function notConfigured(platform: string): AppError {
  return new AppError('PLATFORM_NOT_CONFIGURED', `WeChat ${platform} login is not configured on this server`);
}

export interface LoginServiceDeps {
  config: Config;
  oauth: OAuthClient;
  mini: MiniProgramClient;
  accounts: AccountService;
  sessions: SessionService;
  webState: WebStateService;
  rateLimiter: RateLimiter;
  logger: Logger;
}

/** The three logins: check input, ask WeChat, then find-or-register and open a session in one transaction. */
export class LoginService {
  /**
   * Logins under way, by their exact input: a second identical submission (double click, WeChat
   * redirecting twice) joins the first instead of spending the single-use code again, so both get
   * the same answer from one exchange. Once settled, a resubmission asks WeChat (and hears 40163).
   */
  private readonly inFlight = new Map<string, Promise<LoginResult>>();

  constructor(private readonly deps: LoginServiceDeps) {}

  private once(kind: LoginMethodKind, input: object, run: () => Promise<LoginResult>): Promise<LoginResult> {
    const key = sha256(`${kind}\n${JSON.stringify(input)}`);
    const running = this.inFlight.get(key);
    if (running) return running;
    const promise = run().finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, promise);
    return promise;
  }

  /** The QR-connect URL for a website login and its state (WeChat's parameter order). */
  webAuthorizeUrl(redirectUri: string): { url: string; state: string } {
    const app = this.platform('web');
    if (redirectUri.length > LIMITS.redirectUri)
      throw new BadUserInputError('redirectUri is too long', 'redirectUri');
    const state = this.deps.webState.issue(redirectUri);
    const query = [
      ['appid', app.appId],
      ['redirect_uri', redirectUri],
      ['response_type', 'code'],
      ['scope', 'snsapi_login'],
      ['state', state],
    ]
      .map(([k, v]) => `${k}=${encodeURIComponent(v!)}`)
      .join('&');
    return { url: `${this.deps.config.wechat.openBaseUrl}${QRCONNECT_PATH}?${query}#wechat_redirect`, state };
  }

  async webLogin(
    em: EntityManager,
    input: { code: string; state: string; redirectUri?: string | null },
    clientIp: string,
  ): Promise<LoginResult> {
    const app = this.platform('web');
    checkCode(input.code);
    if (input.state.length > LIMITS.state) throw new BadUserInputError('state is too long', 'state');
    return this.once(LoginMethodKind.WECHAT_WEB, input, async () => {
      await this.deps.rateLimiter.ip(em, 'login', clientIp);
      await this.deps.webState.consume(em.fork(), input.state, input.redirectUri ?? undefined);
      const token = await this.deps.oauth.exchangeCode(app, input.code);
      return this.oauthLogin(em, LoginMethodKind.WECHAT_WEB, app, token);
    });
  }

  async appLogin(em: EntityManager, input: { code: string }, clientIp: string): Promise<LoginResult> {
    const app = this.platform('app');
    checkCode(input.code);
    return this.once(LoginMethodKind.WECHAT_APP, input, async () => {
      await this.deps.rateLimiter.ip(em, 'login', clientIp);
      const token = await this.deps.oauth.exchangeCode(app, input.code);
      return this.oauthLogin(em, LoginMethodKind.WECHAT_APP, app, token);
    });
  }

  async miniLogin(em: EntityManager, input: MiniLoginInput, clientIp: string): Promise<LoginResult> {
    this.platform('mini');
    this.checkMiniInput(input);
    return this.once(LoginMethodKind.WECHAT_MINI, input, async () => {
      await this.deps.rateLimiter.ip(em, 'login', clientIp);
      return this.exchangeMini(em, input);
    });
  }

  private checkMiniInput(input: MiniLoginInput): void {
    checkCode(input.code);
    const { encryptedData, iv, rawData, signature } = input;
    if ((encryptedData == null) !== (iv == null)) {
      throw new BadUserInputError(
        'encryptedData and iv come together or not at all',
        encryptedData == null ? 'encryptedData' : 'iv',
      );
    }
    if ((rawData == null) !== (signature == null)) {
      throw new BadUserInputError(
        'rawData and signature come together or not at all',
        rawData == null ? 'rawData' : 'signature',
      );
    }
    if (encryptedData != null) {
      if (encryptedData.length > LIMITS.encryptedData)
        throw new BadUserInputError('encryptedData is too long', 'encryptedData');
      if (!isBase64(encryptedData))
        throw new BadUserInputError('encryptedData is not valid base64', 'encryptedData');
      if (!isBase64(iv!, 16)) throw new BadUserInputError('iv must be 16 bytes of base64', 'iv');
    }
    if (rawData != null) {
      if (rawData.length > LIMITS.rawData) throw new BadUserInputError('rawData is too long', 'rawData');
      if (!/^[0-9a-fA-F]{40}$/.test(signature!))
        throw new BadUserInputError('signature must be 40 hex digits', 'signature');
    }
  }

  private async exchangeMini(em: EntityManager, input: MiniLoginInput): Promise<LoginResult> {
    const app = this.platform('mini');
    const { encryptedData, iv, rawData, signature } = input;
    const session = await this.deps.mini.codeToSession(app, input.code);
    await this.deps.rateLimiter.identity(em, app.appId, session.openId);
    let unionId = session.unionId;
    let profile: WeChatIdentity['profile'];
    if (rawData != null && !verifyRawDataSignature(rawData, signature!, session.sessionKey)) {
      throw new AppError('WECHAT_SIGNATURE_MISMATCH', 'rawData does not match its signature');
    }
    if (encryptedData != null) {
      let data: Record<string, unknown>;
      try {
        data = decryptUserData(session.sessionKey, encryptedData, iv!, app.appId);
      } catch (error) {
        if (!(error instanceof DecryptError)) throw error;
        this.deps.logger.warn({ reason: error.message }, 'mini program encryptedData rejected');
        throw new AppError('WECHAT_DECRYPT_FAILED', 'encryptedData could not be decrypted for this login');
      }
      const openId = data.openId;
      const dataUnionId = typeof data.unionId === 'string' && data.unionId ? data.unionId : undefined;
      if (
        (openId !== undefined && openId !== session.openId) ||
        (dataUnionId && unionId && dataUnionId !== unionId)
      ) {
        this.deps.logger.warn('mini program encryptedData belongs to another user than the code');
        throw new AppError('WECHAT_DECRYPT_FAILED', 'encryptedData does not belong to the user of this code');
      }
      unionId ??= dataUnionId;
      profile = realProfile(data.nickName, data.avatarUrl);
    } else if (rawData != null) {
      let raw: { nickName?: unknown; avatarUrl?: unknown } = {};
      try {
        raw = JSON.parse(rawData) as typeof raw;
      } catch {
        throw new BadUserInputError('rawData is not JSON', 'rawData');
      }
      profile = realProfile(raw?.nickName, raw?.avatarUrl);
    }
    const identity: WeChatIdentity = {
      kind: LoginMethodKind.WECHAT_MINI,
      appId: app.appId,
      openId: session.openId,
      unionId,
      profile,
      accessCode: session.sessionKey,
    };
    if (!profile) {
      const returning = await this.returning(em, identity, null);
      if (returning) return returning;
    }
    return this.register(em, identity);
  }

  private async oauthLogin(
    em: EntityManager,
    kind: LoginMethodKind,
    app: PlatformCredentials,
    token: OAuthToken,
  ) {
    await this.deps.rateLimiter.identity(em, app.appId, token.openId);
    const identity: WeChatIdentity = {
      kind,
      appId: app.appId,
      openId: token.openId,
      unionId: token.unionId,
      profile: undefined,
      accessCode: token.accessToken,
    };
    // A returning user whose profile is less than a day old: one statement, no userinfo call.
    const returning = await this.returning(em, identity, new Date(Date.now() - PROFILE_TTL_MS));
    if (returning) return returning;
    const profile: WeChatProfile = await this.deps.oauth.userInfo(token.accessToken, token.openId);
    return this.register(em, {
      ...identity,
      unionId: token.unionId ?? profile.unionId,
      profile: { nickname: profile.nickname, avatarUrl: profile.avatarUrl },
    });
  }

  /** The one-statement returning-user login, or null when the full path is needed. */
  private async returning(
    em: EntityManager,
    identity: WeChatIdentity,
    profileFreshAfter: Date | null,
  ): Promise<LoginResult | null> {
    const now = new Date();
    const session = this.deps.sessions.prepare(now);
    const user = await this.deps.accounts.loginReturning(em, identity, session, now, profileFreshAfter);
    if (!user) return null;
    return { ...(await this.deps.sessions.issue(user.id, session, now)), user, isNewUser: false };
  }

  /**
   * Find-or-register and a session in one transaction (new identities, profile updates, unionId
   * claims). A lost race on a unique constraint is retried and finds the winner.
   */
  private async register(em: EntityManager, identity: WeChatIdentity): Promise<LoginResult> {
    for (let attempt = 1; ; attempt++) {
      const fork = em.fork({ clear: true });
      try {
        return await fork.transactional(async (tx) => {
          const now = new Date();
          const { user, isNewUser } = await this.deps.accounts.findOrRegister(tx, identity, now);
          const tokens = await this.deps.sessions.create(tx, user, now);
          return { ...tokens, user, isNewUser };
        });
      } catch (error) {
        if (error instanceof UniqueConstraintViolationException && attempt < RACE_ATTEMPTS) continue;
        throw error;
      }
    }
  }

  private platform(platform: 'web' | 'app' | 'mini'): PlatformCredentials {
    const credentials = this.deps.config.wechat[platform];
    if (!credentials)
      throw notConfigured({ web: 'website (QR)', app: 'mobile app', mini: 'mini program' }[platform]);
    return credentials;
  }
}

function realProfile(nickname: unknown, avatarUrl: unknown): WeChatIdentity['profile'] {
  if (typeof nickname !== 'string' || !nickname || nickname === ANONYMOUS_NICKNAME) return undefined;
  return { nickname, avatarUrl: typeof avatarUrl === 'string' && avatarUrl ? avatarUrl : undefined };
}
