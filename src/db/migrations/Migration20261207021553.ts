import { Migration } from '@mikro-orm/migrations';

/** Official accounts' JS-SDK tickets (src/app-tokens/jsapi-tickets.ts): one sealed row per appid, for every instance. */
export class Migration20261207021553 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "jsapi_ticket" ("app_id" text not null, "ticket" text not null, "expires_at" timestamptz not null, "fetched_at" timestamptz not null, constraint "jsapi_ticket_pkey" primary key ("app_id"));`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "jsapi_ticket" cascade;`);
  }
}
