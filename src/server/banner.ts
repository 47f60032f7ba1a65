import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { LOCAL_EXPLORER_PATH } from './explorers.js';

export interface ReadyServer {
  /** Base URL, e.g. http://localhost:4000 */
  url: string;
  /** Where the data lives (Database.description). */
  database: string;
  /** The config in force (with the emulator on: its demo apps). */
  config: Config;
  /** Where the WeChat emulator in use answers; undefined: real WeChat. */
  emulatorUrl: string | undefined;
  /** True when this process started that emulator (not WECHAT_EMULATOR_URL's). */
  ownEmulator: boolean;
  /** WEB_CONCURRENCY above 1: the worker processes serving PORT. */
  workers?: number;
}

/** The start's last lines: where the server answers and, with an emulator, that logins are simulated. */
export function logReady(logger: Logger, server: ReadyServer): void {
  const { url, config } = server;
  const workers =
    server.workers === undefined ? '' : ` (${server.workers} worker processes, WEB_CONCURRENCY)`;
  logger.info(
    {
      database: server.database,
      graphql: `${url}/graphql`,
      ...(server.workers === undefined ? {} : { workers: server.workers }),
      ...(config.isProduction ? {} : { explorer: `${url}${LOCAL_EXPLORER_PATH}` }),
    },
    `WeChat login server ready at ${url}/graphql${workers}` +
      (config.isProduction
        ? ''
        : ` (in a browser: Apollo Sandbox, from Apollo's CDN; offline, GraphiQL at ${url}${LOCAL_EXPLORER_PATH})`),
  );
  if (server.emulatorUrl) {
    const apps = Object.fromEntries(config.wechat.apps.map((a) => [a.kind, a.appId]));
    const where = server.ownEmulator ? 'the built-in WeChat emulator' : 'the WeChat emulator already running';
    logger.warn(
      { emulator: server.emulatorUrl, apps },
      `WeChat logins are SIMULATED by ${where} at ${server.emulatorUrl} ` +
        (server.ownEmulator
          ? '(no WeChat credentials set). Set WECHAT_*_APPID/SECRET for real WeChat.'
          : '(WECHAT_EMULATOR_URL). Unset it for real WeChat.'),
    );
  }
}
