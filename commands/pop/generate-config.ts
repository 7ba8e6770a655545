import path from 'node:path'

import {Flags} from '@oclif/core'

import {BaseCommand} from '../../src/cli/base-command.js'
import {renderTable} from '../../src/cli/table.js'
import {canPrompt, inquirerPrompter, MissingFlagError} from '../../src/cli/prompts/prompter.js'
import {runTopologyWizard} from '../../src/cli/prompts/topology-wizard.js'
import {installedBin} from '../../src/cli/installed-bin.js'
import {commitOutput, DEFAULT_HOST_PATHS, GeneratorInputError, planPopConfigs, POP_GENERATOR, prepareSecrets, SECRETS_FILE_NAME, type FileSummary, type PopPlan} from '../../src/generators/index.js'
import {loadTopologyFile, type ParsedTopology} from '../../src/topology/index.js'

export interface PopGenerateConfigResult {
  cluster: string
  topologyFile: string
  outDir: string
  secretsFile: string
  isDryRun: boolean
  /** An existing output directory is (or would be) replaced. */
  isReplacing: boolean
  /** Names of the secrets that were made or replaced on this run (never their values). */
  secrets: {created: string[]; replaced: string[]}
  pops: Array<Omit<PopPlan, 'host'>>
  files: FileSummary[]
  warnings: string[]
}

export default class PopGenerateConfig extends BaseCommand {
  static override summary = 'Generate every file each POP of a multi-POP edge needs, from one topology file'
  static override description = `Reads a topology (YAML or JSON: cluster, gossip, wireguard, ports, pops) and writes one folder per POP under --out: corrosion.toml (Corrosion's real agent format), schema/backends.sql, edgeproxy.env, corrosion.service, edgeproxy.service, docker-compose.yml, firewall.sh (ufw), wg0.conf (full dual-stack WireGuard mesh: IPv4 and the 6PN IPv6 /64 of every POP) and README.md (start order and checks).

WireGuard private keys, the cluster's Corrosion and API tokens and the 6PN plan (the /48 and one id per POP, never renumbered) live in a 0600 secrets file (--secrets, default <out>/${SECRETS_FILE_NAME}) and are reused on every run, so the same topology always gives byte-identical files. The whole topology is checked before anything is written; the output appears at once (written to a temp directory, then renamed). On a terminal without --topology, a wizard asks for the topology and saves it.

Topology keys (defaults in brackets): cluster; gossip.port [4001], gossip.security [plaintext] or tls with gossip.tls.cert_file/key_file/ca_file; wireguard.port [51820], wireguard.network [10.50.0.0/16], wireguard.ipv6_network [auto: an RFC 4193 /48 made once and stored in the secrets file, or fdXX:XXXX:XXXX::/48], wireguard.mtu [1420], wireguard.persistent_keepalive [25], wireguard.interface [wg0]; ports.proxy [8080], ports.tls [8443], ports.api [8081], ports.corrosion_api [8090]; pops[]: name, region (sa, us, eu, ap), country (optional), public_address, wireguard_address, bgp (optional). The README has a full example.

Anycast (optional): anycast.asn, anycast.addresses, anycast.announce (prefixes covering the addresses), anycast.check.interval [2s], .timeout [1s], .rise [3], .fall [2], anycast.drain_secs [30], anycast.interface [edge-anycast]; per POP bgp.router_id [the public IPv4 address] and bgp.peers[]: address, asn, port [179], multihop, password_env, remove_private_as. A POP with bgp also gets bird.conf (BIRD 2, passes bird -p -c), anycast-gate.conf (withdrawn), anycast.env, bgp-passwords.env (0600, filled in on the host), edgeproxy-anycast-setup.service, edgeproxy-anycast.service and firewall-bgp.sh (179/tcp from its peers only).`

  static override examples = [
    {description: 'Generate the configs of every POP', command: '<%= config.bin %> <%= command.id %> --topology topology.yaml --out pops'},
    {description: 'Show what would be written, without writing', command: '<%= config.bin %> <%= command.id %> --topology topology.yaml --out pops --dry-run'},
    {description: 'Regenerate after a topology change (keys are kept)', command: '<%= config.bin %> <%= command.id %> --topology topology.yaml --out pops --force'},
    {description: 'Ask for the topology interactively and save it', command: '<%= config.bin %> <%= command.id %> --out pops'},
  ]

  static override enableJsonFlag = true

  static override flags = {
    topology: Flags.string({char: 't', summary: 'Topology file (YAML, or JSON); without it a terminal gets a wizard', helpValue: 'FILE'}),
    out: Flags.string({char: 'o', summary: 'Output directory: one folder per POP is written in it', default: 'pops', helpValue: 'DIR'}),
    secrets: Flags.string({summary: `Secrets file (WireGuard keys, tokens), created 0600 and reused [default: <out>/${SECRETS_FILE_NAME}]`, helpValue: 'FILE'}),
    'dry-run': Flags.boolean({default: false, summary: 'Check everything and print the plan; write nothing'}),
    force: Flags.boolean({default: false, summary: 'Replace an existing output directory written by edgeproxy'}),
    'corrosion-bin': Flags.string({summary: 'Path of the corrosion binary on the POPs (systemd ExecStart=)', default: DEFAULT_HOST_PATHS.corrosionBin, helpValue: 'PATH'}),
    'edgeproxy-bin': Flags.string({summary: `Path of the edgeproxy binary on the POPs (systemd ExecStart=) [default: where \`command -v edgeproxy\` finds it here, else ${DEFAULT_HOST_PATHS.edgeproxyBin}]`, helpValue: 'PATH'}),
  }

