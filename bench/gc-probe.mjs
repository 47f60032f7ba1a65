// Runs the server given as the first argument (dist/src/main.js) in this process, which Node
// started with --expose-gc, and answers each IPC message 'measure' with the process's memory after
// a full garbage collection: what the bench's memory figures read (bench/tickets.ts).
process.on('message', (message) => {
  if (message !== 'measure') return;
  globalThis.gc();
  globalThis.gc();
  process.send(process.memoryUsage());
});
await import(new URL(process.argv[2], `file://${process.cwd()}/`).href);
