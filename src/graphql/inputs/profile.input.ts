import { Field, InputType } from 'type-graphql';

@InputType({
  description:
    'The person’s own nickname and avatar (a mini program’s chooseAvatar button and nickname input). ' +
    'Give one or both; a field left out or null stays as it is.',
})
export class UpdateProfileInput {
  @Field(() => String, {
    nullable: true,
    description:
      'Trimmed; 1–64 characters (Unicode code points: an emoji is one); no control characters, line ' +
      'separators or bidi overrides; not WeChat’s anonymous "微信用户".',
  })
  nickname?: string | null;

  @Field(() => String, {
    nullable: true,
    description:
      'An absolute https:// URL of at most 2048 characters, without a user name or password, where ' +
      'your product keeps the picture (in development also http://127.0.0.1 or http://localhost).',
  })
  avatarUrl?: string | null;
}
