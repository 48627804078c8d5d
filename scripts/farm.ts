/**
 * Brings the namespace test farm (test/fleet/farm.ts) up or down from a shell, for the demo, the
 * benchmarks and CI:
 *
 *   node --import tsx scripts/farm.ts up --hosts 4 --dir DIR [--first-address 127.0.1.1]
 *   node --import tsx scripts/farm.ts down --dir DIR
 *
 * `up` leaves the hosts running after it exits; `up --json` prints the farm's files and hosts.
 */
import { parseArgs } from 'node:util';
import { ansibleSshArgs, startFarm, stopFarm } from '../test/fleet/farm.js';

const USAGE = `usage: farm.ts up --hosts N --dir DIR [--first-address ADDR] [--json]
       farm.ts down --dir DIR`;

async function main(argv: string[]): Promise<void> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      hosts: { type: 'string' },
      dir: { type: 'string' },
      'first-address': { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const [action, ...extra] = positionals;
  if (values.dir === undefined || extra.length > 0) throw new UsageError(USAGE);

  if (action === 'down') {
    const started = performance.now();
    await stopFarm(values.dir);
    console.error(`farm in ${values.dir} is down (${seconds(started)})`);
    return;
  }
  if (action !== 'up') throw new UsageError(USAGE);

  const hosts = Number(values.hosts);
  if (!Number.isInteger(hosts) || hosts < 1) throw new UsageError(`--hosts needs a positive whole number, got "${values.hosts ?? ''}"\n${USAGE}`);
  const started = performance.now();
  const farm = await startFarm({ dir: values.dir, hosts, ...(values['first-address'] !== undefined && { firstAddress: values['first-address'] }) });
  if (values.json) {
    const { dir, inventoryFile, knownHostsFile, sshConfigFile, clientKey } = farm;
    console.log(JSON.stringify({ dir, inventoryFile, knownHostsFile, sshConfigFile, clientKey, hosts: farm.hosts }, null, 2));
    return;
  }
  const first = farm.hosts[0];
  const last = farm.hosts.at(-1);
  console.log(`${farm.hosts.length} hosts up in ${seconds(started)}: ${first?.name} (${first?.address}) .. ${last?.name} (${last?.address})`);
  console.log(`inventory:   ${farm.inventoryFile}`);
  console.log(`known_hosts: ${farm.knownHostsFile}`);
  console.log(`ssh:         ssh -F ${farm.sshConfigFile} ${first?.name}`);
  console.log(`ansible:     ANSIBLE_SSH_COMMON_ARGS='${ansibleSshArgs(farm.knownHostsFile).ANSIBLE_SSH_COMMON_ARGS}' ansible -i ${farm.inventoryFile} farm -m ping`);
  console.log(`tear down:   node --import tsx scripts/farm.ts down --dir ${farm.dir}`);
}

class UsageError extends Error {}

function seconds(since: number): string {
  return `${((performance.now() - since) / 1000).toFixed(1)} s`;
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = error instanceof UsageError ? 2 : 1;
});
