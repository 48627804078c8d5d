import { join } from 'node:path';
import { StapctlError } from '../errors.js';
import { localFiles, unlessNotInSnapshot, type HostFiles } from './host-files.js';

/**
 * The stock stap_get_arch (stap-env), itself a copy of the kernel Makefile's SUBARCH: the name
 * stap-serverd and its clients agree on. Patterns are tried in the stock order.
 */
export function normalizeArch(machineName: string): string {
  const rules: [RegExp, string][] = [
    [/^i.86$/, 'i386'],
    [/^sun4u$/, 'sparc64'],
    [/^arm/, 'arm'],
    [/^sa1/, 'arm'],
    [/^s390/, 's390'],
    [/^aarch64$/, 'arm64'],
    [/^ppc/, 'powerpc'],
    [/^mips/, 'mips'],
    [/^sh.$/, 'sh'],
  ];
  return rules.find(([pattern]) => pattern.test(machineName))?.[1] ?? machineName;
}

export function hostArch(host: HostFiles = localFiles): string {
  return normalizeArch(host.machine());
}

export function runningRelease(host: HostFiles = localFiles): string {
  return host.release();
}

/**
 * `ls` and glob order in the C locale, as the stock script lists status files, configs and
 * releases: bytes, not UTF-16 code units or locale collation.
 */
export function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/**
 * The releases `-i` serves: what `ls /lib/modules` lists, directories only (a symlink to one
 * counts). The stock script does an unchecked `cd /lib/modules` and then lists the wrong folder.
 */
export function installedReleases(libModules: string, host: HostFiles = localFiles): string[] {
  let names: string[];
  try {
    names = host.list(libModules);
  } catch (error) {
    unlessNotInSnapshot(error);
    const reason = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new StapctlError('NO_LIB_MODULES', `cannot list kernel releases in ${libModules} (${reason})`, {
      file: libModules,
      hint: 'install a kernel (or its modules) there, or name releases with -r instead of -i',
    });
  }
  return names
    .filter((name) => !name.startsWith('.'))
    .filter((name) => {
      try {
        return host.kind(join(libModules, name)) === 'directory';
      } catch (error) {
        unlessNotInSnapshot(error);
        return false;
      }
    })
    .sort(byteOrder);
}

/** What `-r PATH` serves: the release a kernel build tree was configured for, if it says. */
export function kernelReleaseOf(buildTree: string, host: HostFiles = localFiles): string | undefined {
  let text: string;
  try {
    text = host.readText(join(buildTree, 'include', 'config', 'kernel.release'));
  } catch (error) {
    unlessNotInSnapshot(error);
    return undefined;
  }
  const first = text.split('\n')[0]?.trim() ?? '';
  return first === '' ? undefined : first;
}
