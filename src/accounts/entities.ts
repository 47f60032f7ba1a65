import { User } from './user.entity.js';
import { UserLoginMethod } from './user-login-method.entity.js';

/** Every entity the ORM knows, in one list (no folder scanning). */
export const entities = [User, UserLoginMethod];
