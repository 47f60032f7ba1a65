import { Migration } from '@mikro-orm/migrations';

/**
 * Imported users (npm run import, docs/import.md): their id in the earlier system, unique, and their
 * phone numbers indexed for the mini program login that finds them by a verified number.
 */
export class Migration20261207041302 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "user" add column "external_id" text null;`);
    this.addSql(`alter table "user" add constraint "user_external_id_unique" unique ("external_id");`);
    this.addSql(
      `create index "user_imported_phone_number_index" on "user" ("phone_number") where "external_id" is not null;`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "user" drop constraint "user_external_id_unique";`);
    this.addSql(`drop index "user_imported_phone_number_index";`);
    this.addSql(`alter table "user" drop column "external_id";`);
  }
}