  async run(): Promise<PopGenerateConfigResult> {
    const {flags} = await this.parse(PopGenerateConfig)
    let topologyFile = flags.topology
    let parsed: ParsedTopology
    if (topologyFile === undefined) {
      if (!canPrompt(this.jsonEnabled())) throw new MissingFlagError(['--topology'])
      const wizard = await runTopologyWizard(inquirerPrompter())
      topologyFile = wizard.file
      parsed = wizard.parsed
      this.logToStderr(`Saved ${topologyFile}; next time run with --topology ${topologyFile}`)
    } else {
      parsed = loadTopologyFile(topologyFile)
    }
    for (const warning of parsed.warnings) this.warn(warning)

    const {topology} = parsed
    const secretsFile = flags.secrets ?? path.join(flags.out, SECRETS_FILE_NAME)
    const secrets = prepareSecrets(secretsFile, {cluster: topology.cluster, popNames: topology.pops.map((p) => p.name), sixpn: topology.wireguard.ipv6Network})
    for (const warning of secrets.warnings) this.warn(warning)
    const edgeproxyBin = this.edgeproxyBin(flags['edgeproxy-bin'])
    if (!path.posix.isAbsolute(flags['corrosion-bin'])) throw new GeneratorInputError('--corrosion-bin', `--corrosion-bin ${JSON.stringify(flags['corrosion-bin'])} is not an absolute path`, 'the absolute path of corrosion on the POPs, for example /usr/local/bin/corrosion')
    const plan = planPopConfigs(topology, secrets.secrets, {...DEFAULT_HOST_PATHS, corrosionBin: flags['corrosion-bin'], edgeproxyBin: edgeproxyBin.path})
    const committed = commitOutput({
      outDir: flags.out,
      generator: POP_GENERATOR,
      files: plan.files,
      secretsFile,
      secrets,
      isForced: flags.force,
      isDryRun: flags['dry-run'],
    })

    const result: PopGenerateConfigResult = {
      cluster: topology.cluster,
      topologyFile,
      outDir: committed.outDir,
      secretsFile: committed.secretsFile,
      isDryRun: committed.isDryRun,
      isReplacing: committed.isReplacing,
      secrets: {created: secrets.created, replaced: secrets.replaced},
      pops: plan.pops.map(({host: _host, ...pop}) => pop),
      files: committed.files,
      warnings: [...parsed.warnings, ...secrets.warnings, ...(edgeproxyBin.warning ? [edgeproxyBin.warning] : [])],
    }
    this.printSummary(result)
    return result
  }

  /** --edgeproxy-bin, else where this machine has edgeproxy installed, else the usual npm -g path (with a warning). */
  private edgeproxyBin(flag: string | undefined): {path: string; warning?: string} {
    if (flag !== undefined) {
      if (!path.posix.isAbsolute(flag)) throw new GeneratorInputError('--edgeproxy-bin', `--edgeproxy-bin ${JSON.stringify(flag)} is not an absolute path`, 'the absolute path of edgeproxy on the POPs, for example /usr/local/bin/edgeproxy (command -v edgeproxy there)')
      return {path: flag}
    }
    const found = installedBin('edgeproxy')
    if (found !== undefined) return {path: found}
    const warning = `edgeproxy is not installed on this machine (command -v edgeproxy finds nothing): the units run ${DEFAULT_HOST_PATHS.edgeproxyBin}, where npm install -g puts it; pass --edgeproxy-bin if the POPs have it elsewhere`
    this.warn(warning)
    return {path: DEFAULT_HOST_PATHS.edgeproxyBin, warning}
  }

  private printSummary(result: PopGenerateConfigResult): void {
    const hasSixpn = result.pops.some((pop) => pop.sixpn !== undefined)
    const table = renderTable(
      [
        {header: 'POP'},
        {header: 'REGION', canShrink: false},
        {header: 'WIREGUARD', canShrink: false},
        ...(hasSixpn ? [{header: '6PN', canShrink: false}] : []),
        {header: 'FILES', canShrink: false},
        {header: 'BOOTSTRAP PEERS'},
      ],
      result.pops.map((pop) => [
        pop.name,
        pop.country ? `${pop.region} (${pop.country})` : pop.region,
        pop.wireguardAddress,
        ...(hasSixpn ? [pop.sixpn?.subnet ?? '-'] : []),
        `${pop.name}/ (${pop.files.length})`,
        pop.bootstrapPeers.length === 0 ? '-' : pop.bootstrapPeers.map((n, i) => `${n} ${pop.bootstrap[i]}`).join(', '),
      ]),
    )
    if (result.isDryRun) {
      this.log(`Dry run: nothing written. ${result.isReplacing ? 'Would replace' : 'Would create'} ${result.outDir} with:`)
      for (const file of result.files) this.log(`  ${file.mode}  ${String(file.bytes).padStart(6)}  ${file.path}`)
    }
    this.log(table)
    const verb = result.isDryRun ? 'Would write' : 'Wrote'
    this.log(`${verb} ${result.files.length} files to ${result.outDir}${result.isReplacing ? ' (replacing the previous output)' : ''}.`)
    const made = result.secrets.created.length === 0 ? 'all reused' : `new: ${result.secrets.created.join(', ')}`
    this.log(`Secrets: ${result.secretsFile} (mode 0600; ${made}). Keep it safe: it holds every private key and token.`)
  }
}
