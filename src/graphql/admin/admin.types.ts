import { GraphQLJSONObject } from 'graphql-scalars';
import { Field, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { LoginMethodKind } from '../../identity/user-login-method.entity.js';
// Registers LoginMethodKind's GraphQL enum (the same enum in both schemas).
import '../types/user.type.js';

@ObjectType('AdminLoginMethod', { description: 'One WeChat identity of a user.' })
export class AdminLoginMethodType {
  @Field(() => LoginMethodKind)
  kind!: LoginMethodKind;

  @Field(() => String)
  appId!: string;

  @Field(() => String)
  openId!: string;

  @Field(() => String, { nullable: true })
  unionId!: string | null;

  @Field(() => Date)
  createdAt!: Date;

  @Field(() => Date)
  lastLoginAt!: Date;

  @Field(() => Date, {
    nullable: true,
    description: 'An official account identity: when WeChat said the person stopped following it.',
  })
  unsubscribedAt!: Date | null;
}

@ObjectType('AdminUser', {
  description: 'A user as an operator sees them. Never the phone number: only whether there is one.',
})
export class AdminUserType {
  @Field(() => ID)
  id!: string;

  @Field(() => String, { nullable: true })
  nickname!: string | null;

  @Field(() => String, { nullable: true })
  avatarUrl!: string | null;

  @Field(() => String, { nullable: true })
  unionId!: string | null;

  @Field(() => Boolean)
  hasPhoneNumber!: boolean;

  @Field(() => Date)
  createdAt!: Date;

  @Field(() => Date)
  updatedAt!: Date;

  @Field(() => Date, {
    nullable: true,
    description: 'Set for a deleted or merged-away account (a tombstone).',
  })
  deletedAt!: Date | null;

  @Field(() => ID, { nullable: true, description: 'A merged-away account: the user it was merged into.' })
  mergedIntoId!: string | null;

  @Field(() => Date, {
    nullable: true,
    description:
      'Set while the account is disabled (disableUser): its logins, refresh and bearer calls answer USER_DISABLED.',
  })
  disabledAt!: Date | null;

  @Field(() => String, { nullable: true, description: 'The reason given to disableUser.' })
  disabledReason!: string | null;

  @Field(() => Int, { description: 'Sessions open now (not revoked, not expired).' })
  activeSessions!: number;

  @Field(() => [AdminLoginMethodType])
  loginMethods!: AdminLoginMethodType[];
}

@ObjectType('AdminPageInfo')
export class AdminPageInfoType {
  @Field(() => String, { nullable: true, description: 'Pass as `after` for the next page.' })
  endCursor!: string | null;

  @Field(() => Boolean)
  hasNextPage!: boolean;
}

@ObjectType('AdminUserPage', { description: 'Users in creation order; `pageInfo.endCursor` continues.' })
export class AdminUserPageType {
  @Field(() => [AdminUserType])
  nodes!: AdminUserType[];

  @Field(() => AdminPageInfoType)
  pageInfo!: AdminPageInfoType;
}

@InputType('AdminUserFilter', { description: 'Every field given must match exactly.' })
export class AdminUserFilterInput {
  @Field(() => String, { nullable: true, description: 'A login method with this openid.' })
  openId?: string | null;

  @Field(() => String, { nullable: true })
  unionId?: string | null;

  @Field(() => String, {
    nullable: true,
    description: 'E.164 (+8613800138000): matched, never shown.',
  })
  phoneNumber?: string | null;

  @Field(() => String, { nullable: true, description: 'A login method of this app.' })
  appId?: string | null;

  @Field(() => Boolean, { nullable: true, description: 'true: only disabled users; false: only the others.' })
  disabled?: boolean | null;
}

/** Who did what an audit event records (the column's values are the lower-case names). */
export enum AdminAuditActor {
  USER = 'user',
  ADMIN_KEY = 'admin_key',
  SYSTEM = 'system',
  ANONYMOUS = 'anonymous',
}

registerEnumType(AdminAuditActor, {
  name: 'AuditActor',
  description: 'Who did it.',
  valuesConfig: {
    USER: { description: 'The person (actorId: their user id).' },
    ADMIN_KEY: { description: 'An admin API key (actorId: its id, actorName: its name).' },
    SYSTEM: { description: 'The server itself (a WeChat push, housekeeping).' },
    ANONYMOUS: {
      description: 'Nobody known: a refresh token presented again, a failed login of nobody we know.',
    },
  },
});

@ObjectType('AuditEvent', {
  description:
    'One thing that happened, written with the change it records (docs/admin.md, "Audit events"). ' +
    'Never a code, token, secret, session key or phone number.',
})
export class AdminAuditEventType {
  @Field(() => ID)
  id!: string;

  @Field(() => Date)
  occurredAt!: Date;

  @Field(() => String, {
    description: '`login.succeeded`, `user.disabled`, … (the catalogue in docs/admin.md).',
  })
  type!: string;

  @Field(() => ID, {
    nullable: true,
    description: 'The account it concerns; null for a failed login of nobody known.',
  })
  userId!: string | null;

  @Field(() => AdminAuditActor)
  actorType!: AdminAuditActor;

  @Field(() => String, { nullable: true, description: "The user's id, or the admin key's id." })
  actorId!: string | null;

  @Field(() => String, { nullable: true, description: "The admin key's name." })
  actorName!: string | null;

  @Field(() => String, { nullable: true, description: "A login's WeChat app." })
  appId!: string | null;

  @Field(() => String, { nullable: true, description: "A login's openid in that app." })
  openId!: string | null;

  @Field(() => String, {
    nullable: true,
    description: "A failure's error code (the answer's extensions.code).",
  })
  errorCode!: string | null;

  @Field(() => GraphQLJSONObject, {
    nullable: true,
    description:
      "Kinds, names of fields, counts: what else it takes to read the event; never a person's values (a disable's reason is the operator's text).",
  })
  details!: Record<string, unknown> | null;

  @Field(() => String, {
    nullable: true,
    description: "The client's network: its address cut to /24 (IPv4) or /48 (IPv6).",
  })
  ipPrefix!: string | null;

  @Field(() => String, { nullable: true })
  userAgent!: string | null;

  @Field(() => String, { nullable: true, description: "The request's x-request-id, to find its log lines." })
  requestId!: string | null;
}

@ObjectType('AuditEventPage', { description: 'Audit events newest first; `pageInfo.endCursor` continues.' })
export class AdminAuditEventPageType {
  @Field(() => [AdminAuditEventType])
  nodes!: AdminAuditEventType[];

  @Field(() => AdminPageInfoType)
  pageInfo!: AdminPageInfoType;
}

@InputType('AuditEventFilter', { description: 'Every field given must match.' })
export class AdminAuditFilterInput {
  @Field(() => ID, { nullable: true, description: "One user's events." })
  userId?: string | null;

  @Field(() => String, { nullable: true, description: 'Events of this type (`login.failed`, …).' })
  type?: string | null;

  @Field(() => Date, { nullable: true, description: 'Events at or after this time.' })
  since?: Date | null;

  @Field(() => Date, { nullable: true, description: 'Events before this time.' })
  until?: Date | null;
}
