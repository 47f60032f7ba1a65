import type { Config, PlatformCredentials } from '../config.js';
import { AppError } from '../errors.js';

export type Platform = 'web' | 'app' | 'mini';

const NAMES: Record<Platform, string> = { web: 'website (QR)', app: 'mobile app', mini: 'mini program' };

/** The appid and secret of a platform; PLATFORM_NOT_CONFIGURED when this server has none. */
export function credentialsFor(config: Config, platform: Platform): PlatformCredentials {
  const credentials = config.wechat[platform];
  if (!credentials) {
    throw new AppError(
      'PLATFORM_NOT_CONFIGURED',
      `WeChat ${NAMES[platform]} login is not configured on this server`,
    );
  }
  return credentials;
}
