import { Migration } from '@mikro-orm/migrations';

/** The audit log (src/audit/): one row per event, by time and by user. */
export class Migration20261207064539 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "audit_event" ("id" uuid not null, "occurred_at" timestamptz not null, "type" text not null, "user_id" uuid null, "actor_type" text not null, "actor_id" text null, "actor_name" text null, "app_id" text null, "open_id" text null, "error_code" text null, "details" jsonb null, "ip_prefix" text null, "user_agent" text null, "request_id" text null, constraint "audit_event_pkey" primary key ("id"));`,
    );
    this.addSql(
      `create index "audit_event_user_index" on "audit_event" ("user_id", "occurred_at", "id") where "user_id" is not null;`,
    );
    this.addSql(`create index "audit_event_occurred_at_index" on "audit_event" ("occurred_at", "id");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "audit_event" cascade;`);
  }
}
