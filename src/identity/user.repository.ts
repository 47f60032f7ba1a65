import type { EntityManager } from '@mikro-orm/postgresql';
import { execute, maybeOne, sql } from '../db/sql.js';
import { User } from './user.entity.js';
import { UserLoginMethod } from './user-login-method.entity.js';

/** A `user` row as PostgreSQL returns it (`select u.*`), for `em.map(User, row)`. */
export type UserRow = Record<string, unknown>;

/**
 * What a login, a refresh and `me` answer of a user (the fields of its GraphQL face): a plain
 * object read straight from the row, not an entity managed by the ORM (nothing changes it).
 */
export type UserSummary = Pick<User, 'id' | 'nickname' | 'avatarUrl' | 'phoneNumber' | 'createdAt'>;

/**
 * The columns of a UserSummary, from the user table as `u`, named as UserSummary names them (the
 * hot statements select these).
 */
export const USER_SUMMARY_COLUMNS =
  'u.id, u.nickname, u.avatar_url as "avatarUrl", u.phone_number as "phoneNumber", u.created_at as "createdAt"';

/**
 * Whether another user holds the unionId of one of the login methods of the user `u`
 * (AuthPayload's otherAccountExists), for a statement that reads `u`.
 */
export const OTHER_ACCOUNT_EXISTS = `exists (select 1 from user_login_method lm join "user" o on o.union_id = lm.union_id
                where lm.user_id = u.id and o.id <> u.id)`;

/** A UserSummary as USER_SUMMARY_COLUMNS read it: the driver leaves timestamps as PostgreSQL's text. */
export type UserSummaryRow = Omit<UserSummary, 'createdAt'> & { createdAt: string };

/** A UserSummary from its row: the creation time parsed as the ORM's platform parses it. */
export function userSummaryOf(em: EntityManager, row: UserSummaryRow): UserSummary {
  const { id, nickname, avatarUrl, phoneNumber } = row;
  return {
    id,
    nickname,
    avatarUrl,
    phoneNumber,
    createdAt: em.getPlatform().parseDate(row.createdAt) as Date,
  };
}

/** A user's phone number, in one statement; the user, or nothing when the account has ended. */
const SET_PHONE_NUMBER = sql<'userId' | 'phoneNumber' | 'now', UserRow>(`
update "user" set phone_number = :phoneNumber, updated_at = :now
 where id = :userId and deleted_at is null returning *`);

/**
 * The live imported users of a phone number (at most two: one is a match, two are ambiguous), and
 * whether a new identity of this app may join each: none of its login methods is of this app, and
 * it holds no unionId, or the identity brings none (a different unionId is a different person).
 */
const IMPORTED_BY_PHONE = sql<'phoneNumber' | 'appId' | 'unionId', { id: string; joinable: boolean }>(`
select u.id,
       not exists (select 1 from user_login_method lm where lm.user_id = u.id and lm.app_id = :appId)
         and (u.union_id is null or :unionId::text is null) as joinable
  from "user" u
 where u.phone_number = :phoneNumber and u.external_id is not null and u.deleted_at is null
 limit 2`);

/** Users and their login methods: the SQL of the identity concern. */
export const UserRepository = {
  /** Stores a user's phone number (E.164); null when the user no longer exists. */
  async setPhoneNumber(
    em: EntityManager,
    userId: string,
    phoneNumber: string,
    now: Date,
  ): Promise<User | null> {
    const row = await maybeOne(em, SET_PHONE_NUMBER, { userId, phoneNumber, now });
    return row ? em.map(User, row) : null;
  },

  /**
   * The imported user a new identity of `appId` with this verified phone number joins
   * (docs/import.md): the one live imported user of that number, when it may (IMPORTED_BY_PHONE);
   * null when there is none, several, or it may not.
   */
  async importedByPhone(
    em: EntityManager,
    phoneNumber: string,
    appId: string,
    unionId: string | undefined,
  ): Promise<string | null> {
    const rows = await execute(em, IMPORTED_BY_PHONE, { phoneNumber, appId, unionId: unionId ?? null });
    return rows.length === 1 && rows[0]!.joinable ? rows[0]!.id : null;
  },

  /** The login methods of these users, oldest first, in one query. */
  loginMethodsOf(em: EntityManager, userIds: readonly string[]): Promise<UserLoginMethod[]> {
    return em.find(
      UserLoginMethod,
      { user: { $in: [...userIds] } },
      { orderBy: { createdAt: 'asc', id: 'asc' } },
    );
  },
};
