import { Entity, Index, PrimaryKey, Property } from '@mikro-orm/core';

/**
 * One rate-limit key's count in its current window, as rate-limiter-flexible's PostgreSQL store
 * keeps it (its column names and types), shared by every instance. Housekeeping deletes expired rows.
 */
@Entity({ tableName: 'rate_limit' })
export class RateLimitEntry {
  /** `<action>:<key>`: `login:<client IP>`, `identity:<appId>:<openId>`, … */
  @PrimaryKey({ type: 'string', length: 255 })
  key!: string;

  @Property({ type: 'integer', default: 0 })
  points!: number;

  /** When the window ends, in milliseconds since the epoch. */
  @Property({ type: 'bigint', nullable: true })
  @Index({ name: 'rate_limit_expire_index' })
  expire!: string | null;
}
