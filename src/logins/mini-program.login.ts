import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import type { Config, ConfiguredApp } from '../config.js';
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
import { checkCode, codeOnly, INPUT_LIMITS } from './login-input.js';
import { credentialsFor, type Exchange, type LinkFields, type Platform } from './platform.js';

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
  logger: Logger;
}

/**
 * Mini program login: `wx.login`'s code → jscode2session (openid, unionid, session key); the
 * optional wx.getUserProfile data is checked with the session key (docs/wechat.md, "Open data");
 * an optional phone-number code gives the number stored with the login (docs/api.md, "Phone numbers").
 * A login that brings a profile or a phone code takes the full path: the returning statement
 * writes neither.
 */
export class MiniProgramLogin implements Platform<MiniLoginInput> {
  readonly kind = LoginMethodKind.WECHAT_MINI;

  constructor(private readonly deps: MiniProgramLoginDeps) {}

  check(input: MiniLoginInput): ConfiguredApp {
    const app = credentialsFor(this.deps.config, 'mini', input.appId);
    checkInput(input);
    return app;
  }

  async exchange(em: EntityManager, app: ConfiguredApp, input: MiniLoginInput): Promise<Exchange> {
    const session = await this.deps.mini.codeToSession(app, input.code);
    const identity: WeChatIdentity = {
      kind: LoginMethodKind.WECHAT_MINI,
      appId: app.appId,
      openId: session.openId,
      // Only WeChat's server answer names the unionId; encryptedData is never trusted for it.
      unionId: session.unionId,
      profile: undefined,
      accessCode: session.sessionKey,
    };
    const bringsData = input.encryptedData != null || input.rawData != null || input.phoneCode != null;
    return {
      identity,
      returning: bringsData ? false : null,
      enrich: () => this.enrich(em, app, input, identity, session.sessionKey),
    };
  }

  linkInput(fields: LinkFields): MiniLoginInput {
    return codeOnly(fields);
  }

  /** The open data checked with the session key, and the phone code last. */
  private async enrich(
    em: EntityManager,
    app: ConfiguredApp,
    input: MiniLoginInput,
    identity: WeChatIdentity,
    sessionKey: string,
  ): Promise<WeChatIdentity> {
    const { encryptedData, iv, rawData, signature, phoneCode } = input;
    let profile: WeChatIdentity['profile'];
    if (rawData != null && !verifyRawDataSignature(rawData, signature!, sessionKey)) {
      throw new AppError('WECHAT_SIGNATURE_MISMATCH', 'rawData does not match its signature');
    }
    if (encryptedData != null) {
      let data: Record<string, unknown>;
      try {
        data = decryptUserData(sessionKey, encryptedData, iv!, app.appId);
      } catch (error) {
        if (!(error instanceof DecryptError)) throw error;
        this.deps.logger.warn({ reason: error.message }, 'mini program encryptedData rejected');
        throw new AppError('WECHAT_DECRYPT_FAILED', 'encryptedData could not be decrypted for this login');
      }
      const dataUnionId = typeof data.unionId === 'string' && data.unionId ? data.unionId : undefined;
      if (
        (data.openId !== undefined && data.openId !== identity.openId) ||
        (dataUnionId && identity.unionId && dataUnionId !== identity.unionId)
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
        ? await this.deps.phoneNumbers.phoneNumber(em, app, phoneCode, 'phoneCode', identity.openId)
        : undefined;
    return { ...identity, profile, phoneNumber };
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
