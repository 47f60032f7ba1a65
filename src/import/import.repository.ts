import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { execute, sql } from '../db/sql.js';
import type { ImportedUser } from './import-line.js';

/** What the database already holds of a batch's line: its externalId, its unionId, an identity (`identity:<appId>`). */
export interface Held {
  line: number;
  what: string;
}

/**
 * Each line of a batch whose externalId a user has (imported before, even if since deleted or
 * merged), whose unionId another user holds, or one of whose identities is a login method.
 * The batch comes as JSON (one parameter, whatever its size).
 */
const HELD = sql<'users' | 'identities', Held>(`
with b as (
  select * from jsonb_to_recordset(:users::jsonb) as b(line int, "externalId" text, "unionId" text)
)
select b.line, 'externalId' as what from b join "user" u on u.external_id = b."externalId"
union all
select b.line, 'unionId' from b join "user" u on u.union_id = b."unionId"
union all
select i.line, 'identity:' || i."appId"
  from jsonb_to_recordset(:identities::jsonb) as i(line int, "appId" text, "openId" text)
  join user_login_method lm on lm.app_id = i."appId" and lm.open_id = i."openId"`);

/**
 * An imported nickname is the person's own, as one set with updateProfile (profile_chosen_at): a
 * WeChat profile only fills what is empty.
 */
const INSERT_USERS = sql<'users' | 'now'>(`
insert into "user" (id, created_at, updated_at, external_id, union_id, nickname, phone_number, profile_chosen_at)
select x.id, :now, :now, x."externalId", x."unionId", x.nickname, x."phoneNumber",
       case when x.nickname is not null then :now::timestamptz end
  from jsonb_to_recordset(:users::jsonb)
    as x(id uuid, "externalId" text, "unionId" text, nickname text, "phoneNumber" text)`);

/** An imported identity's last login is the import's time until its first login here. */
const INSERT_METHODS = sql<'methods' | 'now'>(`
insert into user_login_method (id, created_at, updated_at, user_id, kind, app_id, open_id, last_login_at)
select x.id, :now, :now, x."userId", x.kind, x."appId", x."openId", :now
  from jsonb_to_recordset(:methods::jsonb) as x(id uuid, "userId" uuid, kind text, "appId" text, "openId" text)`);

/** The SQL of `npm run import`: a batch's checks in one statement, its users and login methods in two. */
export const ImportRepository = {
  held(em: EntityManager, batch: readonly ImportedUser[]): Promise<Held[]> {
    const users = batch.map(({ line, externalId, unionId }) => ({ line, externalId, unionId }));
    const identities = batch.flatMap(({ line, identities }) =>
      identities.map(({ appId, openId }) => ({ line, appId, openId })),
    );
    return execute(em, HELD, { users: JSON.stringify(users), identities: JSON.stringify(identities) });
  },

  /** Writes these users and their identities (checked free by `held`, in this transaction). */
  async insert(em: EntityManager, users: readonly ImportedUser[], now: Date): Promise<void> {
    if (users.length === 0) return;
    const rows = users.map(({ externalId, unionId, nickname, phoneNumber }) => ({
      id: randomUUID(),
      externalId,
      unionId,
      nickname,
      phoneNumber,
    }));
    const methods = users.flatMap(({ identities }, i) =>
      identities.map((identity) => ({ id: randomUUID(), userId: rows[i]!.id, ...identity })),
    );
    await execute(em, INSERT_USERS, { users: JSON.stringify(rows), now });
    if (methods.length > 0) await execute(em, INSERT_METHODS, { methods: JSON.stringify(methods), now });
  },
};
