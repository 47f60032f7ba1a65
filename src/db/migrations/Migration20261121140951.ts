import { Migration } from '@mikro-orm/migrations';

export class Migration20261121140951 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "session" ("id" uuid not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "user_id" uuid not null, "expires_at" timestamptz not null, "revoked_at" timestamptz null, "revoked_reason" text null, constraint "session_pkey" primary key ("id"));`,
    );
    this.addSql(`create index "session_user_id_index" on "session" ("user_id");`);

    this.addSql(
      `create table "refresh_token" ("token_hash" text not null, "session_id" uuid not null, "created_at" timestamptz not null, "rotated_at" timestamptz null, constraint "refresh_token_pkey" primary key ("token_hash"));`,
    );
    this.addSql(`create index "refresh_token_session_id_index" on "refresh_token" ("session_id");`);

    this.addSql(
      `create table "web_login_state" ("nonce" text not null, "expires_at" timestamptz not null, "used_at" timestamptz not null, constraint "web_login_state_pkey" primary key ("nonce"));`,
    );
    this.addSql(`create index "web_login_state_expires_at_index" on "web_login_state" ("expires_at");`);

    this.addSql(
      `alter table "session" add constraint "session_user_id_foreign" foreign key ("user_id") references "user" ("id") on update cascade on delete cascade;`,
    );

    this.addSql(
      `alter table "refresh_token" add constraint "refresh_token_session_id_foreign" foreign key ("session_id") references "session" ("id") on update cascade on delete cascade;`,
    );

    this.addSql(`alter table "user_login_method" add column "profile_refreshed_at" timestamptz null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "refresh_token" drop constraint "refresh_token_session_id_foreign";`);

    this.addSql(`drop table if exists "session" cascade;`);

    this.addSql(`drop table if exists "refresh_token" cascade;`);

    this.addSql(`drop table if exists "web_login_state" cascade;`);

    this.addSql(`alter table "user_login_method" drop column "profile_refreshed_at";`);
  }
}
