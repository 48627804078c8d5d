/**
 * A TCP port as every input of stapctl writes one (a config file's PORT, --port, an inventory's
 * port, ssh's Port and ProxyJump hops): decimal digits naming 1-65535. One check, so that no input
 * accepts a port another refuses.
 */
export const PORT_RANGE = '1-65535';

export function parsePort(text: string): number | undefined {
  if (!/^[0-9]+$/.test(text)) return undefined;
  const port = Number(text);
  return port >= 1 && port <= 65535 ? port : undefined;
}

export function isPort(value: number): boolean {
  return Number.isInteger(value) && value >= 1 && value <= 65535;
}

/** An address and port as ssh and URLs write them: an IPv6 address in brackets, so the port stays readable. */
export function hostPort(address: string, port: number): string {
  return `${address.includes(':') ? `[${address}]` : address}:${port}`;
}
