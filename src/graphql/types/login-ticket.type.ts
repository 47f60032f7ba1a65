import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';
import { LoginTicketKind, LoginTicketState } from '../../login-tickets/login-ticket.entity.js';
import { AuthPayload } from './auth.type.js';

registerEnumType(LoginTicketKind, {
  name: 'LoginTicketKind',
  description: 'How a login ticket reaches the person.',
  valuesConfig: {
    MINI_PROGRAM_CODE: {
      description: 'A mini program code (qrCode) the website shows; the person scans it with WeChat',
    },
    MINI_PROGRAM_LINK: {
      description: 'A URL Link (link) that opens the mini program from a phone browser outside WeChat',
    },
    OFFICIAL_ACCOUNT_QR: {
      description:
        'An Official Account’s QR code (qrCode) the website shows; following the account with it, or ' +
        'scanning it when already following, is the confirmation',
    },
  },
});

registerEnumType(LoginTicketState, {
  name: 'LoginTicketState',
  description: 'Where a login ticket is; CONFIRMED, CANCELLED and EXPIRED are final.',
  valuesConfig: {
    WAITING: {
      description: 'Made; nobody has opened it in the mini program (or followed or scanned it) yet',
    },
    SCANNED: {
      description:
        'Opened in the mini program by a signed-in person, who has not decided yet (never for OFFICIAL_ACCOUNT_QR)',
    },
    CONFIRMED: {
      description: 'The person confirmed: the waiting page gets a session of theirs (auth, once)',
    },
    CANCELLED: { description: 'The person declined' },
    EXPIRED: { description: 'Not confirmed in time (LOGIN_TICKET_TTL_SECONDS)' },
  },
});

@ObjectType('LoginTicket', {
  description:
    'A waiting page’s ticket: show qrCode (or open link), then follow it with the loginTicket subscription ' +
    'or query. Keep id and secret to this page: they are what receives the session.',
})
export class LoginTicketType {
  @Field(() => ID)
  id!: string;

  @Field(() => String, {
    description: 'Only this answer carries it; never shown in a code, a link or a log.',
  })
  secret!: string;

  @Field(() => LoginTicketKind)
  kind!: LoginTicketKind;

  @Field(() => String, {
    description:
      'What the code or link carries (the mini program page’s options.scene; the QR code’s scene_str): ' +
      '32 letters and digits.',
  })
  scene!: string;

  @Field(() => Date)
  expiresAt!: Date;

  @Field(() => String, {
    nullable: true,
    description:
      'MINI_PROGRAM_CODE: the mini program code; OFFICIAL_ACCOUNT_QR: the Official Account’s QR code; ' +
      'as a data: URL (data:image/png;base64,…).',
  })
  qrCode!: string | null;

  @Field(() => String, {
    nullable: true,
    description: 'MINI_PROGRAM_LINK: the URL Link (https://wxaurl.cn/…) that opens the mini program page.',
  })
  link!: string | null;
}

@ObjectType('LoginTicketStatus')
export class LoginTicketStatusType {
  @Field(() => LoginTicketState)
  state!: LoginTicketState;

  @Field(() => AuthPayload, {
    nullable: true,
    description:
      'The session of the person who confirmed: exactly once, in the first answer after CONFIRMED ' +
      '(subscription or query, whichever asks first); null in every other answer.',
  })
  auth!: AuthPayload | null;
}

@ObjectType('LoginTicketScan', { description: 'The ticket the mini program page opened.' })
export class LoginTicketScanType {
  @Field(() => ID)
  ticketId!: string;

  @Field(() => Date, { description: 'Confirm before this.' })
  expiresAt!: Date;
}
