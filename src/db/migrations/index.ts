import type { MigrationObject } from '@mikro-orm/core';
import { Migration20261121135635 } from './Migration20261121135635.js';
import { Migration20261121140951 } from './Migration20261121140951.js';
import { Migration20261121143011 } from './Migration20261121143011.js';
import { Migration20261121202955 } from './Migration20261121202955.js';
import { Migration20261121222819 } from './Migration20261121222819.js';
import { Migration20261121223521 } from './Migration20261121223521.js';
import { Migration20261121223700 } from './Migration20261121223700.js';
import { Migration20261121232234 } from './Migration20261121232234.js';
import { Migration20261121233000 } from './Migration20261121233000.js';
import { Migration20261122001143 } from './Migration20261122001143.js';
import { Migration20261122002407 } from './Migration20261122002407.js';
import { Migration20261122003620 } from './Migration20261122003620.js';
import { Migration20261207005823 } from './Migration20261207005823.js';
import { Migration20261207021553 } from './Migration20261207021553.js';
import { Migration20261207032722 } from './Migration20261207032722.js';
import { Migration20261207041040 } from './Migration20261207041040.js';
import { Migration20261207041302 } from './Migration20261207041302.js';
import { Migration20261207041649 } from './Migration20261207041649.js';
import { Migration20261207063540 } from './Migration20261207063540.js';
import { Migration20261207064539 } from './Migration20261207064539.js';
import { Migration20261207115854 } from './Migration20261207115854.js';

/** Checked-in migrations in the order they apply; `npm run migration:create` appends to this list. */
export const migrationsList: MigrationObject[] = [
  { name: 'Migration20261121135635', class: Migration20261121135635 },
  { name: 'Migration20261121140951', class: Migration20261121140951 },
  { name: 'Migration20261121143011', class: Migration20261121143011 },
  { name: 'Migration20261121202955', class: Migration20261121202955 },
  { name: 'Migration20261121222819', class: Migration20261121222819 },
  { name: 'Migration20261121223521', class: Migration20261121223521 },
  { name: 'Migration20261121223700', class: Migration20261121223700 },
  { name: 'Migration20261121232234', class: Migration20261121232234 },
  { name: 'Migration20261121233000', class: Migration20261121233000 },
  { name: 'Migration20261122001143', class: Migration20261122001143 },
  { name: 'Migration20261122002407', class: Migration20261122002407 },
  { name: 'Migration20261122003620', class: Migration20261122003620 },
  { name: 'Migration20261207005823', class: Migration20261207005823 },
  { name: 'Migration20261207021553', class: Migration20261207021553 },
  { name: 'Migration20261207032722', class: Migration20261207032722 },
  { name: 'Migration20261207041040', class: Migration20261207041040 },
  { name: 'Migration20261207041302', class: Migration20261207041302 },
  { name: 'Migration20261207041649', class: Migration20261207041649 },
  { name: 'Migration20261207063540', class: Migration20261207063540 },
  { name: 'Migration20261207064539', class: Migration20261207064539 },
  { name: 'Migration20261207115854', class: Migration20261207115854 },
];
