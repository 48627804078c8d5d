/**
 * The transports a fleet run can use, by the names --transport, the config file and
 * STAPCTL_TRANSPORT take. Apart from the transports themselves, so that parsing the command line
 * loads neither ssh2 nor the ssh client's code.
 */
export const TRANSPORTS = ['ssh2', 'openssh'] as const;
export type TransportName = (typeof TRANSPORTS)[number];
