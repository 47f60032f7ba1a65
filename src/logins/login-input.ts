import { BadUserInputError } from '../errors.js';
import type { LoginMethodKind } from '../identity/user-login-method.entity.js';
import type { LinkFields } from './platform.js';

/** The longest input each field of a login may have: WeChat's values are far shorter. */
export const INPUT_LIMITS = {
  code: 256,
  state: 512,
  redirectUri: 2048,
  encryptedData: 32 * 1024,
  rawData: 8 * 1024,
} as const;

/**
 * A WeChat code (login or phone number) in the input field `field`: 1-256 printable ASCII
 * characters; BAD_USER_INPUT otherwise.
 */
export function checkCode(code: string, field = 'code'): void {
  if (code.length === 0) throw new BadUserInputError(`${field} must not be empty`, field);
  if (code.length > INPUT_LIMITS.code)
    throw new BadUserInputError(`${field} is longer than ${INPUT_LIMITS.code} characters`, field);
  if (!/^[\x21-\x7e]+$/.test(code))
    throw new BadUserInputError(`${field} has characters a WeChat code never has`, field);
}

/** PKCE (RFC 7636): S256 challenges are 43 base64url characters; verifiers 43-128 unreserved ones. */
export function checkCodeChallenge(codeChallenge: string | null | undefined): void {
  if (codeChallenge != null && !/^[A-Za-z0-9_-]{43}$/.test(codeChallenge)) {
    throw new BadUserInputError(
      'codeChallenge must be base64url(SHA-256(codeVerifier)) without padding: 43 characters',
      'codeChallenge',
    );
  }
}

export function checkCodeVerifier(codeVerifier: string | null | undefined): void {
  if (codeVerifier != null && !/^[A-Za-z0-9._~-]{43,128}$/.test(codeVerifier)) {
    throw new BadUserInputError(
      'codeVerifier must be 43-128 characters of A-Z a-z 0-9 - . _ ~',
      'codeVerifier',
    );
  }
}

/** A link of a kind that has no authorize URL: the fields only redirect logins carry are refused. */
export function codeOnly(fields: LinkFields): { code: string; appId?: string | null } {
  for (const field of ['state', 'redirectUri', 'codeVerifier'] as const) {
    if (fields[field] != null) {
      throw new BadUserInputError(`${field} is only for WECHAT_WEB and WECHAT_OFFICIAL_ACCOUNT links`, field);
    }
  }
  return { code: fields.code, appId: fields.appId };
}

/** A link of a redirect kind: the state of its authorize URL is required, as for its login. */
export function withState(kind: LoginMethodKind, fields: LinkFields): LinkFields & { state: string } {
  if (fields.state == null) {
    throw new BadUserInputError(`A ${kind} link needs the state of its authorize URL`, 'state');
  }
  const { code, state, redirectUri, codeVerifier, appId } = fields;
  return { code, state, redirectUri, codeVerifier, appId };
}
