import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import type { Config, PlatformCredentials } from '../config.js';
import { AppError, BadUserInputError } from '../errors.js';
import { LoginMethodKind } from '../identity/user-login-method.entity.js';
import type { WeChatIdentity } from '../identity/wechat-identity.js';
import { ANONYMOUS_NICKNAME } from '../wechat/endpoints.js';
import type { MiniProgramClient } from '../wechat/mini-program.client.js';
import type { PhoneNumberClient } from '../wechat/phone-number.client.js';
import {
  DecryptError,
  decryptUserData,
  isBase64,
  verifyRawDataSignature,
} from '../wechat/open-data.crypto.js';
import { checkCode, INPUT_LIMITS } from './login-input.js';
import { credentialsFor } from './platform.js';
import type { LoginResult, SignIn } from './sign-in.js';

export interface MiniLoginInput {
  code: string;
  encryptedData?: string | null;
  iv?: string | null;
  rawData?: string | null;
  signature?: string | null;
  /** Which mini program, when this server has several. */
  appId?: string | null;
  /** The getPhoneNumber button's code: the number is stored with this login. */
  phoneCode?: string | null;
}

export interface MiniProgramLoginDeps {
  config: Config;
  mini: MiniProgramClient;
  phoneNumbers: PhoneNumberClient;
  signIn: SignIn;
  logger: Logger;
}

/**
 * Mini program login: `wx.login`'s code → jscode2session (openid, unionid, session key); the
 * optional wx.getUserProfile data is checked with the session key (docs/wechat.md, "Open data");
 * an optional phone-number code gives the number stored with the login (docs/api.md, "Phone numbers").
 */
export class MiniProgramLogin {
  constructor(private readonly deps: MiniProgramLoginDeps) {}

  async login(em: EntityManager, input: MiniLoginInput, clientIp: string): Promise<LoginResult> {
    const app = credentialsFor(this.deps.config, 'mini', input.appId);
    checkInput(input);
    return this.deps.signIn.admit(em, LoginMethodKind.WECHAT_MINI, input, clientIp, () =>
      this.exchange(em, app, input),
    );
  }

  private async exchange(
    em: EntityManager,
    app: PlatformCredentials,
    input: MiniLoginInput,
  ): Promise<LoginResult> {
    const identity = await this.identityOf(em, app, input);
    // The one-statement returning login writes neither a profile nor a number: those take the full path.
    if (!identity.profile && !identity.phoneNumber) {
      const returning = await this.deps.signIn.returning(em, identity, null);
      if (returning) return returning;
    }
    return this.deps.signIn.register(em, identity);
  }

  /** Who the wx.login code names, for linking to a signed-in user. */
  identify(em: EntityManager, input: { code: string; appId?: string | null }): Promise<WeChatIdentity> {
    const app = credentialsFor(this.deps.config, 'mini', input.appId);
    checkCode(input.code);
    return this.identityOf(em, app, { code: input.code });
  }

  /** The code exchange, the open data checked with its session key, and the phone code last. */
  private async identityOf(
    em: EntityManager,
    app: PlatformCredentials,
    input: MiniLoginInput,
  ): Promise<WeChatIdentity> {
    const { encryptedData, iv, rawData, signature, phoneCode } = input;
    const session = await this.deps.mini.codeToSession(app, input.code);
    await this.deps.signIn.limitIdentity(em, app.appId, session.openId);
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
      const dataUnionId = typeof data.unionId === 'string' && data.unionId ? data.unionId : undefined;
      if (
        (data.openId !== undefined && data.openId !== session.openId) ||
        (dataUnionId && session.unionId && dataUnionId !== session.unionId)
      ) {
        this.deps.logger.warn('mini program encryptedData belongs to another user than the code');
        throw new AppError('WECHAT_DECRYPT_FAILED', 'encryptedData does not belong to the user of this code');
      }
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
    // The phone code last, once everything else of this login has passed (WeChat bills each
    // number it gives), with the person's openid: WeChat refuses a code that is not theirs.
    const phoneNumber =
      phoneCode != null
        ? await this.deps.phoneNumbers.phoneNumber(em, app, phoneCode, 'phoneCode', session.openId)
        : undefined;
    return {
      kind: LoginMethodKind.WECHAT_MINI,
      appId: app.appId,
      openId: session.openId,
      // Only WeChat's server answer names the unionId; encryptedData is never trusted for it.
      unionId: session.unionId,
      profile,
      accessCode: session.sessionKey,
      phoneNumber,
    };
  }
}

function checkInput(input: MiniLoginInput): void {
  checkCode(input.code);
  if (input.phoneCode != null) checkCode(input.phoneCode, 'phoneCode');
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
    if (encryptedData.length > INPUT_LIMITS.encryptedData)
      throw new BadUserInputError('encryptedData is too long', 'encryptedData');
    if (!isBase64(encryptedData))
      throw new BadUserInputError('encryptedData is not valid base64', 'encryptedData');
    if (!isBase64(iv!, 16)) throw new BadUserInputError('iv must be 16 bytes of base64', 'iv');
  }
  if (rawData != null) {
    if (rawData.length > INPUT_LIMITS.rawData) throw new BadUserInputError('rawData is too long', 'rawData');
    if (!/^[0-9a-fA-F]{40}$/.test(signature!))
      throw new BadUserInputError('signature must be 40 hex digits', 'signature');
  }
}

/** A nickname and avatar worth keeping: not WeChat's anonymised "微信用户". */
function realProfile(nickname: unknown, avatarUrl: unknown): WeChatIdentity['profile'] {
  if (typeof nickname !== 'string' || !nickname || nickname === ANONYMOUS_NICKNAME) return undefined;
  return { nickname, avatarUrl: typeof avatarUrl === 'string' && avatarUrl ? avatarUrl : undefined };
}
