import type { EntityManager } from '@mikro-orm/postgresql';
import { execute, maybeOne, one, sql } from '../db/sql.js';

/** An app's token row as read, its times in seconds by the database's clock (shared by every instance). */
export interface AppAccessTokenRow {
  /** Sealed (`v1.…`). */
  accessToken: string;
  /** Seconds until it expires (negative once it has). */
  expiresIn: number;
  /** Seconds since it was fetched. */
  age: number;
  /** Seconds since the last force refresh; null when there was none. */
  sinceForceRefresh: number | null;
  /** Force refreshes today (China Standard Time: WeChat's daily limits are counted by its day). */
  forceRefreshesToday: number;
}

/** What a fetch writes: the new token, already sealed. */
export interface FetchedAppAccessToken {
  appId: string;
  sealedAccessToken: string;
  expiresInSeconds: number;
  forced: boolean;
}

/** Serialises the fetches of one appid across every instance (the second key is the appid's hash). */
const FETCH_LOCK = 0x5167_4174; // "QgAt"

/** Today in China Standard Time (UTC+8), whatever the session's time zone. */
const TODAY = `((now() at time zone 'UTC') + interval '8 hours')::date`;

const COLUMNS = `access_token as "accessToken",
  extract(epoch from expires_at - clock_timestamp())::float8 as "expiresIn",
  extract(epoch from clock_timestamp() - fetched_at)::float8 as age,
  extract(epoch from clock_timestamp() - force_refreshed_at)::float8 as "sinceForceRefresh",
  case when force_refresh_day = ${TODAY} then force_refreshes else 0 end as "forceRefreshesToday"`;

const READ = sql<'appId', AppAccessTokenRow>(`select ${COLUMNS} from app_access_token where app_id = :appId`);

const LOCK = sql<'lock' | 'appId'>(`select pg_advisory_xact_lock(:lock, hashtext(:appId))`);

/**
 * The fetched token replaces the row's; a forced fetch is counted against today's (a new day starts
 * at 1). The expiry counts from the transaction's start, before the fetch, so it errs early; a
 * force refresh is dated when saved, after the fetch, so WeChat's 30 s spacing errs long.
 */
const SAVE = sql<'appId' | 'sealed' | 'expiresIn' | 'forced', AppAccessTokenRow>(`
insert into app_access_token as t
  (app_id, access_token, expires_at, fetched_at, force_refreshed_at, force_refresh_day, force_refreshes)
values (:appId, :sealed, now() + make_interval(secs => :expiresIn), now(),
        case when :forced::boolean then clock_timestamp() end,
        case when :forced::boolean then ${TODAY} end,
        case when :forced::boolean then 1 else 0 end)
on conflict (app_id) do update set
  access_token = excluded.access_token,
  expires_at = excluded.expires_at,
  fetched_at = excluded.fetched_at,
  force_refreshed_at = coalesce(excluded.force_refreshed_at, t.force_refreshed_at),
  force_refreshes = case when not :forced::boolean then t.force_refreshes
                         when t.force_refresh_day = ${TODAY} then t.force_refreshes + 1
                         else 1 end,
  force_refresh_day = coalesce(excluded.force_refresh_day, t.force_refresh_day)
returning ${COLUMNS}`);

/** The app_access_token table: one row per appid, read by everyone, written under FETCH_LOCK. */
export const AppAccessTokenRepository = {
  async read(em: EntityManager, appId: string): Promise<AppAccessTokenRow | undefined> {
    return maybeOne(em, READ, { appId });
  },

  /** Waits for, then holds until the transaction ends, the right to fetch this app's token. */
  async lock(tx: EntityManager, appId: string): Promise<void> {
    await execute(tx, LOCK, { lock: FETCH_LOCK, appId });
  },

  async save(tx: EntityManager, fetched: FetchedAppAccessToken): Promise<AppAccessTokenRow> {
    return one(tx, SAVE, {
      appId: fetched.appId,
      sealed: fetched.sealedAccessToken,
      expiresIn: fetched.expiresInSeconds,
      forced: fetched.forced,
    });
  },
};
