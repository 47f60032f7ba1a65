import { Arg, Authorized, Ctx, ID, Mutation, Query, Resolver, Root, Subscription } from 'type-graphql';
import { LoginTicketKind } from '../../login-tickets/login-ticket.entity.js';
import type { TicketStatus } from '../../login-tickets/login-tickets.js';
import type { Authenticated } from '../../sessions/session.service.js';
import { requestClient, type Context } from '../context.js';
import { CurrentUser } from '../current-user.js';
import { LoginTicketScanType, LoginTicketStatusType, LoginTicketType } from '../types/login-ticket.type.js';
import { toAuthPayload } from '../types/mappers.js';

const SCENE = { description: 'options.scene, as the mini program page got it from the code or link.' };

function toStatus(status: TicketStatus): LoginTicketStatusType {
  return { state: status.state, auth: status.auth ? toAuthPayload(status.auth) : null };
}

/** What the subscription's arguments are (type-graphql hands them to `subscribe` unconverted). */
interface WatchArgs {
  id: string;
  secret: string;
}

@Resolver()
export class LoginTicketResolver {
  @Mutation(() => LoginTicketType, {
    description:
      'A login ticket for a waiting page: a mini program code or an Official Account QR code to show, or a ' +
      'URL Link to open on a phone. No bearer; limited per IP.',
  })
  createLoginTicket(
    @Arg('kind', () => LoginTicketKind) kind: LoginTicketKind,
    @Arg('appId', () => String, {
      nullable: true,
      description:
        'Which mini program (OFFICIAL_ACCOUNT_QR: which official account): required when this server has ' +
        'more than one of that kind, else optional.',
    })
    appId: string | null | undefined,
    @Ctx() ctx: Context,
  ): Promise<LoginTicketType> {
    return ctx.services.loginTickets.create(ctx.em, kind, appId, ctx.clientIp);
  }

  @Authorized()
  @Mutation(() => LoginTicketScanType, {
    description:
      'The mini program page opened with a ticket’s scene, signed in (wechatMiniLogin) as the person: ' +
      'WAITING → SCANNED. Only this person may then confirm or cancel it.',
  })
  scanLoginTicket(
    @Arg('scene', () => String, SCENE) scene: string,
    @CurrentUser() auth: Authenticated,
    @Ctx() ctx: Context,
  ): Promise<LoginTicketScanType> {
    return ctx.services.loginTickets.scan(ctx.em, scene, auth.userId);
  }

  @Authorized()
  @Mutation(() => Boolean, {
    description: 'The person who scanned the ticket confirms: the waiting page gets a session of theirs.',
  })
  confirmLoginTicket(
    @Arg('scene', () => String, SCENE) scene: string,
    @CurrentUser() auth: Authenticated,
    @Ctx() ctx: Context,
  ): Promise<boolean> {
    return ctx.services.loginTickets.finish(ctx.em, scene, auth.userId, 'CONFIRMED');
  }

  @Authorized()
  @Mutation(() => Boolean, { description: 'The person who scanned the ticket declines it.' })
  cancelLoginTicket(
    @Arg('scene', () => String, SCENE) scene: string,
    @CurrentUser() auth: Authenticated,
    @Ctx() ctx: Context,
  ): Promise<boolean> {
    return ctx.services.loginTickets.finish(ctx.em, scene, auth.userId, 'CANCELLED');
  }

  @Query(() => LoginTicketStatusType, {
    name: 'loginTicket',
    description: 'A ticket’s state, for polling (every second or two) where a WebSocket is not available.',
  })
  async loginTicketNow(
    @Arg('id', () => ID) id: string,
    @Arg('secret', () => String) secret: string,
    @Ctx() ctx: Context,
  ): Promise<LoginTicketStatusType> {
    return toStatus(await ctx.services.loginTickets.status(ctx.em, id, secret, requestClient(ctx)));
  }

  @Subscription(() => LoginTicketStatusType, {
    name: 'loginTicket',
    description:
      'A ticket’s state now, then each change until a final state (graphql-ws on /graphql); ' +
      'a wrong id or secret ends the subscription with TICKET_NOT_FOUND.',
    subscribe: ({ args, context }: { args: Record<string, unknown>; context: Context }) => {
      const { id, secret } = args as unknown as WatchArgs;
      // Counted against its socket until it ends, and ended with its socket.
      const onEnd = context.stream?.admit();
      return context.services.loginTickets.watch(context.em, id, secret, requestClient(context), {
        signal: context.stream?.signal,
        onEnd,
      });
    },
  })
  loginTicketChanges(
    @Root() status: TicketStatus,
    @Arg('id', () => ID) _id: string,
    @Arg('secret', () => String) _secret: string,
  ): LoginTicketStatusType {
    return toStatus(status);
  }
}
