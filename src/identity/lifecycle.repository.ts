import type { EntityManager } from '@mikro-orm/postgresql';
import { END_USER_OIDC } from '../oidc/pg-adapter.js';
import { execute, maybeOne, one, sql } from '../db/sql.js';
import { User } from './user.entity.js';
import { UserLoginMethod } from './user-login-method.entity.js';
import type { UserRow } from './user.repository.js';

/**
 * A user as the lifecycle statements lock it: what a merge or deletion decides on (its times as
 * PostgreSQL's text: they are only tested and written back).
 */
export type LockedUser = Pick<User, 'id' | 'unionId' | 'nickname' | 'avatarUrl' | 'phoneNumber'> & {
  profileChosenAt: string | null;
  deletedAt: string | null;
  /** Set while an admin has disabled the user (USER_DISABLED). */
  disabledAt: string | null;
};

/** A login method as the lifecycle statements read it (what events name, and who holds what). */
export type MethodRow = Pick<UserLoginMethod, 'id' | 'kind' | 'appId' | 'openId' | 'unionId'>;

/** MethodRow's columns, named as MethodRow names them. */
const METHOD_COLUMNS = 'id, kind, app_id as "appId", open_id as "openId", union_id as "unionId"';

/**
 * Locks users for a change of who holds what (a merge, a deletion, an unlink, a login that adds
 * to a user), in id order, so two changes that lock the same two users never deadlock.
 * `FOR NO KEY UPDATE`: a login's session insert (its foreign key takes a KEY SHARE lock) goes on
 * meanwhile; the changes that move or delete login methods wait for each other.
 */
const LOCK_USERS = sql<'a' | 'b', LockedUser>(`
select id, union_id as "unionId", nickname, avatar_url as "avatarUrl", phone_number as "phoneNumber",
       profile_chosen_at as "profileChosenAt", deleted_at as "deletedAt", disabled_at as "disabledAt"
  from "user" where id in (:a, :b) order by id for no key update`);

const METHOD_OWNER = sql<'appId' | 'openId', { userId: string }>(`
select user_id as "userId" from user_login_method where app_id = :appId and open_id = :openId`);

const UNION_HOLDER = sql<'unionId', { id: string }>(`select id from "user" where union_id = :unionId`);

const METHODS_OF = sql<'userId', MethodRow>(`
select ${METHOD_COLUMNS} from user_login_method where user_id = :userId
 order by created_at, id`);

const MOVE_METHODS = sql<'from' | 'into' | 'now', MethodRow>(`
update user_login_method set user_id = :into, updated_at = :now where user_id = :from
returning ${METHOD_COLUMNS}`);

/** What a tombstone keeps: its id, when it ended and, for a merge, whom it went to. */
const TOMBSTONE = sql<'id' | 'now' | 'mergedInto'>(`
update "user"
   set union_id = null, nickname = null, avatar_url = null, phone_number = null,
       profile_chosen_at = null, deleted_at = :now, merged_into_id = :mergedInto::uuid, updated_at = :now,
       disabled_reason = null
 where id = :id`);

/** Fills the survivor's empty fields (coalesce: what it has stays). */
const FILL = sql<
  'id' | 'now' | 'unionId' | 'nickname' | 'avatarUrl' | 'phoneNumber' | 'profileChosenAt',
  UserRow
>(`
update "user"
   set union_id = coalesce(union_id, :unionId::text),
       nickname = coalesce(nickname, :nickname::text),
       avatar_url = coalesce(avatar_url, :avatarUrl::text),
       phone_number = coalesce(phone_number, :phoneNumber::text),
       profile_chosen_at = coalesce(profile_chosen_at, :profileChosenAt::timestamptz),
       updated_at = :now
 where id = :id
returning *`);

const REPOINT_TOMBSTONES = sql<'from' | 'into'>(`
update "user" set merged_into_id = :into where merged_into_id = :from`);

/** Ends every session of the user, and their OpenID Connect grants, sessions and tokens with them. */
const END_SESSIONS = sql<'userId' | 'now' | 'reason'>(`
with o as (${END_USER_OIDC})
update session set revoked_at = :now, revoked_reason = :reason, updated_at = :now
 where user_id = :userId and revoked_at is null`);

const DELETE_METHODS = sql<'userId'>(`delete from user_login_method where user_id = :userId`);

