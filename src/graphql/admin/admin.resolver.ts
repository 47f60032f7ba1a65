import { Arg, Ctx, ID, Int, Mutation, Query, Resolver } from 'type-graphql';
import { AdminAudit } from '../../admin/admin-audit.js';
import { AdminUsers, type AdminUserRow, type PagePosition } from '../../admin/admin-users.js';
import { AUDIT_TYPES, AuditLog } from '../../audit/audit-log.js';
import { BadUserInputError } from '../../errors.js';
import { requireWrite, type AdminContext } from './admin-context.js';
import {
  AdminAuditActor,
  AdminAuditEventPageType,
  AdminAuditFilterInput,
  AdminUserFilterInput,
  AdminUserPageType,
  AdminUserType,
} from './admin.types.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DEFAULT_PAGE = 50;
const MAX_PAGE = 200;

/** `first`: DEFAULT_PAGE when not given, else 1 to MAX_PAGE. */
function pageSize(first: number | null): number {
  const size = first ?? DEFAULT_PAGE;
  if (size < 1 || size > MAX_PAGE) throw new BadUserInputError(`first: 1 to ${MAX_PAGE}`, 'first');
  return size;
}

/** The names of the filters given, never their values (a phone number among them). */
const filterNames = (filter: object | null) =>
  Object.entries(filter ?? {}).flatMap(([name, value]) => (value == null ? [] : [name]));

const AUDIT_TYPE_NAMES: ReadonlySet<string> = new Set(AUDIT_TYPES);

/** A user id argument: a UUID, else BAD_USER_INPUT (never a database error). */
function userId(id: string, field = 'id'): string {
  if (!UUID.test(id)) throw new BadUserInputError('not a user id (a UUID)', field);
  return id;
}

const MAX_REASON = 500;

const noLiveUser = () => new BadUserInputError('no live user has this id', 'id');

/** A disable's reason: trimmed, 1 to MAX_REASON characters, no control or format characters. */
function reasonOf(reason: string): string {
  const trimmed = reason.trim();
  if (trimmed.length === 0 || trimmed.length > MAX_REASON || /[\p{Cc}\p{Cf}]/u.test(trimmed)) {
    throw new BadUserInputError(`1-${MAX_REASON} characters, no control or format characters`, 'reason');
  }
  return trimmed;
}

/** PostgreSQL's text of a timestamptz (`2026-12-07 04:12:33.123456+00`), what a cursor carries. */
const PG_TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?[+-](\d{2})(?::(\d{2}))?$/;

/** A timestamp of that shape whose fields are in range (the database would refuse the others). */
function isTimestamp(text: string): boolean {
  const match = PG_TIMESTAMP.exec(text);
  if (!match) return false;
  const [year, month, day, hour, minute, second, , offsetHours, offsetMinutes] = [...match.slice(1)].map(
    Number,
  );
  const date = new Date(Date.UTC(year!, month! - 1, day!));
  return (
    year! >= 1 &&
    date.getUTCMonth() === month! - 1 &&
    date.getUTCDate() === day &&
    hour! < 24 &&
    minute! < 60 &&
    second! < 60 &&
    offsetHours! < 16 &&
    (Number.isNaN(offsetMinutes) || offsetMinutes! < 60)
  );
}

/**
 * An opaque cursor: base64url of the last row's position (a user's creation time, an event's
 * time, to the microsecond, and its id).
 */
const cursorOf = (row: { positionAt: string; id: string }) =>
  Buffer.from(JSON.stringify([row.positionAt, row.id])).toString('base64url');

/** A page of `size` rows from `size + 1` read (one more tells whether there is a next page). */
function pageOf<T extends { positionAt: string; id: string }>(rows: T[], size: number, after: string | null) {
  const page = rows.slice(0, size);
  const endCursor = page.length ? cursorOf(page.at(-1)!) : after;
  return { page, pageInfo: { hasNextPage: rows.length > size, endCursor } };
}

