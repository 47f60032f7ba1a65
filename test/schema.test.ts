import { readFile } from 'node:fs/promises';
import { describe, expect, it } from '@jest/globals';
import { buildAdminSchema } from '../src/graphql/admin/admin-schema.js';
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

  it('admin.schema.graphql is what the code emits, and shares nothing with the public schema but scalars and enums', async () => {
    const committed = await readFile('admin.schema.graphql', 'utf8');
    const admin = await buildAdminSchema();
    if (committed !== renderSchemaFile(admin)) {
      throw new Error('admin.schema.graphql is stale: run `npm run schema:emit` and commit it');
    }
    const publicTypes = Object.keys((await buildGraphQLSchema()).getTypeMap());
    expect(publicTypes.filter((name) => /^(Admin|Audit)/.test(name))).toEqual([]);
    expect(Object.keys(admin.getQueryType()!.getFields()).sort()).toEqual(['auditEvents', 'user', 'users']);
  });
});
