import { Arg, Ctx, Field, Int, ObjectType, Query, Resolver } from 'type-graphql';
import type { JsSdkConfig } from '../../logins/js-sdk.js';
import type { Context } from '../context.js';

@ObjectType('WechatJsSdkConfig', {
  description: 'What wx.config takes on an official account’s page inside WeChat, besides jsApiList.',
})
export class WechatJsSdkConfigType implements JsSdkConfig {
  @Field(() => String)
  appId!: string;

  @Field(() => Int, { description: 'Unix time in seconds, as signed.' })
  timestamp!: number;

  @Field(() => String)
  nonceStr!: string;

  @Field(() => String, { description: 'SHA-1 over the jsapi_ticket, nonceStr, timestamp and the page URL.' })
  signature!: string;
}

@Resolver()
export class JsSdkResolver {
  @Query(() => WechatJsSdkConfigType, {
    description:
      'The JS-SDK config of a page inside WeChat (wx.config), signed for `url`: the page’s own URL ' +
      '(location.href; the fragment is dropped). Only pages whose origin is in the official account’s ' +
      'redirect allowlist (always, in production).',
  })
  wechatJsSdkConfig(
    @Arg('url', () => String) url: string,
    @Arg('appId', () => String, {
      nullable: true,
      description: 'Which official account: required when this server has more than one, else optional.',
    })
    appId: string | null | undefined,
    @Ctx() ctx: Context,
  ): Promise<WechatJsSdkConfigType> {
    return ctx.services.jsSdk.sign(ctx.em, url, appId);
  }
}
