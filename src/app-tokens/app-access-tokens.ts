import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import type { PlatformCredentials } from '../config.js';
import type { SecretBox } from '../crypto/secret-box.js';
import type { AppTokenClient } from '../wechat/app-token.client.js';
import { APP_TOKEN_ERRCODES, WeChatError } from '../wechat/errcodes.js';
import { AppAccessTokenRepository, type AppAccessTokenRow } from './app-access-token.repository.js';
import { HeldPerApp, openSealed, REFRESH_AHEAD_SECONDS } from './held-per-app.js';

/** A token fetched this recently is not fetched again for being due: an odd expires_in cannot loop. */
const MIN_FETCH_INTERVAL_SECONDS = 30;
/** WeChat ignores a force_refresh that comes sooner than this after the app's last one. */
const FORCE_REFRESH_SPACING_SECONDS = 30;
/** WeChat's allowance of force refreshes per app and day. */
const FORCE_REFRESHES_PER_DAY = 20;

export interface AppAccessTokensDeps {
  box: SecretBox;
  client: AppTokenClient;
  logger: Logger;
  /** Told of every token fetched from WeChat (the metrics); `forced`: a force_refresh. */
  onFetched?: (forced: boolean) => void;
}

/** WeChat refused the app access token we sent (invalid, replaced or expired). */
function isRefusedToken(error: unknown): boolean {
  return error instanceof WeChatError && error.errcode !== undefined && APP_TOKEN_ERRCODES.has(error.errcode);
}

/**
 * Less than REFRESH_AHEAD_SECONDS left (WeChat's stable_token makes the next token 5 minutes before
 * the current one expires, so by then a normal fetch gets the new one), unless it was fetched a moment ago and is still valid. */
function isDue(row: AppAccessTokenRow): boolean {
  return (
    row.expiresIn < REFRESH_AHEAD_SECONDS && (row.age >= MIN_FETCH_INTERVAL_SECONDS || row.expiresIn <= 0)
  );
}

/**
 * WeChat's app access tokens (`stable_token`), one current token per appid for every instance
 * (docs/architecture.md, "App access tokens"; docs/wechat.md, "The app access token"):
 * - kept in the app_access_token table, sealed with AUTH_SECRET, and in memory per process, which
 *   re-reads the row every minute and when the token is due (HeldPerApp);
 * - fetched by one instance at a time: under a transaction-scoped advisory lock per appid, the row
 *   is read again and fetched only if it still needs to be, so waiters take the fresh token;
 * - a call WeChat answers with 40001, 40014 or 42001 is retried once with a new token: the one in
 *   the row if another instance already replaced the refused one, else a `force_refresh` (spaced
 *   30 s apart and at most 20 a day per app, counted in the row; beyond that a normal fetch).
 * The token never appears in a log line or an error.
 */
export class AppAccessTokens {
  private readonly held = new HeldPerApp();

  constructor(private readonly deps: AppAccessTokensDeps) {}

  /**
   * Runs `call` with the app's current token. If WeChat refuses the token, runs it once more with
   * a new one; a second refusal is the caller's error (a typed WeChatError).
   */
  async withToken<T>(
    em: EntityManager,
    app: PlatformCredentials,
    call: (accessToken: string) => Promise<T>,
  ): Promise<T> {
    const token = await this.current(em, app);
    try {
      return await call(token);
    } catch (error) {
      if (!isRefusedToken(error)) throw error;
      return call(await this.replace(em, app, token));
    }
  }

  /** The app's token: from memory while it is fresh and recently checked, else from the row or WeChat. */
  current(em: EntityManager, app: PlatformCredentials): Promise<string> {
    const held = this.held.fresh(app.appId);
    if (held !== undefined) return Promise.resolve(held);
    return this.held.once(`current\n${app.appId}`, () => this.load(em, app));
  }

  /** A new token in place of one WeChat refused; one flight per refused token in this process. */
  private replace(em: EntityManager, app: PlatformCredentials, refused: string): Promise<string> {
    return this.held.once(`replace\n${app.appId}\n${refused}`, () => this.fetch(em, app, refused));
  }

  private async load(em: EntityManager, app: PlatformCredentials): Promise<string> {
    const row = await AppAccessTokenRepository.read(em, app.appId);
    const stored = row && !isDue(row) ? this.open(app.appId, row) : undefined;
    if (row && stored !== undefined) return this.hold(app.appId, row, stored);
    return this.fetch(em, app, undefined);
  }

  /**
   * Under the app's lock, reads the row again and fetches from WeChat only when it still has to:
   * no usable token, one due for refresh, or (`refused`) still the token WeChat just refused.
   */
  private fetch(em: EntityManager, app: PlatformCredentials, refused: string | undefined): Promise<string> {
    return em.fork().transactional(async (tx) => {
      await AppAccessTokenRepository.lock(tx, app.appId);
      const row = await AppAccessTokenRepository.read(tx, app.appId);
      const stored = row ? this.open(app.appId, row) : undefined;
      if (row && stored !== undefined) {
        // Another instance (or an earlier flight here) got a token meanwhile: take it.
        if (refused === undefined && !isDue(row)) return this.hold(app.appId, row, stored);
        if (refused !== undefined && stored !== refused && row.expiresIn > 0) {
          return this.hold(app.appId, row, stored);
        }
      }
      const force = refused !== undefined && stored === refused && this.mayForceRefresh(app.appId, row!);
      const fetched = await this.deps.client.stableToken(app, force);
      const saved = await AppAccessTokenRepository.save(tx, {
        appId: app.appId,
        sealedAccessToken: this.deps.box.seal(fetched.accessToken),
        expiresInSeconds: fetched.expiresInSeconds,
        forced: force,
      });
      this.deps.onFetched?.(force);
      this.deps.logger.info(
        { appId: app.appId, forceRefresh: force, expiresInSeconds: fetched.expiresInSeconds },
        'WeChat app access token fetched',
      );
      return this.hold(app.appId, saved, fetched.accessToken);
    });
  }

  /** Whether WeChat's limits leave a force refresh now; if not, says so (a normal fetch follows). */
  private mayForceRefresh(appId: string, row: AppAccessTokenRow): boolean {
    const since = row.sinceForceRefresh;
    if (since !== null && since < FORCE_REFRESH_SPACING_SECONDS) {
      this.deps.logger.warn(
        { appId, secondsSinceLastForceRefresh: Math.floor(since) },
        'WeChat refused the app access token again within 30 s of a force refresh: fetching it normally',
      );
      return false;
    }
    if (row.forceRefreshesToday >= FORCE_REFRESHES_PER_DAY) {
      this.deps.logger.warn(
        { appId, forceRefreshesToday: row.forceRefreshesToday },
        `WeChat refused the app access token, and today's ${FORCE_REFRESHES_PER_DAY} force refreshes are spent: fetching it normally`,
      );
      return false;
    }
    return true;
  }

  /** The token of a row; undefined (and a warning) when this AUTH_SECRET cannot open it. */
  private open(appId: string, row: AppAccessTokenRow): string | undefined {
    return openSealed(this.deps.box, this.deps.logger, appId, row.accessToken, 'app access token');
  }

  private hold(appId: string, row: AppAccessTokenRow, token: string): string {
    return this.held.hold(appId, token, row.expiresIn);
  }
}
