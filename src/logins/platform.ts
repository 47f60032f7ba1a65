import type { Config, PlatformCredentials } from '../config.js';
import { AppError, BadUserInputError } from '../errors.js';

export type Platform = 'web' | 'app' | 'mini';

const NAMES: Record<Platform, string> = { web: 'website (QR)', app: 'mobile app', mini: 'mini program' };

/**
 * The appid and secret of a platform; PLATFORM_NOT_CONFIGURED when this server has none.
 * `appId`, when a client names the app, must be the configured one (BAD_USER_INPUT otherwise).
 */
export function credentialsFor(
  config: Config,
  platform: Platform,
  appId?: string | null,
): PlatformCredentials {
  const credentials = config.wechat[platform];
  if (!credentials) {
    throw new AppError(
      'PLATFORM_NOT_CONFIGURED',
      `WeChat ${NAMES[platform]} login is not configured on this server`,
    );
  }
  if (appId != null && appId !== credentials.appId) {
    throw new BadUserInputError(`appId is not a ${NAMES[platform]} of this server`, 'appId');
  }
  return credentials;
}
