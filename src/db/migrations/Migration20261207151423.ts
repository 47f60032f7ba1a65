import { Migration } from '@mikro-orm/migrations';

/**
 * The user each OpenID Connect object is of, indexed: every object of a user is deleted when all
 * their sessions end (src/oidc/pg-adapter.ts; the statements that end them).
 */
export class Migration20261207151423 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "oidc_payload" add column "account_id" text null;`);
    this.addSql(
      `update "oidc_payload" set "account_id" = "payload"->>'accountId' where "payload" ? 'accountId';`,
    );
    this.addSql(
      `create index "oidc_payload_account_id_index" on "oidc_payload" ("account_id") where "account_id" is not null;`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop index "oidc_payload_account_id_index";`);
    this.addSql(`alter table "oidc_payload" drop column "account_id";`);
  }
}
