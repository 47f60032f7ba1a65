import { Entity, Index, PrimaryKey, Property } from '@mikro-orm/core';

/** Hits of one rate-limit key in one fixed one-minute window, shared by every instance. */
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
