import { posix } from 'node:path';
import type { GlobalConfig } from './config-file.js';

/**
 * Where the service keeps its files. Every path here is a host path: the in-root path prefixed
 * with `root`, as `systemctl --root` does, so several simulated hosts can share one machine.
 *
 * `logFileInRoot` is the one in-root path kept beside its host path: status files record the
 * log as the server's host sees it (`LOG=/var/log/stap-server/log`), so that the stock script
 * running inside the root reads the same file; the host path is what we open.
 */
export interface ServicePaths {
  root: string;
  /** The global config file (`/etc/sysconfig/stap-server`). */
  configFile: string;
  /** The directory of per-server configs (`CONFIG_PATH`, `/etc/stap-server/conf.d`). */
  configPath: string;
  /** The directory of `<pid>.stat` files (`STAT_PATH`, `/var/run/stap-server`). */
  statPath: string;
  /** The service log (`LOG_FILE`, `/var/log/stap-server/log`) as a host path. */
  logFile: string;
  /** The same log as seen inside the root: the value recorded in status files. */
  logFileInRoot: string;
  /** One folder per installed kernel release (`/lib/modules`). */
  libModules: string;
  /** STAP_USER of the global config, when set: the default server user. */
  stapUser?: string;
}

/** The stock script's defaults, as seen inside the root. */
const DEFAULT_CONFIG_FILE = '/etc/sysconfig/stap-server';
const DEFAULT_CONFIG_PATH = '/etc/stap-server/conf.d';
const DEFAULT_STAT_PATH = '/var/run/stap-server';
const DEFAULT_LOG_FILE = '/var/log/stap-server/log';
const LIB_MODULES = '/lib/modules';

/** The host path of `path` as seen inside `root`. With root `/` the path is returned as given. */
export function inRoot(root: string, path: string): string {
  const base = posix.resolve('/', root);
  if (base === '/') return path;
  return posix.join(base, posix.resolve('/', path));
}

export function defaultPaths(root = '/'): ServicePaths {
  return {
    root,
    configFile: inRoot(root, DEFAULT_CONFIG_FILE),
    configPath: inRoot(root, DEFAULT_CONFIG_PATH),
    statPath: inRoot(root, DEFAULT_STAT_PATH),
    logFile: inRoot(root, DEFAULT_LOG_FILE),
    logFileInRoot: DEFAULT_LOG_FILE,
    libModules: inRoot(root, LIB_MODULES),
  };
}

/**
 * `paths` with the settings of a global config applied (its paths are as seen inside the root).
 * Applied once per file in reading order, so a later file's settings win, as in the stock script.
 */
export function withGlobalConfig(paths: ServicePaths, config: GlobalConfig): ServicePaths {
  const { root } = paths;
  return {
    ...paths,
    ...(config.configPath !== undefined && { configPath: inRoot(root, config.configPath) }),
    ...(config.statPath !== undefined && { statPath: inRoot(root, config.statPath) }),
    ...(config.logFile !== undefined && {
      logFile: inRoot(root, config.logFile),
      logFileInRoot: config.logFile,
    }),
    ...(config.stapUser !== undefined && { stapUser: config.stapUser }),
  };
}
