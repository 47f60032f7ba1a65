import { Migration } from '@mikro-orm/migrations';

/** webhook_delivery: the outbox of signed webhooks, one row per (event, endpoint) (docs/webhooks.md). */
export class Migration20261121232234 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "webhook_delivery" ("id" bigserial primary key, "message_id" text not null, "endpoint" text not null, "type" text not null, "user_id" uuid null, "body" text not null, "state" text not null default 'pending', "attempts" int not null default 0, "next_attempt_at" timestamptz not null, "created_at" timestamptz not null, "delivered_at" timestamptz null, "last_error" text null);`,
    );
    this.addSql(
      `create index "webhook_delivery_order_index" on "webhook_delivery" ("endpoint", "user_id", "id") where "state" = 'pending';`,
    );
    this.addSql(
      `create index "webhook_delivery_due_index" on "webhook_delivery" ("id") where "state" = 'pending';`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "webhook_delivery" cascade;`);
  }
}
