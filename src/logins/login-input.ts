import { BadUserInputError } from '../errors.js';

/** The longest input each field of a login may have: WeChat's values are far shorter. */
export const INPUT_LIMITS = {
  code: 256,
  state: 512,
  redirectUri: 2048,
  encryptedData: 32 * 1024,
  rawData: 8 * 1024,
} as const;

/** A WeChat login code: 1-256 printable ASCII characters; BAD_USER_INPUT otherwise. */
export function checkCode(code: string): void {
  if (code.length === 0) throw new BadUserInputError('code must not be empty', 'code');
  if (code.length > INPUT_LIMITS.code)
    throw new BadUserInputError(`code is longer than ${INPUT_LIMITS.code} characters`, 'code');
  if (!/^[\x21-\x7e]+$/.test(code))
    throw new BadUserInputError('code has characters a WeChat code never has', 'code');
}
