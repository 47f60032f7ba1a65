import { Migration } from '@mikro-orm/migrations';

/**
 * Data only: a user whose own login methods carry a unionId that no user holds claims it, as a
 * login would have (docs/architecture.md, "Identity"). Before AuthPayload.otherAccountExists a
 * method could learn its unionId without its user taking it; when the holder is gone, or its
 * claim lost a race, the unionId stayed with nobody. Only unambiguous cases: the unionId is carried
 * by the methods of exactly one user, who holds none and whose methods carry no other. Anything
 * else is left for the next login, which claims it or answers `otherAccountExists`. Idempotent: a
 * claimed unionId is held, so a second run finds nothing.
 */
export class Migration20261121233000 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
update "user" u
   set union_id = c.union_id, updated_at = now()
  from (
    select lm.union_id, (array_agg(distinct lm.user_id))[1] as user_id
      from user_login_method lm
     where lm.union_id is not null
       and not exists (select 1 from "user" h where h.union_id = lm.union_id)
     group by lm.union_id
    having count(distinct lm.user_id) = 1
  ) c
 where u.id = c.user_id
   and u.union_id is null
   and not exists (
     select 1 from user_login_method o
      where o.user_id = u.id and o.union_id is not null and o.union_id <> c.union_id
   );`);
  }

  /** Nothing to undo: the claimed unionIds are what the logins would have stored. */
  override async down(): Promise<void> {}
}
