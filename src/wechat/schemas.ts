import { z } from 'zod';

/** An id WeChat may leave out or send empty (unionid): undefined either way. */
export const optionalId = z
  .string()
  .optional()
  .transform((s) => (s ? s : undefined));
