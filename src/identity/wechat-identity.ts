import type { LoginMethodKind } from './user-login-method.entity.js';

/** Who WeChat says logged in, and what it told us about them. */
export interface WeChatIdentity {
  kind: LoginMethodKind;
  appId: string;
  openId: string;
  /** Only from WeChat's server answers (code exchange, userinfo), never from client-sent data. */
  unionId: string | undefined;
  /** Real nickname/avatar from WeChat, when it gave them (not the anonymised default). */
  profile: { nickname?: string; avatarUrl?: string } | undefined;
  /** The WeChat credential to keep (session_key, OAuth access token); stored sealed. */
  accessCode: string | undefined;
  /** The person's number (E.164) from a phone-number code sent with the login; never logged. */
  phoneNumber?: string;
}