function positionOf(cursor: string): PagePosition {
  try {
    const [at, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
    const valid = typeof at === 'string' && isTimestamp(at);
    if (valid && typeof id === 'string' && UUID.test(id)) return { at, id };
  } catch {
    // Not JSON: the same answer as a cursor of the wrong shape.
  }
  throw new BadUserInputError('not a cursor of this API (pass pageInfo.endCursor as it came)', 'after');
}

/** Users with their login methods, read in two statements whatever the number. */
async function withMethods(ctx: AdminContext, users: AdminUserRow[]): Promise<AdminUserType[]> {
  const methods = await AdminUsers.loginMethods(
    ctx.em,
    users.map((u) => u.id),
  );
  return users.map((user) => ({ ...user, loginMethods: methods.filter((m) => m.userId === user.id) }));
}

/** An `admin.read` event: what was read (the user looked at, the filters used), by which key. */
function auditRead(ctx: AdminContext, field: string, read: { userId?: string; filters?: string[] }) {
  const details = { field, ...(read.filters && { filters: read.filters }) };
  return AuditLog.write(ctx.em, ctx.source, { type: 'admin.read', userId: read.userId ?? null, details });
}

/** The admin API (docs/admin.md): finding users, disabling them, ending their sessions, deleting them. */
@Resolver()
export class AdminResolver {
  @Query(() => AdminUserType, {
    nullable: true,
    description: 'A user by id, a tombstone included; null if none.',
  })
  async user(@Arg('id', () => ID) id: string, @Ctx() ctx: AdminContext): Promise<AdminUserType | null> {
    await auditRead(ctx, 'user', { userId: userId(id) });
    const user = await AdminUsers.byId(ctx.em, userId(id));
    return user ? (await withMethods(ctx, [user]))[0]! : null;
  }

  @Query(() => AdminUserPageType, {
    description: `Live users in creation order, ${DEFAULT_PAGE} a page by default (at most ${MAX_PAGE}).`,
  })
  async users(
    @Arg('filter', () => AdminUserFilterInput, { nullable: true }) filter: AdminUserFilterInput | null,
    @Arg('first', () => Int, { nullable: true }) first: number | null,
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Ctx() ctx: AdminContext,
  ): Promise<AdminUserPageType> {
    const size = pageSize(first);
    const position = after == null ? null : positionOf(after);
    await auditRead(ctx, 'users', { filters: filterNames(filter) });
    const { page, pageInfo } = pageOf(
      await AdminUsers.page(ctx.em, filter ?? {}, position, size + 1),
      size,
      after,
    );
    return { nodes: await withMethods(ctx, page), pageInfo };
  }

  @Query(() => AdminAuditEventPageType, {
    description:
      `Audit events, newest first, ${DEFAULT_PAGE} a page by default (at most ${MAX_PAGE}); ` +
      'kept AUDIT_RETENTION_DAYS.',
  })
  async auditEvents(
    @Arg('filter', () => AdminAuditFilterInput, { nullable: true }) filter: AdminAuditFilterInput | null,
    @Arg('first', () => Int, { nullable: true }) first: number | null,
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Ctx() ctx: AdminContext,
  ): Promise<AdminAuditEventPageType> {
    const size = pageSize(first);
    const user = filter?.userId == null ? null : userId(filter.userId, 'userId');
    if (filter?.type != null && !AUDIT_TYPE_NAMES.has(filter.type)) {
      throw new BadUserInputError('not a type of audit event (docs/admin.md, "Audit events")', 'type');
    }
    const position = after == null ? null : positionOf(after);
    await auditRead(ctx, 'auditEvents', { userId: user ?? undefined, filters: filterNames(filter) });
    const rows = await AdminAudit.page(ctx.em, { ...filter, userId: user }, position, size + 1);
    const { page, pageInfo } = pageOf(rows, size, after);
    return { nodes: page.map((row) => ({ ...row, actorType: row.actorType as AdminAuditActor })), pageInfo };
  }

  @Mutation(() => AdminUserType, {
    description:
      'Disables the account (write keys): its sessions end at once, and its logins, refresh and bearer ' +
      'calls answer USER_DISABLED until enableUser. Disabling a disabled user keeps the first time and ' +
      'reason. An unknown or ended account: BAD_USER_INPUT.',
  })
  async disableUser(
    @Arg('id', () => ID) id: string,
    @Arg('reason', () => String, { description: `Why, for the operators (1-${MAX_REASON} characters).` })
    reason: string,
    @Ctx() ctx: AdminContext,
  ): Promise<AdminUserType> {
    requireWrite(ctx);
    const given = reasonOf(reason);
    const found = await ctx.em.transactional(async (tx) => {
      const disabled = await AdminUsers.disable(tx, userId(id), given, new Date());
      if (disabled) {
        const details = { reason: given, already: disabled === 'already' };
        await AuditLog.write(tx, ctx.source, { type: 'user.disabled', userId: id, details });
      }
      return disabled;
    });
    if (!found) throw noLiveUser();
    return this.live(ctx, id);
  }

  @Mutation(() => AdminUserType, {
    description:
      'Enables a disabled account again (write keys): it can sign in again; the sessions the disable ' +
      'ended stay ended. Enabling an enabled user changes nothing. An unknown or ended account: BAD_USER_INPUT.',
  })
  async enableUser(@Arg('id', () => ID) id: string, @Ctx() ctx: AdminContext): Promise<AdminUserType> {
    requireWrite(ctx);
    await ctx.em.transactional(async (tx) => {
      const enabled = await AdminUsers.enable(tx, userId(id), new Date());
      // A live user that was not disabled: nothing changed, and the call is kept as such.
      if (enabled) {
        const details = { already: enabled === 'already' };
        await AuditLog.write(tx, ctx.source, { type: 'user.enabled', userId: id, details });
      }
    });
    return this.live(ctx, id);
  }

  @Mutation(() => Int, {
    description: 'Ends every open session of the user at once (write keys): how many were open.',
  })
  async revokeSessions(@Arg('userId', () => ID) id: string, @Ctx() ctx: AdminContext): Promise<number> {
    requireWrite(ctx);
    const user = userId(id, 'userId');
    return ctx.em.transactional(async (tx) => {
      const revoked = await AdminUsers.revokeSessions(tx, user, new Date());
      const details = { count: revoked, reason: 'admin' };
      await AuditLog.write(tx, ctx.source, { type: 'sessions.revoked', userId: user, details });
      return revoked;
    });
  }

  /** A live user as the admin API shows it, after a change; BAD_USER_INPUT for none. */
  private async live(ctx: AdminContext, id: string): Promise<AdminUserType> {
    const user = await AdminUsers.byId(ctx.em, id);
    if (!user || user.deletedAt) throw noLiveUser();
    return (await withMethods(ctx, [user]))[0]!;
  }

  @Mutation(() => Boolean, {
    description:
      'Erases the account as deleteAccount does (write keys): its identities and personal data go, its ' +
      'sessions end, a tombstone keeps its id; `user.deleted` is sent. An unknown or ended account: false.',
  })
  async deleteUser(@Arg('id', () => ID) id: string, @Ctx() ctx: AdminContext): Promise<boolean> {
    requireWrite(ctx);
    const user = await AdminUsers.byId(ctx.em, userId(id));
    if (!user || user.deletedAt) return false;
    await ctx.services.lifecycle.delete(ctx.em, user.id, ctx.source);
    return true;
  }
}
