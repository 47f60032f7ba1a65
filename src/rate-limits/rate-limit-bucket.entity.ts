import { Entity, Index, PrimaryKey, Property } from '@mikro-orm/core';

/**
 * The previous release's rate-limit windows (before rate-limiter-flexible: `RateLimitEntry`).
 * Nothing writes it any more; it stays one release so instances of the previous release keep
 * working during a rolling upgrade (docs/deployment.md), and housekeeping empties it. Drop it, and
 * this entity, in the release after.
 */
@Entity({ tableName: 'rate_limit_bucket' })
export class RateLimitBucket {
  @PrimaryKey({ type: 'text' })
  key!: string;

  @PrimaryKey({ type: 'datetime' })
  @Index({ name: 'rate_limit_bucket_window_start_index' })
  windowStart!: Date;

  @Property({ type: 'integer' })
  hits!: number;
}
