/**
 * What a client needs to use this host's running servers: per managed server its port, arch,
 * releases and the certificate it presents (DER, read by root from the server's certificate
 * directory: `--ssl` when set, else ~USER/.systemtap/ssl/server, where stap-gen-cert puts it).
 */
import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isMissingFile, StapctlError, type SerializedError } from '../errors.js';
import { loadGlobalConfig } from '../service/config-file.js';
import { defaultPaths, inRoot, withGlobalConfig } from '../service/paths.js';
import { isServerProcess, listeningPorts, readProcess } from '../service/proc.js';
import { certificatePath } from '../service/server-process.js';
import { readStatusFiles } from '../service/status-file.js';
import { homeOf, lookupUser } from '../service/users.js';
import { fingerprintOf } from './client-trust.js';

export interface ServerEndpoint {
  nickname: string;
  pid: number;
  port: number;
  arch: string;
  releases: string[];
  /** The server's certificate, DER in base64, and its SHA-256 fingerprint. */
  certificate?: string;
  fingerprint?: string;
}

export interface EndpointReport {
  endpoints: ServerEndpoint[];
  exitCode: number;
  errors: SerializedError[];
}

const MAX_CERT_BYTES = 64 * 1024;

export function readEndpoints(root = '/'): EndpointReport {
  const errors: SerializedError[] = [];
  let paths = defaultPaths(root);
  const global = loadGlobalConfig(paths.configFile, { homeOf });
  if (global.errors[0] !== undefined) return { endpoints: [], exitCode: 1, errors: global.errors.map((error) => error.toJSON()) };
  paths = withGlobalConfig(paths, global.config);
  const status = readStatusFiles(paths.statPath);
  errors.push(...status.errors.map((error) => error.toJSON()));
  const endpoints: ServerEndpoint[] = [];
  for (const { pid, spec } of status.entries) {
    const user = lookupUser(spec.user);
    if (user === undefined || !isServerProcess(readProcess(pid), user.uid)) continue;
    const [port] = listeningPorts(pid);
    if (port === undefined) continue;
    const certFile = spec.ssl === '' ? certificatePath(user) : join(inRoot(root, spec.ssl), 'stap.cert');
    const endpoint: ServerEndpoint = { nickname: spec.nickname, pid, port, arch: spec.arch, releases: spec.releases };
    try {
      const der = readCertificateFile(certFile);
      endpoints.push({ ...endpoint, certificate: der.toString('base64'), fingerprint: fingerprintOf(der) });
    } catch (error) {
      if (!(error instanceof StapctlError) && !isMissingFile(error) && !(error instanceof Error && /certificate|asn1|PEM|ELOOP/i.test(error.message))) throw error;
      errors.push(new StapctlError('CERT_FAILED', `server ${spec.nickname}: no readable certificate at ${certFile}`, { file: certFile, hint: 'the server makes it at its first start (stap-gen-cert)' }).toJSON());
      endpoints.push(endpoint);
    }
  }
  return { endpoints, exitCode: errors.length > 0 ? 1 : 0, errors };
}

/**
 * The server account owns its certificate directory: root reads the file there without following
 * a symlink and only if it is a regular file of certificate size, so that nothing else is sent.
 */
function readCertificateFile(file: string): Buffer {
  const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile() || stats.size > MAX_CERT_BYTES) throw new StapctlError('CERT_FAILED', `${file} is not a certificate file`, { file });
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}
