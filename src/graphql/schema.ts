import { printSchema, type GraphQLSchema } from 'graphql';
import { GraphQLDateTime } from 'graphql-scalars';
import { buildSchema, type PubSub } from 'type-graphql';
import { authChecker } from './auth-checker.js';
import { AccountResolver } from './resolvers/account.resolver.js';
import { JsSdkResolver } from './resolvers/js-sdk.resolver.js';
import { LoginResolver } from './resolvers/login.resolver.js';
import { LoginTicketResolver } from './resolvers/login-ticket.resolver.js';
import { ProfileResolver } from './resolvers/profile.resolver.js';
import { PhoneNumberResolver } from './resolvers/phone-number.resolver.js';
import { SessionResolver } from './resolvers/session.resolver.js';
import { UserResolver } from './resolvers/user.resolver.js';

/**
 * type-graphql wants a PubSub as soon as a schema has a subscription, even when every subscription
 * brings its own `subscribe` (ours: LoginTickets.watch). Topics are not used here: this one refuses.
 */
const NO_TOPICS: PubSub = {
  publish() {
    throw new Error('subscriptions here have their own subscribe function; there are no topics');
  },
  subscribe() {
    throw new Error('subscriptions here have their own subscribe function; there are no topics');
  },
};

/** Builds the executable schema once per process; resolvers are created per build. */
export function buildGraphQLSchema(): Promise<GraphQLSchema> {
  return buildSchema({
    resolvers: [
      SessionResolver,
      LoginResolver,
      LoginTicketResolver,
      JsSdkResolver,
      ProfileResolver,
      PhoneNumberResolver,
      AccountResolver,
      UserResolver,
    ],
    scalarsMap: [{ type: Date, scalar: GraphQLDateTime }],
    authChecker,
    pubSub: NO_TOPICS,
    validate: false,
  });
}

/** What `schema.graphql` (and `admin.schema.graphql`) must contain: a header and the SDL the code emits. */
export function renderSchemaFile(schema: GraphQLSchema): string {
  return (
    '# Generated from the code by `npm run schema:emit`; do not edit by hand.\n\n' +
    printSchema(schema) +
    '\n'
  );
}
