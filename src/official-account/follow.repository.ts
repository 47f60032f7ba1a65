import type { EntityManager } from '@mikro-orm/postgresql';
import { execute, maybeOne, sql } from '../db/sql.js';

/** The key WeChat gives an event across its retries (events have no MsgId). */
export interface PushKey {
  appId: string;
  openId: string;
  createTime: string;
}

/** When WeChat says the event happened. */
const timeOf = (key: PushKey) => new Date(Number(key.createTime) * 1000);

/** Records the push as handled; no row when it already was (a retry, a replay). */
const CLAIM = sql<'appId' | 'openId' | 'createTime' | 'now', { claimed: boolean }>(`
insert into handled_push (app_id, open_id, create_time, handled_at) values (:appId, :openId, :createTime, :now)
on conflict do nothing
returning true as claimed`);

/**
 * A follow (`subscribe`) or unfollow (`unsubscribe`), recorded once on the person's login method
 * of this account, if they have one: `unsubscribed_at` set, or cleared by a later follow. An event
 * older than what is recorded changes nothing (pushes can arrive out of order).
 */
const SUBSCRIPTION = sql<
  'appId' | 'openId' | 'createTime' | 'now' | 'at' | 'following',
  { claimed: boolean }
>(`
with d as (
  insert into handled_push (app_id, open_id, create_time, handled_at) values (:appId, :openId, :createTime, :now)
  on conflict do nothing
  returning 1
), m as (
  update user_login_method lm
     set unsubscribed_at = case when :following::boolean then null else :at::timestamptz end, updated_at = :now
   where lm.app_id = :appId and lm.open_id = :openId and exists (select 1 from d)
     and (case when :following::boolean then lm.unsubscribed_at <= :at::timestamptz
               else lm.unsubscribed_at is null or lm.unsubscribed_at < :at::timestamptz end)
)
select exists (select 1 from d) as claimed`);

/** A follow that came with a login: the login method no longer says unfollowed (see SUBSCRIPTION). */
const FOLLOWING = sql<'appId' | 'openId' | 'at' | 'now'>(`
update user_login_method set unsubscribed_at = null, updated_at = :now
 where app_id = :appId and open_id = :openId and unsubscribed_at <= :at`);

/** The SQL of Official Account pushes: each handled once, by its key. */
export const FollowRepository = {
  /** True when this push had not been handled: it is now (with the caller's transaction). */
  async claim(em: EntityManager, key: PushKey, now: Date): Promise<boolean> {
    return (await maybeOne(em, CLAIM, { ...key, now }))?.claimed === true;
  },

  /** See FOLLOWING (in the login's transaction, after its claim). */
  async following(em: EntityManager, key: PushKey, now: Date): Promise<void> {
    await execute(em, FOLLOWING, { appId: key.appId, openId: key.openId, at: timeOf(key), now });
  },

  /** See SUBSCRIPTION: false when the push had already been handled. */
  async subscription(em: EntityManager, key: PushKey, following: boolean, now: Date): Promise<boolean> {
    const row = await maybeOne(em, SUBSCRIPTION, { ...key, now, at: timeOf(key), following });
    return row?.claimed === true;
  },
};
