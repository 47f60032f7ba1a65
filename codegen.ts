import { existsSync } from 'node:fs';
import type { CodegenConfig } from '@graphql-codegen/cli';

const clientConfig = {
  documentMode: 'string',
  useTypeImports: true,
  enumsAsTypes: true,
  scalars: { DateTime: 'string', ID: 'string' },
} as const;

/**
 * Typed client documents from the committed schema.graphql. Neither output is committed; both are
 * written again by `npm run codegen` and by `npm run check` (before tsc, which checks them):
 * - examples/web/src/gql/: the operations a client needs (examples/graphql/operations.graphql).
 *   Documents are plain strings: no GraphQL library needed in the browser.
 * - test/support/gql/: the types of the test client's operations (test/support/operations.graphql).
 *   test/support/client.ts imports only types from it, which the test transform erases, so
 *   `npm test` runs without it; the client reads the documents from the .graphql file itself.
 *   Only where the tests are: a copy of the repository without test/ (what scripts/build.mjs
 *   builds the example page in) generates the example's types alone.
 */
const TEST_OPERATIONS = 'test/support/operations.graphql';

const config: CodegenConfig = {
  schema: 'schema.graphql',
  ignoreNoDocuments: false,
  generates: {
    'examples/web/src/gql/': {
      documents: ['examples/graphql/*.graphql'],
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: clientConfig,
    },
    ...(existsSync(TEST_OPERATIONS) && {
      'test/support/gql/': {
        documents: [TEST_OPERATIONS],
        preset: 'client',
        presetConfig: { fragmentMasking: false },
        // Imports ending in .js, as this package's NodeNext resolution wants.
        config: { ...clientConfig, skipTypename: true, emitLegacyCommonJSImports: false },
      },
    }),
  },
};

export default config;
