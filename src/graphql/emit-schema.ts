/** `npm run schema:emit`: writes schema.graphql from the type-graphql schema. */
import 'reflect-metadata';
import { writeFile } from 'node:fs/promises';
import { buildGraphQLSchema, renderSchemaFile } from './schema.js';

const schema = await buildGraphQLSchema();
await writeFile('schema.graphql', renderSchemaFile(schema));
process.stdout.write('wrote schema.graphql\n');
