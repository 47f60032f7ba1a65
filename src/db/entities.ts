import { AdminKey } from '../admin/admin-key.entity.js';
import { AuditEvent } from '../audit/audit-event.entity.js';
import { AppAccessToken } from '../app-tokens/app-access-token.entity.js';
import { JsapiTicket } from '../app-tokens/jsapi-ticket.entity.js';
import { UserLoginMethod } from '../identity/user-login-method.entity.js';
import { User } from '../identity/user.entity.js';
import { SigningKey } from '../keys/signing-key.entity.js';
import { LoginTicket } from '../login-tickets/login-ticket.entity.js';
import { HandledPush } from '../official-account/handled-push.entity.js';
import { OidcPayload } from '../oidc/oidc-payload.entity.js';
import { WebLoginState } from '../logins/web-login-state.entity.js';
import { RateLimitBucket } from '../rate-limits/rate-limit-bucket.entity.js';
import { RateLimitEntry } from '../rate-limits/rate-limit.entity.js';
import { RefreshToken } from '../sessions/refresh-token.entity.js';
import { Session } from '../sessions/session.entity.js';
import { WebhookDelivery } from '../webhooks/webhook-delivery.entity.js';

/** Every entity the ORM knows, from every concern, in one list (no folder scanning). */
export const entities = [
  User,
  UserLoginMethod,
  Session,
  RefreshToken,
  WebLoginState,
  RateLimitBucket,
  RateLimitEntry,
  SigningKey,
  AppAccessToken,
  WebhookDelivery,
  LoginTicket,
  JsapiTicket,
  HandledPush,
  AdminKey,
  AuditEvent,
  OidcPayload,
];
