import type { Config, PlatformCredentials } from '../config.js';
import { DEMO_APPS, DEMO_USERS, type EmulatorApp } from './apps.js';
import { createEmulator, type Emulator } from './emulator.js';
import type { Logger } from 'pino';

const KIND = { web: 'web', app: 'app', mini: 'mini' } as const;

/**
 * Starts the in-process emulator of `npm start` (WECHAT_EMULATOR on) and returns the config that
 * points the WeChat client and the authorize URLs at it: configured platforms keep their appid and
 * secret (the emulator learns them), the others get the demo apps.
 */
export async function startAttachedEmulator(
  config: Config,
  logger: Logger,
): Promise<{ emulator: Emulator; config: Config }> {
  const configured: EmulatorApp[] = (['web', 'app', 'mini'] as const).flatMap((platform) => {
    const credentials = config.wechat[platform];
    return credentials
      ? [{ appid: credentials.appId, secret: credentials.secret, kind: KIND[platform], bound: true }]
      : [];
  });
  const apps = [...configured, ...DEMO_APPS.filter((demo) => !configured.some((c) => c.kind === demo.kind))];
  const emulator = await createEmulator({
    apps,
    port: config.emulator.port,
    host: config.emulator.host,
    logger,
  });
  for (const { key, ...profile } of DEMO_USERS) emulator.people.upsert(key, profile);

  const credentialsOf = (kind: 'web' | 'app' | 'mini'): PlatformCredentials => {
    const app = apps.find((a) => a.kind === kind)!;
    return Object.freeze({ appId: app.appid, secret: app.secret });
  };
  const wechat = Object.freeze({
    ...config.wechat,
    apiBaseUrl: emulator.url,
    openBaseUrl: emulator.url,
    web: credentialsOf('web'),
    app: credentialsOf('app'),
    mini: credentialsOf('mini'),
  });
  return { emulator, config: Object.freeze({ ...config, wechat }) };
}
