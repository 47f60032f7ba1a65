import { Migration } from '@mikro-orm/migrations';

/** user.profile_chosen_at: when the person set their own nickname or avatar (updateProfile). */
export class Migration20261121223700 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "user" add column "profile_chosen_at" timestamptz null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "user" drop column "profile_chosen_at";`);
  }
}
