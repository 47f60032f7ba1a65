import { Migration } from '@mikro-orm/migrations';

/**
 * Account lifecycle: a user row becomes a tombstone when deleted or merged (`deleted_at`, and
 * `merged_into_id` pointing at the user it was merged into); a webhook event may wait for another
 * user's earlier events (`related_user_id`: the merged user of a `user.merged`).
 */
export class Migration20261122001143 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `alter table "user" add column "deleted_at" timestamptz null, add column "merged_into_id" uuid null;`,
    );
    this.addSql(
      `alter table "user" add constraint "user_merged_into_id_foreign" foreign key ("merged_into_id") references "user" ("id") on update cascade on delete set null;`,
    );
    this.addSql(
      `create index "user_merged_into_id_index" on "user" ("merged_into_id") where "merged_into_id" is not null;`,
    );

    this.addSql(`alter table "webhook_delivery" add column "related_user_id" uuid null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "user" drop constraint "user_merged_into_id_foreign";`);

    this.addSql(`drop index "user_merged_into_id_index";`);
    this.addSql(`alter table "user" drop column "deleted_at", drop column "merged_into_id";`);

    this.addSql(`alter table "webhook_delivery" drop column "related_user_id";`);
  }
}
