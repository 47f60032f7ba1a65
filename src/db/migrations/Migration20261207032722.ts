import { Migration } from '@mikro-orm/migrations';

/**
 * Follow-login (src/official-account/): the Official Account pushes already handled (a retry or a
 * replay changes nothing), and when a follower stopped following, on their login method.
 */
export class Migration20261207032722 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "handled_push" ("app_id" text not null, "open_id" text not null, "create_time" bigint not null, "handled_at" timestamptz not null, constraint "handled_push_pkey" primary key ("app_id", "open_id", "create_time"));`,
    );
    this.addSql(`create index "handled_push_handled_at_index" on "handled_push" ("handled_at");`);

    this.addSql(`alter table "user_login_method" add column "unsubscribed_at" timestamptz null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "handled_push" cascade;`);

    this.addSql(`alter table "user_login_method" drop column "unsubscribed_at";`);
  }
}
