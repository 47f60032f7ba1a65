import { Field, ID, InputType, Int, ObjectType } from 'type-graphql';
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
