import { Field, InputType } from 'type-graphql';

/**
 * What WeChat appended to the redirect URI, and what the client kept from the authorize call: the
 * fields of the website and official account logins. Decorated so the two inherit its fields; it
 * is no type of the schema itself (nothing refers to it).
 */
@InputType()
abstract class RedirectLoginFields {
  @Field(() => String)
  code!: string;

  @Field(() => String, { description: 'The state of the authorize URL, as it came back.' })
  state!: string;

  @Field(() => String, {
    nullable: true,
    description: 'The redirectUri the authorize URL was made for; when given, it must match the state.',
  })
  redirectUri?: string | null;

  @Field(() => String, {
    nullable: true,
    description:
      'PKCE: the codeVerifier whose base64url(SHA-256) was the codeChallenge of the authorize URL. ' +
      'Required when the state was made with a codeChallenge, refused when it was not.',
  })
  codeVerifier?: string | null;

  @Field(() => String, {
    nullable: true,
    description:
      'Which app the authorize URL was made for: required when this server has more than one of the kind.',
  })
  appId?: string | null;
}

@InputType({ description: 'A website QR login: the code and state WeChat appended to the redirect URI.' })
export class WechatWebLoginInput extends RedirectLoginFields {}

@InputType({
  description:
    'An official account page login (a web page inside WeChat): the code and state WeChat appended to the redirect URI.',
})
export class WechatOfficialAccountLoginInput extends RedirectLoginFields {}

@InputType({ description: 'A native app login: the code from the WeChat SDK (SendAuth).' })
export class WechatAppLoginInput {
  @Field(() => String)
  code!: string;

  @Field(() => String, {
    nullable: true,
    description: 'Which mobile app: required when this server has more than one, else optional.',
  })
  appId?: string | null;
}

@InputType({
  description: 'A mini program login: the wx.login code, and optionally the signed or encrypted profile.',
})
export class WechatMiniLoginInput {
  @Field(() => String, { description: 'The code from wx.login().' })
  code!: string;

  @Field(() => String, { nullable: true, description: 'From wx.getUserProfile; comes with iv.' })
  encryptedData?: string | null;

  @Field(() => String, { nullable: true })
  iv?: string | null;

  @Field(() => String, { nullable: true, description: 'From wx.getUserProfile; comes with signature.' })
  rawData?: string | null;

  @Field(() => String, { nullable: true })
  signature?: string | null;

  @Field(() => String, {
    nullable: true,
    description: 'Which mini program: required when this server has more than one, else optional.',
  })
  appId?: string | null;

  @Field(() => String, {
    nullable: true,
    description:
      'One-tap "log in with phone": the code of the getPhoneNumber button (e.detail.code), not a wx.login ' +
      'code. Exchanged after the login code, with its openid; the number is stored with this login.',
  })
  phoneCode?: string | null;
}
