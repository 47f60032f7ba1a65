import { Migration } from '@mikro-orm/migrations';

/** The OpenID Connect provider's storage (src/oidc/pg-adapter.ts): one table, expiry indexed for pruning. */
export class Migration20261207125856 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "oidc_payload" ("model" text not null, "id" text not null, "payload" jsonb not null, "grant_id" text null, "uid" text null, "user_code" text null, "expires_at" timestamptz null, "consumed_at" timestamptz null, constraint "oidc_payload_pkey" primary key ("model", "id"));`,
    );
    this.addSql(`create index "oidc_payload_expires_at_index" on "oidc_payload" ("expires_at");`);
    this.addSql(
      `create index "oidc_payload_user_code_index" on "oidc_payload" ("model", "user_code") where "user_code" is not null;`,
    );
    this.addSql(
      `create index "oidc_payload_uid_index" on "oidc_payload" ("model", "uid") where "uid" is not null;`,
    );
    this.addSql(
      `create index "oidc_payload_grant_id_index" on "oidc_payload" ("grant_id") where "grant_id" is not null;`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "oidc_payload" cascade;`);
  }
}