const DELETE_METHOD = sql<'id'>(`delete from user_login_method where id = :id`);

const SET_UNION_ID = sql<'id' | 'unionId' | 'now'>(`
update "user" set union_id = :unionId::text, updated_at = :now where id = :id`);

/** A WeChat identity attached to a user by a link. */
const ADD_METHOD = sql<
  'id' | 'userId' | 'kind' | 'appId' | 'openId' | 'unionId' | 'accessCode' | 'profileRefreshedAt' | 'now'
>(`
insert into user_login_method
  (id, created_at, updated_at, user_id, kind, app_id, open_id, union_id, access_code, last_login_at, profile_refreshed_at)
values (:id, :now, :now, :userId, :kind, :appId, :openId, :unionId, :accessCode, :now, :profileRefreshedAt)`);

/** A linked identity that a merge moved: it keeps what WeChat said of it just now. */
const REFRESH_METHOD = sql<'appId' | 'openId' | 'accessCode' | 'unionId' | 'now'>(`
update user_login_method
   set access_code = coalesce(:accessCode::text, access_code), union_id = coalesce(:unionId::text, union_id),
       updated_at = :now
 where app_id = :appId and open_id = :openId`);

const USER = sql<'id', UserRow>(`select * from "user" where id = :id`);

/** The SQL of linking, merging, unlinking and deleting (AccountLifecycle). */
export const LifecycleRepository = {
  /** Locks one or two users (see LOCK_USERS); the rows found, live or tombstones. */
  lockUsers(em: EntityManager, a: string, b: string = a): Promise<LockedUser[]> {
    return execute(em, LOCK_USERS, { a, b });
  },

  async methodOwner(em: EntityManager, appId: string, openId: string): Promise<string | null> {
    const row = await maybeOne(em, METHOD_OWNER, { appId, openId });
    return row?.userId ?? null;
  },

  async unionHolder(em: EntityManager, unionId: string): Promise<string | null> {
    const row = await maybeOne(em, UNION_HOLDER, { unionId });
    return row?.id ?? null;
  },

  methodsOf(em: EntityManager, userId: string): Promise<MethodRow[]> {
    return execute(em, METHODS_OF, { userId });
  },

  moveMethods(em: EntityManager, from: string, into: string, now: Date): Promise<MethodRow[]> {
    return execute(em, MOVE_METHODS, { from, into, now });
  },

  async tombstone(em: EntityManager, id: string, now: Date, mergedInto: string | null): Promise<void> {
    await execute(em, TOMBSTONE, { id, now, mergedInto });
  },

  async fill(
    em: EntityManager,
    id: string,
    fields: Omit<LockedUser, 'id' | 'deletedAt' | 'disabledAt'>,
    now: Date,
  ): Promise<User> {
    return em.map(User, await one(em, FILL, { id, now, ...fields }));
  },

  async repointTombstones(em: EntityManager, from: string, into: string): Promise<void> {
    await execute(em, REPOINT_TOMBSTONES, { from, into });
  },

  async endSessions(
    em: EntityManager,
    userId: string,
    now: Date,
    reason: 'merged' | 'deleted',
  ): Promise<void> {
    await execute(em, END_SESSIONS, { userId, now, reason });
  },

  async deleteMethods(em: EntityManager, userId: string): Promise<void> {
    await execute(em, DELETE_METHODS, { userId });
  },

  async deleteMethod(em: EntityManager, id: string): Promise<void> {
    await execute(em, DELETE_METHOD, { id });
  },

  async setUnionId(em: EntityManager, id: string, unionId: string | null, now: Date): Promise<void> {
    await execute(em, SET_UNION_ID, { id, unionId, now });
  },

  async addMethod(
    em: EntityManager,
    method: MethodRow & { userId: string; accessCode: string | null; profileRefreshedAt: Date | null },
    now: Date,
  ): Promise<void> {
    await execute(em, ADD_METHOD, { ...method, now });
  },

  async refreshMethod(
    em: EntityManager,
    method: Pick<MethodRow, 'appId' | 'openId' | 'unionId'> & { accessCode: string | null },
    now: Date,
  ): Promise<void> {
    await execute(em, REFRESH_METHOD, { ...method, now });
  },

  async user(em: EntityManager, id: string): Promise<User> {
    return em.map(User, await one(em, USER, { id }));
  },
};
