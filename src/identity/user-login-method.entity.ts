import { Entity, Enum, Index, ManyToOne, Property, Unique, type Rel } from '@mikro-orm/core';
import { BaseEntity } from '../db/base.entity.js';
import type { User } from './user.entity.js';

export enum LoginMethodKind {
  WECHAT_WEB = 'WECHAT_WEB',
  WECHAT_APP = 'WECHAT_APP',
  WECHAT_MINI = 'WECHAT_MINI',
  WECHAT_OFFICIAL_ACCOUNT = 'WECHAT_OFFICIAL_ACCOUNT',
}

/** One WeChat identity (appId, openId) of a user; unique, so one identity is one user. */
@Entity({ tableName: 'user_login_method' })
@Unique({ name: 'user_login_method_app_id_open_id_unique', properties: ['appId', 'openId'] })
export class UserLoginMethod extends BaseEntity<
  'unionId' | 'accessCode' | 'lastLoginAt' | 'profileRefreshedAt' | 'unsubscribedAt'
> {
  @ManyToOne({ entity: 'User', deleteRule: 'cascade' })
  @Index({ name: 'user_login_method_user_id_index' })
  user!: Rel<User>;

  @Enum({ items: () => LoginMethodKind, type: 'text' })
  kind!: LoginMethodKind;

  @Property({ type: 'text' })
  appId!: string;

  /** The identification: WeChat's openid, unique per app. */
  @Property({ type: 'text' })
  openId!: string;

  @Property({ type: 'text', nullable: true })
  unionId: string | null = null;

  /** The WeChat credential of the last login (mini program session_key, OAuth access token), encrypted at rest. */
  @Property({ type: 'text', nullable: true, hidden: true, lazy: true })
  accessCode: string | null = null;

  @Property({ type: 'datetime' })
  lastLoginAt: Date = new Date();

  /** When nickname/avatar were last fetched from WeChat for this identity (web/app refresh daily). */
  @Property({ type: 'datetime', nullable: true })
  profileRefreshedAt: Date | null = null;

  /**
   * An Official Account identity: when WeChat last pushed that this person stopped following the
   * account (null: following, or never known otherwise). A follow again clears it. No account
   * change either way.
   */
  @Property({ type: 'datetime', nullable: true })
  unsubscribedAt: Date | null = null;
}
