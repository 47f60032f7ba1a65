import { Collection, Entity, Index, ManyToOne, OneToMany, Property, Unique, type Rel } from '@mikro-orm/core';
import { BaseEntity } from '../db/base.entity.js';
import { UserLoginMethod } from './user-login-method.entity.js';

/** One person. Their WeChat identities hang off it as login methods. */
@Entity({ tableName: 'user' })
// A merge repoints the tombstones that pointed at the merged user: few rows, found by this index.
@Index({
  name: 'user_merged_into_id_index',
  expression:
    'create index "user_merged_into_id_index" on "user" ("merged_into_id") where "merged_into_id" is not null',
})
// A new mini program identity with a verified phone number looks for an imported user of that
// number (AccountService.findOrRegister): only imported users are in this index.
@Index({
  name: 'user_imported_phone_number_index',
  expression:
    'create index "user_imported_phone_number_index" on "user" ("phone_number") where "external_id" is not null',
})
// The admin API pages through live users in creation order (users(first, after)).
@Index({
  name: 'user_live_created_at_index',
  expression:
    'create index "user_live_created_at_index" on "user" ("created_at", "id") where "deleted_at" is null',
})
// The admin API lists disabled users (users(filter: { disabled: true })): few, found by this index.
@Index({
  name: 'user_disabled_index',
  expression:
    'create index "user_disabled_index" on "user" ("created_at", "id") where "disabled_at" is not null',
})
export class User extends BaseEntity<
  | 'unionId'
  | 'nickname'
  | 'avatarUrl'
  | 'profileChosenAt'
  | 'phoneNumber'
  | 'externalId'
  | 'deletedAt'
  | 'mergedInto'
  | 'disabledAt'
  | 'disabledReason'
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

  /**
   * The user's id in the system they were imported from (`npm run import`, docs/import.md); unique,
   * so an import run again adds nobody twice. Null for a user who signed up here. A tombstone keeps
   * it: an import run again never brings back a deleted or merged account.
   */
  @Property({ type: 'text', nullable: true })
  @Unique({ name: 'user_external_id_unique' })
  externalId: string | null = null;

  /**
   * Set when the account ended: deleted (deleteAccount) or merged into another (`mergedInto`).
   * The row stays as a tombstone, its personal data erased, so an id is never reused
   * (docs/privacy.md); its sessions are ended and it can never sign in again.
   */
  @Property({ type: 'datetime', nullable: true })
  deletedAt: Date | null = null;

  /**
   * Set while an admin has disabled this account (the admin API's disableUser, docs/admin.md): its
   * sessions were ended then, and logins, refresh and bearer calls answer USER_DISABLED until
   * enableUser clears it.
   */
  @Property({ type: 'datetime', nullable: true })
  disabledAt: Date | null = null;

  /** The admin's reason for disabling, as they gave it (shown only to the admin API). */
  @Property({ type: 'text', nullable: true })
  disabledReason: string | null = null;

  /** The user this one was merged into (a tombstone's pointer to the survivor). */
  @ManyToOne({ entity: 'User', nullable: true, deleteRule: 'set null' })
  mergedInto: Rel<User> | null = null;

  @OneToMany(() => UserLoginMethod, (method) => method.user)
  loginMethods = new Collection<UserLoginMethod>(this);
}
