/**
 * On the command line of the workers a WEB_CONCURRENCY primary forks (src/server/cluster.ts), so
 * src/main.ts tells them from the workers of another cluster primary (PM2's), which run as a
 * server alone. A module of its own: src/main.ts reads it without loading the primary's code.
 */
export const WORKER_ARG = '--wechat-login-worker';
