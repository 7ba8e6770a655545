import path from 'node:path'

import {Flags} from '@oclif/core'

import {BaseCommand} from '../../src/cli/base-command.js'
import {readSecretsFile, SecretsFileError, SECRETS_FILE_NAME} from '../../src/generators/index.js'
import {describePopAddress, type PopAddressResult} from '../../src/sixpn/index.js'

const DEFAULT_SECRETS = path.join('pops', SECRETS_FILE_NAME)

export default class PopAddress extends BaseCommand {
  static override summary = "Print a POP's 6PN (IPv6 private network) addresses, or the address of a backend at that POP"
  static override description = `A pure function of the stored 6PN plan (the cluster's /48 and each POP's id, kept in the secrets file by pop generate-config): the POP's /64 subnet, its WireGuard address (::1), its DNS address (::3), and with --app and --instance a backend address P:<pop_id>:<app_hash16>:<instance48> inside that /64. Every other POP routes the whole /64 over WireGuard, so a backend bound to that address is reachable from all of them.`

  static override examples = [
    {description: "A POP's subnet and its WireGuard and DNS addresses", command: '<%= config.bin %> <%= command.id %> --pop sa'},
    {description: 'The address instance 7 of app web binds at POP sa', command: '<%= config.bin %> <%= command.id %> --pop sa --app web --instance 7 --json'},
  ]

  static override enableJsonFlag = true

  static override flags = {
    pop: Flags.string({summary: 'POP name, as in the topology', required: true, helpValue: 'NAME'}),
    app: Flags.string({summary: 'App the backend serves (with --instance: the backend address)', helpValue: 'APP'}),
    instance: Flags.string({summary: 'Backend number within its app at this POP, 0-281474976710655 (with --app)', helpValue: 'N'}),
    secrets: Flags.string({summary: `Secrets file that holds the 6PN plan [default: ${DEFAULT_SECRETS}]`, helpValue: 'FILE'}),
  }

  async run(): Promise<PopAddressResult> {
    const {flags} = await this.parse(PopAddress)
    const file = flags.secrets ?? DEFAULT_SECRETS
    const stored = readSecretsFile(file)
    if (!stored) {
      throw new SecretsFileError(file, 'does not exist', {suggestion: 'run edgeproxy pop generate-config first, or pass --secrets the file it wrote (<out>/secrets.json)'})
    }
    if (!stored.sixpn) {
      throw new SecretsFileError(file, 'has no 6PN plan yet (it predates 6PN)', {suggestion: 'run edgeproxy pop generate-config --force once with this secrets file: it adds the plan and keeps every key'})
    }
    const result = describePopAddress(stored.sixpn, {pop: flags.pop, app: flags.app, instance: flags.instance})
    this.log(`POP ${result.pop} (6PN id ${result.popId}) in ${result.network}`)
    this.log(`  subnet     ${result.subnet}`)
    this.log(`  wireguard  ${result.wireguardAddress}`)
    this.log(`  dns        ${result.dnsAddress}`)
    if (result.backend) this.log(`  backend    ${result.address}  (app ${result.backend.app}, hash ${result.backend.appHash}, instance ${result.backend.instance})`)
    return result
  }
}
