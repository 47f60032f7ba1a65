import { Arg, Ctx, Mutation, Query, Resolver } from 'type-graphql';
import type { Context } from '../../server/context.js';
import { WechatAppLoginInput, WechatMiniLoginInput, WechatWebLoginInput } from '../inputs/login.input.js';
import { AuthPayload, WechatAuthorizeUrl } from '../types/auth.type.js';
import { toAuthPayload } from '../types/mappers.js';

@Resolver()
export class LoginResolver {
  @Query(() => WechatAuthorizeUrl, {
    description: 'The WeChat QR login URL for a website, and its state (valid once, for 10 minutes).',
  })
  wechatWebAuthorizeUrl(
    @Arg('redirectUri', () => String) redirectUri: string,
    @Ctx() ctx: Context,
  ): WechatAuthorizeUrl {
    return ctx.services.logins.webAuthorizeUrl(redirectUri);
  }

  @Mutation(() => AuthPayload, {
    description: 'Website QR login: exchanges the code WeChat redirected back with.',
  })
  async wechatWebLogin(
    @Arg('input', () => WechatWebLoginInput) input: WechatWebLoginInput,
    @Ctx() ctx: Context,
  ) {
    return toAuthPayload(await ctx.services.logins.webLogin(ctx.em, input, ctx.request.ip));
  }

  @Mutation(() => AuthPayload, { description: 'Native app login with the code from the WeChat SDK.' })
  async wechatAppLogin(
    @Arg('input', () => WechatAppLoginInput) input: WechatAppLoginInput,
    @Ctx() ctx: Context,
  ) {
    return toAuthPayload(await ctx.services.logins.appLogin(ctx.em, input, ctx.request.ip));
  }

  @Mutation(() => AuthPayload, { description: 'Mini program login with the wx.login code.' })
  async wechatMiniLogin(
    @Arg('input', () => WechatMiniLoginInput) input: WechatMiniLoginInput,
    @Ctx() ctx: Context,
  ) {
    return toAuthPayload(await ctx.services.logins.miniLogin(ctx.em, input, ctx.request.ip));
  }
}
