import type { EntityManager } from '@mikro-orm/postgresql';
import type { AppKind, Config, ConfiguredApp } from '../config.js';
import { AppError, BadUserInputError } from '../errors.js';
import type { LoginMethodKind } from '../identity/user-login-method.entity.js';
import type { WeChatIdentity } from '../identity/wechat-identity.js';

/**
 * What a WeChat code exchange told us, and what the rest of the login may still ask of the
 * platform. SignIn decides what runs next; the platform only answers.
 */
export interface Exchange {
  /** Who the code names: as the exchange says, before any profile or phone number is fetched. */
  identity: WeChatIdentity;
  /**
   * Whether the one-statement returning login is tried: with a profile fetched after this date
   * (null: of any age), or not at all (false: this login brings data to store, the full path).
   */
  returning: Date | null | false;
  /** The identity with what the full path stores beyond the exchange (profile, phone number). */
  enrich(): Promise<WeChatIdentity>;
}

/** linkWechatIdentity's fields, which a platform turns into its own login input. */
export interface LinkFields {
  code: string;
  state?: string | null;
  redirectUri?: string | null;
  codeVerifier?: string | null;
  appId?: string | null;
}

/**
 * One way into an account (docs/architecture.md, "Adding a platform"): what differs between a
 * mini program, a website, a native app and an official account page. The sequence around it
 * (duplicates, limits, returning or register, the session) is SignIn's, the same for all.
 */
export interface Platform<Input extends object> {
  readonly kind: LoginMethodKind;
  /** The app the input names, once every field has passed its checks: nothing counted or called yet. */
  check(input: Input): ConfiguredApp;
  /** Spends what is single-use (a website's state), then exchanges the code with WeChat. */
  exchange(em: EntityManager, app: ConfiguredApp, input: Input): Promise<Exchange>;
  /** This platform's input from a link's fields; BAD_USER_INPUT for a field it has no use for. */
  linkInput(fields: LinkFields): Input;
}

const NAMES: Record<AppKind, string> = {
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
export function credentialsFor(config: Config, kind: AppKind, appId?: string | null): ConfiguredApp {
  const apps = config.wechat.apps.filter((app) => app.kind === kind);
  if (apps.length === 0) {
    throw new AppError(
      'PLATFORM_NOT_CONFIGURED',
      `WeChat ${NAMES[kind]} login is not configured on this server`,
    );
  }
  if (appId == null) {
    if (apps.length === 1) return apps[0]!;
    throw new BadUserInputError(
      `this server has ${apps.length} ${NAMES[kind]} apps: name the one with appId`,
      'appId',
    );
  }
  const app = apps.find((a) => a.appId === appId);
  if (!app) {
    throw new BadUserInputError(
      `appId "${appId.slice(0, 64)}" is not a ${NAMES[kind]} app of this server`,
      'appId',
    );
  }
  return app;
}
