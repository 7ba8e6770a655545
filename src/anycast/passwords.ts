// BGP session passwords travel from the 0600 env file to BIRD as constants in an include file
// (`define EDGE_PW_<VAR> = "…";`), so bird.conf only names them. Pure: values in, text out.
import {BgpPasswordError} from './errors.js'

/** BIRD's symbol for a password variable: prefixed, so it can never be a BIRD keyword. */
export function passwordSymbol(env: string): string {
  return `EDGE_PW_${env}`
}

/** TCP-MD5 keys are at most 80 bytes (TCP_MD5SIG_MAXKEYLEN). */
export const MAX_PASSWORD_BYTES = 80

/** The values of `names` from `env`, checked; throws BgpPasswordError naming the first bad one. */
export function readPasswords(names: readonly string[], env: Record<string, string | undefined>): Array<{env: string; value: string}> {
  return [...new Set(names)].sort().map((name) => {
    const value = env[name]
    if (value === undefined) throw new BgpPasswordError(name, 'is not set in the environment')
    if (value === '') throw new BgpPasswordError(name, 'is empty')
    if (/["\\\n\r\0]/.test(value)) throw new BgpPasswordError(name, 'holds a quote, backslash or newline, which BIRD strings cannot carry')
    if (Buffer.byteLength(value) > MAX_PASSWORD_BYTES) throw new BgpPasswordError(name, `is ${Buffer.byteLength(value)} bytes long; TCP-MD5 takes ${MAX_PASSWORD_BYTES} at most`)
    return {env: name, value}
  })
}

export function renderBirdPasswords(passwords: ReadonlyArray<{env: string; value: string}>): string {
  const lines = [
    '# BGP session passwords for bird.conf, written by `edgeproxy anycast prepare` from the environment',
    '# (edgeproxy-anycast-setup.service reads /etc/edgeproxy/bgp-passwords.env). Secret: keep it 0640 root:bird.',
  ]
  for (const p of passwords) lines.push(`define ${passwordSymbol(p.env)} = "${p.value}";`)
  return lines.join('\n') + '\n'
}
