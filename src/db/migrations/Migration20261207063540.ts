import { Migration } from '@mikro-orm/migrations';

/** Disabling a user (the admin API): when and why, and an index of the disabled users. */
export class Migration20261207063540 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `alter table "user" add column "disabled_at" timestamptz null, add column "disabled_reason" text null;`,
    );
    this.addSql(
      `create index "user_disabled_index" on "user" ("created_at", "id") where "disabled_at" is not null;`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop index "user_disabled_index";`);
    this.addSql(`alter table "user" drop column "disabled_at", drop column "disabled_reason";`);
  }
}
