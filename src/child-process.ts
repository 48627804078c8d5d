/**
 * node:child_process, loaded when a run first starts a process. Loading it pulls in net, dgram and
 * the stream modules: a few milliseconds of a local `status` that starts none, where Node's own
 * start is the whole budget. Built-in modules resolve alike from any path, hence process.execPath.
 */
import { createRequire } from 'node:module';

type ChildProcessModule = typeof import('node:child_process');

let loaded: ChildProcessModule | undefined;

/**
 * createRequire is called here, not at load: node:module is loaded on first use too
 * (scripts/first-use.mjs).
 */
export function childProcess(): ChildProcessModule {
  loaded ??= createRequire(process.execPath)('node:child_process') as ChildProcessModule;
  return loaded;
}
