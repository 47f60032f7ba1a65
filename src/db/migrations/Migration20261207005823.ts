import { Migration } from '@mikro-orm/migrations';

/**
 * Login tickets (src/login-tickets/): a waiting page signed in by a person who confirms in the
 * mini program. The scene is what a code or link carries; expires_at is what housekeeping prunes by.
 */
export class Migration20261207005823 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "login_ticket" ("id" uuid not null, "kind" text not null, "app_id" text not null, "scene" text not null, "secret_hash" text not null, "state" text not null, "user_id" uuid null, "created_at" timestamptz not null, "expires_at" timestamptz not null, "scanned_at" timestamptz null, "finished_at" timestamptz null, "delivered_at" timestamptz null, constraint "login_ticket_pkey" primary key ("id"));`,
    );
    this.addSql(`alter table "login_ticket" add constraint "login_ticket_scene_unique" unique ("scene");`);
    this.addSql(`create index "login_ticket_expires_at_index" on "login_ticket" ("expires_at");`);

    this.addSql(
      `alter table "login_ticket" add constraint "login_ticket_user_id_foreign" foreign key ("user_id") references "user" ("id") on update cascade on delete cascade;`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "login_ticket" cascade;`);
  }
}
