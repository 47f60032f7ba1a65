import { Migration } from '@mikro-orm/migrations';

export class Migration20261121202955 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "signing_key" ("kid" text not null, "public_jwk" jsonb not null, "private_key" text not null, "created_at" timestamptz not null, "retired_at" timestamptz null, constraint "signing_key_pkey" primary key ("kid"));`,
    );
    this.addSql(`create index "signing_key_created_at_index" on "signing_key" ("created_at");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "signing_key" cascade;`);
  }
}
