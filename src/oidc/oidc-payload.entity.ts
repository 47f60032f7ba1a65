import { Entity, Index, PrimaryKey, Property } from '@mikro-orm/core';

/**
 * What the OpenID Connect provider keeps between the steps of a flow, for every instance: its
 * sessions, interactions, authorization codes, access and refresh tokens, grants and replay
 * markers, one row each (src/oidc/pg-adapter.ts). Found by (model, id), by grant (to end a grant's
 * tokens together), by session uid, by user (to end them with the user's sessions); past
 * `expires_at` a row is gone for the provider and housekeeping deletes it.
 */
@Entity({ tableName: 'oidc_payload' })
@Index({
  name: 'oidc_payload_grant_id_index',
  expression:
    'create index "oidc_payload_grant_id_index" on "oidc_payload" ("grant_id") where "grant_id" is not null',
})
@Index({
  name: 'oidc_payload_uid_index',
  expression:
    'create index "oidc_payload_uid_index" on "oidc_payload" ("model", "uid") where "uid" is not null',
})
@Index({
  name: 'oidc_payload_user_code_index',
  expression:
    'create index "oidc_payload_user_code_index" on "oidc_payload" ("model", "user_code") where "user_code" is not null',
})
@Index({
  name: 'oidc_payload_account_id_index',
  expression:
    'create index "oidc_payload_account_id_index" on "oidc_payload" ("account_id") where "account_id" is not null',
})
export class OidcPayload {
  /** The provider's model: `Session`, `Interaction`, `AuthorizationCode`, `RefreshToken`, … */
  @PrimaryKey({ type: 'text' })
  model!: string;

  @PrimaryKey({ type: 'text' })
  id!: string;

  /** The provider's object as it gave it (tokens are stored by id: their values are never here). */
  @Property({ type: 'jsonb' })
  payload!: Record<string, unknown>;

  @Property({ type: 'text', nullable: true })
  grantId: string | null = null;

  /**
   * The user an object is of (the provider's accountId: our user id): every object of a user is
   * deleted when all their sessions end (a disable, an admin's revokeSessions, a merge, a deletion).
   */
  @Property({ type: 'text', nullable: true })
  accountId: string | null = null;

  /** A session's fixed uid (tokens bound to a session find it by this). */
  @Property({ type: 'text', nullable: true })
  uid: string | null = null;

  @Property({ type: 'text', nullable: true })
  userCode: string | null = null;

  /** Null: kept until destroyed. */
  @Property({ type: 'datetime', nullable: true })
  @Index({ name: 'oidc_payload_expires_at_index' })
  expiresAt: Date | null = null;

  /** When a one-time object (an authorization code, a rotated refresh token) was used. */
  @Property({ type: 'datetime', nullable: true })
  consumedAt: Date | null = null;
}
