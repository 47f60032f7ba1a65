/**
 * Prints, at the end of a run, each skipped test and why: only tests that need a PostgreSQL server
 * may be skipped (on the embedded database; see test/support/real-postgres.ts). A test skipped for
 * any other reason (an `it.skip` left behind) fails the run.
 */
export default class SkipReporter {
  #error;
  #filtered;

  constructor(globalConfig) {
    // `npm test -- -t name` skips every other test on purpose.
    this.#filtered = Boolean(globalConfig.testNamePattern);
  }

  onRunComplete(_contexts, results) {
    const skipped = results.testResults.flatMap((file) =>
      file.testResults
        .filter((test) => test.status === 'pending' || test.status === 'todo')
        .map((test) => test.fullName),
    );
    const needServer = skipped.filter((name) => name.includes('[needs TEST_DATABASE_URL'));
    const other = skipped.filter((name) => !needServer.includes(name));
    const lines = [];
    if (needServer.length > 0) {
      lines.push(
        `${needServer.length} test(s) skipped: they need a PostgreSQL server (TEST_DATABASE_URL=postgresql://…), ` +
          'which the embedded database, a single session, cannot stand in for:',
        ...needServer.map((name) => `  - ${name}`),
      );
    }
    if (other.length > 0 && !this.#filtered) {
      lines.push(
        `${other.length} test(s) skipped with no reason (remove the skip):`,
        ...other.map((n) => `  - ${n}`),
      );
      this.#error = new Error(`${other.length} test(s) skipped with no reason`);
    }
    if (lines.length > 0) process.stderr.write(`\n${lines.join('\n')}\n`);
  }

  getLastError() {
    return this.#error;
  }
}
