import { Migration } from '@mikro-orm/migrations';

/**
 * A person's list of their sessions (me { sessions }): when each was last used, and its user agent
 * and IP prefix; an existing session was last used when it was opened, as far as anyone knows.
 */
export class Migration20261207041040 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `alter table "session" add column "last_used_at" timestamptz null, add column "user_agent" text null, add column "ip_prefix" text null;`,
    );
    this.addSql(`update "session" set "last_used_at" = "created_at";`);
    this.addSql(`alter table "session" alter column "last_used_at" set not null;`);
  }

  override async down(): Promise<void> {
    this.addSql(
      `alter table "session" drop column "last_used_at", drop column "user_agent", drop column "ip_prefix";`,
    );
  }
}
