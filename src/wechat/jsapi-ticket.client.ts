import { z } from 'zod';
import { ENDPOINTS } from './endpoints.js';
import type { WeChatHttp } from './http.js';

const TicketResponse = z.object({
  ticket: z.string().min(1).max(512),
  expires_in: z.number().int().positive(),
});

/** An official account's JS-SDK ticket with its app access token. */
export class JsapiTicketClient {
  constructor(private readonly http: WeChatHttp) {}

  /**
   * `cgi-bin/ticket/getticket?type=jsapi`: the ticket and its seconds to live (7200). A read with a
   * token we hold: retried after -1, 5xx and resets.
   * https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/JS-SDK.html#62
   */
  async ticket(accessToken: string): Promise<{ ticket: string; expiresInSeconds: number }> {
    const body = await this.http.get(
      ENDPOINTS.jsapiTicket,
      { access_token: accessToken, type: 'jsapi' },
      TicketResponse,
      'idempotent',
    );
    return { ticket: body.ticket, expiresInSeconds: body.expires_in };
  }
}
