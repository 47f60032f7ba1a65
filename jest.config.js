/** Jest 30 + @swc/jest, ESM (run under NODE_OPTIONS=--experimental-vm-modules). */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      {
        jsc: {
          parser: { syntax: 'typescript', decorators: true },
          transform: { legacyDecorator: true, decoratorMetadata: true, useDefineForClassFields: false },
          target: 'es2022',
          keepClassNames: true,
        },
        module: { type: 'es6' },
        sourceMaps: 'inline',
      },
    ],
  },
  setupFiles: ['<rootDir>/test/setup/env.ts'],
  // On the embedded database: one migrated database that every test file starts from a copy of.
  globalSetup: '<rootDir>/test/setup/embedded-template.mjs',
  // Prints why tests were skipped (only those that need a PostgreSQL server may be).
  reporters: ['default', '<rootDir>/test/setup/skip-reporter.mjs'],
  testTimeout: 30000,
  maxWorkers: 2,
};
