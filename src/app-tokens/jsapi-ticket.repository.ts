import type { EntityManager } from '@mikro-orm/postgresql';
import { execute, maybeOne, one, sql } from '../db/sql.js';

/** An app's ticket row as read: sealed, and the seconds it has left by the database's clock. */
export interface JsapiTicketRow {
  ticket: string;
  expiresIn: number;
}

/** Serialises the fetches of one appid across every instance (the second key is the appid's hash). */
const FETCH_LOCK = 0x5167_4a73; // "QgJs"

const COLUMNS = `ticket, extract(epoch from expires_at - clock_timestamp())::float8 as "expiresIn"`;

const READ = sql<'appId', JsapiTicketRow>(`select ${COLUMNS} from jsapi_ticket where app_id = :appId`);

const LOCK = sql<'lock' | 'appId'>(`select pg_advisory_xact_lock(:lock, hashtext(:appId))`);

const SAVE = sql<'appId' | 'sealed' | 'expiresIn', JsapiTicketRow>(`
insert into jsapi_ticket as t (app_id, ticket, expires_at, fetched_at)
values (:appId, :sealed, now() + make_interval(secs => :expiresIn), now())
on conflict (app_id) do update set
  ticket = excluded.ticket, expires_at = excluded.expires_at, fetched_at = excluded.fetched_at
returning ${COLUMNS}`);

/** The jsapi_ticket table: one row per official account, read by everyone, written under FETCH_LOCK. */
export const JsapiTicketRepository = {
  read(em: EntityManager, appId: string): Promise<JsapiTicketRow | undefined> {
    return maybeOne(em, READ, { appId });
  },

  /** Inside the caller's transaction: until it ends, no other instance fetches this app's ticket. */
  async lock(tx: EntityManager, appId: string): Promise<void> {
    await execute(tx, LOCK, { lock: FETCH_LOCK, appId });
  },

  save(tx: EntityManager, appId: string, sealed: string, expiresIn: number): Promise<JsapiTicketRow> {
    return one(tx, SAVE, { appId, sealed, expiresIn });
  },
};
