/**
 * node:child_process, loaded when a run first starts a process. Loading it pulls in net, dgram and
 * the stream modules: a few milliseconds of a local `status` that starts none, where Node's own
 * start is the whole budget. Built-in modules resolve alike from any path, hence process.execPath.
 */
import { createRequire } from 'node:module';

type ChildProcessModule = typeof import('node:child_process');

const load = createRequire(process.execPath);
let loaded: ChildProcessModule | undefined;

export function childProcess(): ChildProcessModule {
  loaded ??= load('node:child_process') as ChildProcessModule;
  return loaded;
}
