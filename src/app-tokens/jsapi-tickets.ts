import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import type { PlatformCredentials } from '../config.js';
import type { SecretBox } from '../crypto/secret-box.js';
import type { JsapiTicketClient } from '../wechat/jsapi-ticket.client.js';
import type { AppAccessTokens } from './app-access-tokens.js';
import { HeldPerApp, openSealed, REFRESH_AHEAD_SECONDS } from './held-per-app.js';
import { JsapiTicketRepository, type JsapiTicketRow } from './jsapi-ticket.repository.js';

export interface JsapiTicketsDeps {
  box: SecretBox;
  client: JsapiTicketClient;
  appTokens: AppAccessTokens;
  logger: Logger;
}

/**
 * Official accounts' JS-SDK tickets (`jsapi_ticket`), one per appid for every instance, as the app
 * access tokens are kept (AppAccessTokens): in the jsapi_ticket table, sealed, and in memory per
 * process; fetched ahead of expiry by one instance at a time, under a transaction-scoped advisory
 * lock per appid, after which the row is read again so waiters take the fresh ticket. The app
 * access token is taken before the lock (its own fetch needs a connection of its own), and a
 * token WeChat refuses is replaced and the fetch tried once more (AppAccessTokens.withToken).
 * The ticket never appears in a log line or an error.
 */
export class JsapiTickets {
  private readonly held = new HeldPerApp();

  constructor(private readonly deps: JsapiTicketsDeps) {}

  /** The app's ticket: from memory while fresh, else from the row or, when due, from WeChat. */
  ticket(em: EntityManager, app: PlatformCredentials): Promise<string> {
    const held = this.held.fresh(app.appId);
    if (held !== undefined) return Promise.resolve(held);
    return this.held.once(app.appId, () => this.load(em, app));
  }

  private async load(em: EntityManager, app: PlatformCredentials): Promise<string> {
    const row = await JsapiTicketRepository.read(em, app.appId);
    const stored = row && row.expiresIn > REFRESH_AHEAD_SECONDS ? this.open(app.appId, row) : undefined;
    if (row && stored !== undefined) return this.hold(app.appId, row, stored);
    return this.deps.appTokens.withToken(em, app, (accessToken) => this.fetch(em, app, accessToken));
  }

  /** Under the app's lock: the row again (another instance may have fetched), else WeChat. */
  private fetch(em: EntityManager, app: PlatformCredentials, accessToken: string): Promise<string> {
    return em.fork().transactional(async (tx) => {
      await JsapiTicketRepository.lock(tx, app.appId);
      const row = await JsapiTicketRepository.read(tx, app.appId);
      const stored = row && row.expiresIn > REFRESH_AHEAD_SECONDS ? this.open(app.appId, row) : undefined;
      if (row && stored !== undefined) return this.hold(app.appId, row, stored);
      const fetched = await this.deps.client.ticket(accessToken);
      const saved = await JsapiTicketRepository.save(
        tx,
        app.appId,
        this.deps.box.seal(fetched.ticket),
        fetched.expiresInSeconds,
      );
      this.deps.logger.info(
        { appId: app.appId, expiresInSeconds: fetched.expiresInSeconds },
        'WeChat JS-SDK ticket fetched',
      );
      return this.hold(app.appId, saved, fetched.ticket);
    });
  }

  /** The ticket of a row; undefined (and a warning) when this AUTH_SECRET cannot open it. */
  private open(appId: string, row: JsapiTicketRow): string | undefined {
    return openSealed(this.deps.box, this.deps.logger, appId, row.ticket, 'JS-SDK ticket');
  }

  private hold(appId: string, row: JsapiTicketRow, ticket: string): string {
    return this.held.hold(appId, ticket, row.expiresIn);
  }
}
