/**
 * ProxyCommand, as ssh runs it: the command line from the user's ssh config (trusted, as the user's
 * own ssh trusts it) goes to `sh -c`, and the connection runs over its stdin and stdout.
 */
import { spawn } from 'node:child_process';
import { Duplex } from 'node:stream';

export interface ProxyCommandProcess {
  /** What ssh2 speaks SSH over. */
  socket: Duplex;
  /** The end of what the command wrote on stderr, for the error when the connection fails. */
  stderr(): string;
  /** Ends the command (our own child, by its PID) if it still runs. */
  stop(): void;
}

/** Enough of stderr to explain a failure without holding a chatty command's whole output. */
const STDERR_LIMIT = 4096;

export function startProxyCommand(command: string): ProxyCommandProcess {
  // `exec` as ssh does: the shell is replaced by the command, so stopping the child stops it.
  const child = spawn('/bin/sh', ['-c', `exec ${command}`], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-STDERR_LIMIT);
  });
  const socket = Duplex.from({ readable: child.stdout, writable: child.stdin });
  child.on('error', (error) => socket.destroy(error));
  // A command that exits before the peer closed leaves ssh2 waiting: its end is the connection's end.
  child.on('exit', () => socket.push(null));
  return {
    socket,
    stderr: () => stderr.trim(),
    stop: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    },
  };
}
