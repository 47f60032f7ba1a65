// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'dist/',
      'node_modules/',
      '.data/',
      'coverage/',
      'examples/web/dist/',
      'examples/web/src/gql/',
      'test/support/gql/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['examples/mini-program/**/*.js'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: {
        wx: 'readonly',
        module: 'writable',
        require: 'readonly',
        Page: 'readonly',
        getApp: 'readonly',
      },
    },
    // A mini program's modules are CommonJS: require() is how one file uses another.
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // Plain Node scripts: run before anything is compiled, or measure the compiled server.
    files: ['scripts/**/*.mjs', 'bench/**/*.mjs', 'test/setup/**/*.mjs'],
    languageOptions: {
      globals: { process: 'readonly', performance: 'readonly', URL: 'readonly', fetch: 'readonly' },
    },
  },
  {
    rules: {
      'no-console': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
);
