import { Entity, Index, ManyToOne, Property, type Rel } from '@mikro-orm/core';
import { BaseEntity } from '../db/base.entity.js';
import type { User } from '../identity/user.entity.js';

/** One signed-in device or browser: what an access token's `sid` names and logout revokes. */
@Entity({ tableName: 'session' })
// Housekeeping deletes revoked sessions some days after their revocation (src/housekeeping/).
@Index({
  name: 'session_revoked_at_index',
  expression:
    'create index "session_revoked_at_index" on "session" ("revoked_at") where "revoked_at" is not null',
})
export class Session extends BaseEntity<'revokedAt' | 'revokedReason'> {
  @ManyToOne({ entity: 'User', deleteRule: 'cascade' })
  @Index({ name: 'session_user_id_index' })
  user!: Rel<User>;

  /** The end of the session: refresh tokens stop working then, and housekeeping deletes it. */
  @Property({ type: 'datetime' })
  @Index({ name: 'session_expires_at_index' })
  expiresAt!: Date;

  @Property({ type: 'datetime', nullable: true })
  revokedAt: Date | null = null;

  /** `logout`, `refresh_token_reuse` (theft detection), `merged` or `deleted` (the account ended). */
  @Property({ type: 'text', nullable: true })
  revokedReason: string | null = null;
}
