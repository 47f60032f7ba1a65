import { Migration } from '@mikro-orm/migrations';

/** Admin API keys (src/admin/): name, scope, the SHA-256 of the key, its last use and revocation. */
export class Migration20261207041649 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "admin_key" ("id" uuid not null, "name" text not null, "scope" text not null, "key_hash" text not null, "created_at" timestamptz not null, "last_used_at" timestamptz null, "revoked_at" timestamptz null, constraint "admin_key_pkey" primary key ("id"));`,
    );
    this.addSql(`alter table "admin_key" add constraint "admin_key_key_hash_unique" unique ("key_hash");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "admin_key" cascade;`);
  }
}
