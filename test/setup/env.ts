import 'reflect-metadata';

// A test that writes to the console fails: output goes through the logger, which tests capture.
for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
  // eslint-disable-next-line no-console -- replacing the console is the point here
  console[method] = (...args: unknown[]) => {
    throw new Error(`console.${method} called during a test: ${args.map(String).join(' ').slice(0, 500)}`);
  };
}
