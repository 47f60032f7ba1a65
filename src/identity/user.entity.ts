import { Collection, Entity, OneToMany, Property, Unique } from '@mikro-orm/core';
import { BaseEntity } from '../db/base.entity.js';
import { UserLoginMethod } from './user-login-method.entity.js';

/** One person. Their WeChat identities hang off it as login methods. */
@Entity({ tableName: 'user' })
export class User extends BaseEntity<
  'unionId' | 'nickname' | 'avatarUrl' | 'profileChosenAt' | 'phoneNumber'
> {
  /** WeChat unionid shared by every app of one Open Platform account; unique, so one person is one user. */
  @Property({ type: 'text', nullable: true })
  @Unique({ name: 'user_union_id_unique' })
  unionId: string | null = null;

  @Property({ type: 'text', nullable: true })
  nickname: string | null = null;

  @Property({ type: 'text', nullable: true })
  avatarUrl: string | null = null;

  /**
   * When the person last set their nickname or avatar themselves (updateProfile). From then on a
   * login's WeChat profile only fills what is still empty (AccountService.applyProfile).
   */
  @Property({ type: 'datetime', nullable: true })
  profileChosenAt: Date | null = null;

  /**
   * International (E.164, `+8613800138000`), from WeChat's phone-number code; shown to this user
   * alone and never logged (docs/api.md, "Phone numbers"). Not unique: a number can change hands.
   */
  @Property({ type: 'text', nullable: true })
  phoneNumber: string | null = null;

  @OneToMany(() => UserLoginMethod, (method) => method.user)
  loginMethods = new Collection<UserLoginMethod>(this);
}
