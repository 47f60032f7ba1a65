/** `npm run schema:emit`: writes schema.graphql and admin.schema.graphql from the type-graphql schemas. */
import 'reflect-metadata';
import { writeFile } from 'node:fs/promises';
import { buildAdminSchema } from './admin/admin-schema.js';
import { buildGraphQLSchema, renderSchemaFile } from './schema.js';

await writeFile('schema.graphql', renderSchemaFile(await buildGraphQLSchema()));
await writeFile('admin.schema.graphql', renderSchemaFile(await buildAdminSchema()));
process.stdout.write('wrote schema.graphql and admin.schema.graphql\n');
