import { Migration } from '@mikro-orm/migrations';

export class Migration20261121135635 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "user" ("id" uuid not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "union_id" text null, "nickname" text null, "avatar_url" text null, constraint "user_pkey" primary key ("id"));`,
    );
    this.addSql(`alter table "user" add constraint "user_union_id_unique" unique ("union_id");`);

    this.addSql(
      `create table "user_login_method" ("id" uuid not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "user_id" uuid not null, "kind" text check ("kind" in ('WECHAT_WEB', 'WECHAT_APP', 'WECHAT_MINI')) not null, "app_id" text not null, "open_id" text not null, "union_id" text null, "access_code" text null, "last_login_at" timestamptz not null, constraint "user_login_method_pkey" primary key ("id"));`,
    );
    this.addSql(`create index "user_login_method_user_id_index" on "user_login_method" ("user_id");`);
    this.addSql(
      `alter table "user_login_method" add constraint "user_login_method_app_id_open_id_unique" unique ("app_id", "open_id");`,
    );

    this.addSql(
      `alter table "user_login_method" add constraint "user_login_method_user_id_foreign" foreign key ("user_id") references "user" ("id") on update cascade on delete cascade;`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "user_login_method" drop constraint "user_login_method_user_id_foreign";`);

    this.addSql(`drop table if exists "user" cascade;`);

    this.addSql(`drop table if exists "user_login_method" cascade;`);
  }
}
