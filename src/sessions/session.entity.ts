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
export class Session extends BaseEntity<'revokedAt' | 'revokedReason' | 'userAgent' | 'ipPrefix'> {
  @ManyToOne({ entity: 'User', deleteRule: 'cascade' })
  @Index({ name: 'session_user_id_index' })
  user!: Rel<User>;

  /** The end of the session: refresh tokens stop working then, and housekeeping deletes it. */
  @Property({ type: 'datetime' })
  @Index({ name: 'session_expires_at_index' })
  expiresAt!: Date;

  /** When it was opened or last refreshed: not every request (no write per request). */
  @Property({ type: 'datetime' })
  lastUsedAt!: Date;

  /** The user agent of that login or refresh, cleaned and cut short (src/sessions/session-device.ts). */
  @Property({ type: 'text', nullable: true })
  userAgent: string | null = null;

  /** The network of that client's address (IPv4 /24, IPv6 /48), never the address (docs/privacy.md). */
  @Property({ type: 'text', nullable: true })
  ipPrefix: string | null = null;

  @Property({ type: 'datetime', nullable: true })
  revokedAt: Date | null = null;

  /**
   * `logout`, `revoked_by_user` (revokeSession, from another of the person's sessions),
   * `refresh_token_reuse` (theft detection), `merged` or `deleted` (the account ended).
   */
  @Property({ type: 'text', nullable: true })
  revokedReason: string | null = null;
}
