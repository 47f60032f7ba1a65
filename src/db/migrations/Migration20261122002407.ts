import { Migration } from '@mikro-orm/migrations';

/**
 * Housekeeping (src/housekeeping/): indexes for its deletes, expired sessions (`expires_at`),
 * revoked ones (`revoked_at`, only rows that have one) and delivered or given-up webhook
 * deliveries (`created_at`, pending rows left out). `if not exists`: on a large `session` table,
 * an operator may build them beforehand with `create index concurrently` (docs/deployment.md),
 * since a plain `create index` blocks writes to the table while it runs.
 */
export class Migration20261122002407 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create index if not exists "session_expires_at_index" on "session" ("expires_at");`);
    this.addSql(
      `create index if not exists "session_revoked_at_index" on "session" ("revoked_at") where "revoked_at" is not null;`,
    );

    this.addSql(
      `create index if not exists "webhook_delivery_done_created_at_index" on "webhook_delivery" ("created_at") where "state" <> 'pending';`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop index "session_expires_at_index";`);
    this.addSql(`drop index "session_revoked_at_index";`);

    this.addSql(`drop index "webhook_delivery_done_created_at_index";`);
  }
}
