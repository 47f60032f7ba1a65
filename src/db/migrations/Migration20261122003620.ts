import { Migration } from '@mikro-orm/migrations';

/**
 * rate-limiter-flexible's PostgreSQL store: its table, with the library's columns, made here
 * rather than by the library at start. The old `rate_limit_bucket` stays for one release (rolling
 * upgrades: the previous release still writes it).
 */
export class Migration20261122003620 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "rate_limit" ("key" varchar(255) not null, "points" int not null default 0, "expire" bigint null, constraint "rate_limit_pkey" primary key ("key"));`,
    );
    this.addSql(`create index "rate_limit_expire_index" on "rate_limit" ("expire");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "rate_limit" cascade;`);
  }
}
