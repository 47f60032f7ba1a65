// `node --import ./test/support/module-log.mjs …`: appends the URL of every module the process
// loads to the file named by MODULE_LOG (tests check what a process loaded).
import { register } from 'node:module';

register('./module-log.hooks.mjs', import.meta.url);
