import { Migration } from '@mikro-orm/migrations';

/**
 * The admin API's `users` pages live users in creation order: the index its scan walks, from the
 * cursor on, instead of sorting every user for each page.
 */
export class Migration20261207115854 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create index "user_live_created_at_index" on "user" ("created_at", "id") where "deleted_at" is null;`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop index "user_live_created_at_index";`);
  }
}
