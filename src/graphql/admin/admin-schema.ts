import type { GraphQLSchema } from 'graphql';
import { GraphQLDateTime } from 'graphql-scalars';
import { buildSchema } from 'type-graphql';
import { AdminResolver } from './admin.resolver.js';

/** The admin API's schema: its own, never merged into the public one (docs/admin.md). */
export function buildAdminSchema(): Promise<GraphQLSchema> {
  return buildSchema({
    resolvers: [AdminResolver],
    scalarsMap: [{ type: Date, scalar: GraphQLDateTime }],
    // type-graphql checks @Authorized across every resolver it has seen (the public ones too); the
    // admin API authorizes by key and scope itself (src/server/admin-api.ts, requireWrite).
    authChecker: () => false,
    validate: false,
  });
}
