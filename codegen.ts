import type { CodegenConfig } from '@graphql-codegen/cli';

/**
 * Typed client documents from the committed schema.graphql and the operations a client needs
 * (examples/graphql/operations.graphql). `npm run codegen` writes examples/web/src/gql/ (not
 * committed). Documents are plain strings: no GraphQL library needed in the browser.
 */
const config: CodegenConfig = {
  schema: 'schema.graphql',
  documents: ['examples/graphql/*.graphql'],
  ignoreNoDocuments: false,
  generates: {
    'examples/web/src/gql/': {
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: {
        documentMode: 'string',
        useTypeImports: true,
        enumsAsTypes: true,
        scalars: { DateTime: 'string', ID: 'string' },
      },
    },
  },
};

export default config;
