import { RateLimitBucket } from './rate-limit-bucket.entity.js';
import { RefreshToken } from './refresh-token.entity.js';
import { Session } from './session.entity.js';
import { User } from './user.entity.js';
import { UserLoginMethod } from './user-login-method.entity.js';
import { WebLoginState } from './web-login-state.entity.js';

/** Every entity the ORM knows, in one list (no folder scanning). */
export const entities = [User, UserLoginMethod, Session, RefreshToken, WebLoginState, RateLimitBucket];
