/** Browser tests (playwright-core + Debian's Chromium): `npm run test:browser`, run by .ci/run. */
import base from './jest.config.js';

export default {
  ...base,
  roots: ['<rootDir>/test-browser'],
  testTimeout: 120000,
  maxWorkers: 1,
};
