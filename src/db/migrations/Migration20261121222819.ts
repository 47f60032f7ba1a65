import { Migration } from '@mikro-orm/migrations';

export class Migration20261121222819 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "user_login_method" drop constraint if exists "user_login_method_kind_check";`);

    this.addSql(
      `alter table "user_login_method" add constraint "user_login_method_kind_check" check("kind" in ('WECHAT_WEB', 'WECHAT_APP', 'WECHAT_MINI', 'WECHAT_OFFICIAL_ACCOUNT'));`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "user_login_method" drop constraint if exists "user_login_method_kind_check";`);

    this.addSql(
      `alter table "user_login_method" add constraint "user_login_method_kind_check" check("kind" in ('WECHAT_WEB', 'WECHAT_APP', 'WECHAT_MINI'));`,
    );
  }
}
