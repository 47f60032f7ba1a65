import { Entity, PrimaryKey, Property } from '@mikro-orm/core';

/**
 * The current app access token (`stable_token`) of one WeChat app, shared by every instance, and
 * the force refreshes spent on it (docs/architecture.md, "App access tokens"). Written only by
 * AppAccessTokenRepository, under an advisory lock per appid, by the database's clock.
 */
@Entity({ tableName: 'app_access_token' })
export class AppAccessToken {
  @PrimaryKey({ type: 'text' })
  appId!: string;

  /** The token, sealed by SecretBox (`v1.…`): never stored in clear, never logged. */
  @Property({ type: 'text' })
  accessToken!: string;

  /** When WeChat said it expires, counted from before the fetch (so a little early). */
  @Property({ type: 'datetime' })
  expiresAt!: Date;

  /** When it was fetched. */
  @Property({ type: 'datetime' })
  fetchedAt!: Date;

  /** The last `force_refresh` (WeChat ignores another within 30 s). */
  @Property({ type: 'datetime', nullable: true })
  forceRefreshedAt: Date | null = null;

  /** The day (China Standard Time) `forceRefreshes` counts; WeChat allows 20 a day. */
  @Property({ type: 'date', nullable: true })
  forceRefreshDay: string | null = null;

  @Property({ type: 'integer' })
  forceRefreshes: number = 0;
}
