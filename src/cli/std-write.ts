/**
 * A local run's output, written to file descriptors 1 and 2 with write(2). The first use of
 * process.stdout or process.stderr loads Node's stream modules (and node:net on a pipe): more CPU
 * than all that `stapctl status` does. When write(2) cannot take everything (a non-blocking pipe
 * that is full, a reader gone), the rest, and all later output to that descriptor, goes through
 * Node's stream, which then behaves exactly as it would have from the start.
 */
import { writeSync } from 'node:fs';

const viaStream = new Set<1 | 2>();

function write(fd: 1 | 2, text: string): void {
  if (text === '') return;
  const stream = () => (fd === 1 ? process.stdout : process.stderr);
  if (viaStream.has(fd)) {
    stream().write(text);
    return;
  }
  const bytes = Buffer.from(text);
  let written = 0;
  try {
    while (written < bytes.length) written += writeSync(fd, bytes, written);
  } catch {
    viaStream.add(fd);
    stream().write(bytes.subarray(written));
  }
}

export const writeStdout = (text: string): void => write(1, text);
export const writeStderr = (text: string): void => write(2, text);
