import { printSchema, type GraphQLSchema } from 'graphql';
import { GraphQLDateTime } from 'graphql-scalars';
import { buildSchema } from 'type-graphql';
import { authChecker } from './auth-checker.js';
import { AccountResolver } from './resolvers/account.resolver.js';
import { LoginResolver } from './resolvers/login.resolver.js';
import { ProfileResolver } from './resolvers/profile.resolver.js';
import { PhoneNumberResolver } from './resolvers/phone-number.resolver.js';
import { SessionResolver } from './resolvers/session.resolver.js';
import { UserResolver } from './resolvers/user.resolver.js';

/** Builds the executable schema once per process; resolvers are created per build. */
export function buildGraphQLSchema(): Promise<GraphQLSchema> {
  return buildSchema({
    resolvers: [
      SessionResolver,
      LoginResolver,
      ProfileResolver,
      PhoneNumberResolver,
      AccountResolver,
      UserResolver,
    ],
    scalarsMap: [{ type: Date, scalar: GraphQLDateTime }],
    authChecker,
    validate: false,
  });
}

/** What `schema.graphql` must contain: a header and the SDL the code emits. */
export function renderSchemaFile(schema: GraphQLSchema): string {
  return (
    '# Generated from the code by `npm run schema:emit`; do not edit by hand.\n\n' +
    printSchema(schema) +
    '\n'
  );
}
