import { Migration } from '@mikro-orm/migrations';

export class Migration20261121223521 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "app_access_token" ("app_id" text not null, "access_token" text not null, "expires_at" timestamptz not null, "fetched_at" timestamptz not null, "force_refreshed_at" timestamptz null, "force_refresh_day" date null, "force_refreshes" int not null default 0, constraint "app_access_token_pkey" primary key ("app_id"));`,
    );

    this.addSql(`alter table "user" add column "phone_number" text null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "app_access_token" cascade;`);

    this.addSql(`alter table "user" drop column "phone_number";`);
  }
}
