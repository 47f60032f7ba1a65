import type { EntityManager } from '@mikro-orm/postgresql';
import DataLoader from 'dataloader';
import type { UserLoginMethod } from '../../identity/user-login-method.entity.js';
import { UserRepository } from '../../identity/user.repository.js';

/**
 * Login methods by user id for one request: however many fields or aliases ask for
 * `loginMethods`, one query answers them all.
 */
export function createLoginMethodsLoader(em: EntityManager): DataLoader<string, UserLoginMethod[]> {
  return new DataLoader(async (userIds) => {
    const methods = await UserRepository.loginMethodsOf(em, userIds);
    const byUser = new Map<string, UserLoginMethod[]>(userIds.map((id) => [id, []]));
    for (const method of methods) byUser.get(method.user.id)?.push(method);
    return userIds.map((id) => byUser.get(id)!);
  });
}
