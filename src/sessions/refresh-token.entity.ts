import { Entity, Index, ManyToOne, PrimaryKey, Property, type Rel } from '@mikro-orm/core';
import type { Session } from './session.entity.js';

/**
 * A refresh token, stored only as its SHA-256. Rotated ones are kept (rotatedAt set) so that
 * presenting one again is recognised as reuse and revokes the session.
 */
@Entity({ tableName: 'refresh_token' })
export class RefreshToken {
  @PrimaryKey({ type: 'text' })
  tokenHash!: string;

  @ManyToOne({ entity: 'Session', deleteRule: 'cascade' })
  @Index({ name: 'refresh_token_session_id_index' })
  session!: Rel<Session>;

  @Property({ type: 'datetime' })
  createdAt: Date = new Date();

  @Property({ type: 'datetime', nullable: true })
  rotatedAt: Date | null = null;
}
