/**
 * The publickey request of an identity file's key, sent signed at once.
 *
 * ssh2 first asks the server whether it would accept a key (a request without a signature, which
 * sshd answers with PK_OK) and signs only then: a round trip and a packet each way more on every
 * connection, and sshd checks authorized_keys twice. RFC 4252 (7) lets a client send the signed
 * request straight away; sshd answers it as it answers the signed one that follows a PK_OK, and a
 * refused key costs one failed attempt either way. The signature covers this connection's session
 * identifier, which exists only once the host key has been verified, so nothing is signed for a
 * host stapctl has not checked, and nothing signed is of use on another connection.
 *
 * Only keys held in this process are signed at once. An ssh-agent's keys are still offered first:
 * an agent may ask its user to confirm each signature (`ssh-add -c`), and a signature there is a
 * round trip to the agent.
 */
import type ssh2 from 'ssh2';
import type { ParsedKey } from 'ssh2';

type SignCallback = (data: Buffer, send: (signature: Buffer) => void) => void;
type AuthPK = (this: unknown, username: string, key: ParsedKey, keyAlgo?: string | SignCallback, sign?: SignCallback) => void;

/** The hash of each key algorithm ssh2 names for RSA (its getKeyAlgos); other keys name none. */
const RSA_HASH: Readonly<Record<string, string>> = { 'rsa-sha2-512': 'sha512', 'rsa-sha2-256': 'sha256', 'ssh-rsa': 'sha1' };

/**
 * ssh2 offers no option for it: its protocol object's authPK, which its client calls to ask, is
 * given a signing callback for keys with a private half, as ssh2 itself does after a PK_OK. Left
 * alone if ssh2 ever names it differently (test/fleet/ssh/transport.integration.test.ts then fails).
 */
export function signPublicKeyRequestsAtOnce(client: ssh2.Client): void {
  const protocol = (client as unknown as { _protocol?: { authPK?: AuthPK } })._protocol;
  const ask = protocol?.authPK;
  if (protocol === undefined || typeof ask !== 'function') return;
  protocol.authPK = function (username, key, keyAlgo, sign) {
    if (sign !== undefined || typeof keyAlgo === 'function' || !holdsPrivateHalf(key)) {
      ask.call(this, username, key, keyAlgo, sign);
      return;
    }
    const hash = keyAlgo === undefined ? undefined : RSA_HASH[keyAlgo];
    ask.call(this, username, key, keyAlgo, (data, send) => {
      const signature = key.sign(data, hash) as Buffer | Error;
      // Asked about as before instead: after the PK_OK ssh2 signs again, fails and reports it its way.
      if (signature instanceof Error) ask.call(this, username, key, keyAlgo);
      else send(signature);
    });
  };
}

function holdsPrivateHalf(key: ParsedKey): boolean {
  return typeof key === 'object' && key !== null && typeof key.isPrivateKey === 'function' && key.isPrivateKey();
}
