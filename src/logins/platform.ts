import type { AppKind, Config, ConfiguredApp } from '../config.js';
import { AppError, BadUserInputError } from '../errors.js';

export type Platform = AppKind;

const NAMES: Record<Platform, string> = {
  web: 'website (QR)',
  app: 'mobile app',
  mini: 'mini program',
  official: 'official account',
};

/**
 * The app a login, authorize or phone call is for: the one app of that kind, or the one `appId`
 * names. PLATFORM_NOT_CONFIGURED when the server has none of that kind; BAD_USER_INPUT (field
 * appId) when several are configured and appId is missing, or appId is not one of them.
 */
export function credentialsFor(config: Config, platform: Platform, appId?: string | null): ConfiguredApp {
  const apps = config.wechat.apps.filter((app) => app.kind === platform);
  if (apps.length === 0) {
    throw new AppError(
      'PLATFORM_NOT_CONFIGURED',
      `WeChat ${NAMES[platform]} login is not configured on this server`,
    );
  }
  if (appId == null) {
    if (apps.length === 1) return apps[0]!;
    throw new BadUserInputError(
      `this server has ${apps.length} ${NAMES[platform]} apps: name the one with appId`,
      'appId',
    );
  }
  const app = apps.find((a) => a.appId === appId);
  if (!app) {
    throw new BadUserInputError(
      `appId "${appId.slice(0, 64)}" is not a ${NAMES[platform]} app of this server`,
      'appId',
    );
  }
  return app;
}
