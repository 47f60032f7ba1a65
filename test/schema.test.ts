import { readFile } from 'node:fs/promises';
import { describe, expect, it } from '@jest/globals';
import { buildGraphQLSchema, renderSchemaFile } from '../src/graphql/schema.js';

describe('schema.graphql', () => {
  it('is what the code emits (run `npm run schema:emit` and commit the file if this fails)', async () => {
    const committed = await readFile('schema.graphql', 'utf8');
    const emitted = renderSchemaFile(await buildGraphQLSchema());
    if (committed !== emitted) {
      throw new Error('schema.graphql is stale: run `npm run schema:emit` and commit schema.graphql');
    }
    expect(committed).toContain('type Query');
  });
});
