import type { Config } from '../config.js';
import { DEMO_APPS, DEMO_USERS, type EmulatorApp } from './apps.js';
import { createEmulator, type Emulator } from './emulator.js';
import type { Logger } from 'pino';

export interface AttachedEmulator {
  /** The emulator this process started; undefined when it uses one already running (WECHAT_EMULATOR_URL). */
  readonly emulator: Emulator | undefined;
  /** Where the emulator answers. */
  readonly url: string;
  /** The config pointed at it. */
  readonly config: Config;
}

/**
 * The emulator of `npm start` (WECHAT_EMULATOR on): starts one in-process, or uses the one already
 * running at WECHAT_EMULATOR_URL (`npm run emulator` in another terminal), and returns the config
 * that points the WeChat client and the authorize URLs at it. Configured platforms keep their appid
 * and secret (an emulator we start learns them), the others get the demo apps.
 */
export async function startAttachedEmulator(config: Config, logger: Logger): Promise<AttachedEmulator> {
  const configured: EmulatorApp[] = config.wechat.apps.map((app) => ({
    appid: app.appId,
    secret: app.secret,
    kind: app.kind,
    bound: true,
    // An official account's server configuration: the emulator signs (and encrypts) its pushes with it.
    ...(app.token === undefined ? {} : { token: app.token }),
    ...(app.aesKey === undefined ? {} : { aesKey: app.aesKey }),
  }));
  const demos = DEMO_APPS.filter((demo) => !configured.some((c) => c.kind === demo.kind));
  const apps = [...configured, ...demos];

  let emulator: Emulator | undefined;
  let url = config.emulator.url;
  if (url === undefined) {
    emulator = await createEmulator({
      apps,
      port: config.emulator.port,
      host: config.emulator.host,
      // The phone page (/__emulator/phone) confirms login tickets on this server; official
      // accounts' events are pushed to its /wechat/events/<appid>.
      loginServerUrl: `${config.publicUrl}/graphql`,
      logger,
    });
    for (const { key, ...profile } of DEMO_USERS) emulator.people.upsert(key, profile);
    url = emulator.url;
  } else {
    await checkRunningEmulator(url, apps, logger);
  }

  // Kinds without an app of their own log in with the demo app of that kind (any redirect URI:
  // the emulator runs in development only).
  // The demo official account carries its Token, so the server checks the emulator's pushes.
  const demoApps = demos.map((demo) =>
    Object.freeze({
      kind: demo.kind,
      appId: demo.appid,
      secret: demo.secret,
      redirectUris: null,
      ...(demo.token === undefined ? {} : { token: demo.token }),
    }),
  );
  const wechat = Object.freeze({
    ...config.wechat,
    apiBaseUrl: url,
    openBaseUrl: url,
    apps: Object.freeze([...config.wechat.apps, ...demoApps]),
  });
  return { emulator, url, config: Object.freeze({ ...config, wechat }) };
}

/**
 * A running emulator that does not answer, or lacks one of our apps, is said at start rather than
 * at the first login (WeChat's 40013 "invalid appid" then). Not fatal: it may be starting too.
 */
async function checkRunningEmulator(
  url: string,
  apps: readonly EmulatorApp[],
  logger: Logger,
): Promise<void> {
  let known: { appid: string }[];
  try {
    const response = await fetch(`${url}/__emulator/apps`, { signal: AbortSignal.timeout(2000) });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    known = ((await response.json()) as { apps: { appid: string }[] }).apps;
  } catch (error) {
    logger.warn(
      { emulator: url, reason: (error as Error).message },
      `no WeChat emulator answers at ${url} (WECHAT_EMULATOR_URL): start one with npm run emulator`,
    );
    return;
  }
  const missing = apps.filter((app) => !known.some((k) => k.appid === app.appid)).map((app) => app.appid);
  if (missing.length > 0) {
    logger.warn(
      { emulator: url, missing },
      `the WeChat emulator at ${url} does not know ${missing.join(', ')}: logins there get errcode 40013 ` +
        '(give it those apps with EMULATOR_APPS, or set WECHAT_*_APPID/SECRET to apps it has)',
    );
  }
}
