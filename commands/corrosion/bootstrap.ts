import os from 'node:os'
import path from 'node:path'

import {Flags} from '@oclif/core'

import {installedBin} from '../../src/cli/installed-bin.js'
import {BaseCommand} from '../../src/cli/base-command.js'
import {askBootstrapRequired} from '../../src/cli/prompts/bootstrap-prompts.js'
import {canPrompt, inquirerPrompter, MissingFlagError} from '../../src/cli/prompts/prompter.js'
import {BOOTSTRAP_GENERATOR, commitOutput, DEFAULT_CORROSION_PATHS, DEFAULT_HOST_PATHS, formatSocketAddress, planBootstrap, prepareSecrets, redactSecrets, resolveBootstrapSettings, SECRETS_FILE_NAME, type FileSummary} from '../../src/generators/index.js'
import {TOPOLOGY_DEFAULTS} from '../../src/topology/index.js'

export interface CorrosionBootstrapResult {
  cluster: string
  name: string
  region: string
  outDir: string
  secretsFile: string
  isDryRun: boolean
  isReplacing: boolean
  gossipAddr: string
  bootstrap: string[]
  gossipSecurity: 'plaintext' | 'tls'
  apiAddr: string
  secrets: {created: string[]; replaced: string[]}
  files: FileSummary[]
  /** --dry-run only: each file's content with every secret replaced by <redacted>. */
  preview?: Record<string, string>
  /** --show-token only. */
  corrosionToken?: string
  apiToken?: string
  warnings: string[]
}

const GROUP_AGENT = 'CORROSION AGENT'
const GROUP_EDGEPROXY = 'EDGEPROXY'
const GROUP_HOST = 'HOST'

/** This host's short name as a valid name, or undefined when it cannot be one. */
function defaultHostName(): string | undefined {
  const short = os.hostname().split('.')[0]!.toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/^-+|-+$/g, '').slice(0, 32)
  return short === '' ? undefined : short
}

export default class CorrosionBootstrap extends BaseCommand {
  static override summary = "Write this host's Corrosion agent config, schema, systemd units, env file, compose file and firewall rules"
  static override description = `Writes into --out (default ./corrosion): corrosion.toml in Corrosion's real format (db.path, db.schema_paths, gossip.addr, gossip.bootstrap, TLS for gossip unless --plaintext, api.addr on loopback, api.authz bearer-token, admin.path), schema/backends.sql, corrosion.service and edgeproxy.service (Requires=corrosion.service), edgeproxy.env with the EDGEPROXY_CORROSION_* settings, docker-compose.yml with Corrosion as a sidecar, firewall.sh (gossip is QUIC over UDP) and README.md.

The bearer token is generated once and kept in a 0600 secrets file (--secrets, default <out>/${SECRETS_FILE_NAME}), reused on later runs and never printed unless --show-token. The files are the same ones \`edgeproxy pop generate-config\` writes per POP. On a terminal, missing required values are asked for; otherwise the run fails naming the flag.`

  static override examples = [
    {
      description: 'The first agent of a cluster, gossiping plaintext inside WireGuard',
      command: '<%= config.bin %> <%= command.id %> --region sa --gossip-addr 10.50.1.1:4001 --plaintext',
    },
    {
      description: 'A second agent, seeded from the first, with gossip TLS',
      command: '<%= config.bin %> <%= command.id %> --region eu --gossip-addr 10.50.3.1:4001 --bootstrap 10.50.1.1:4001',
    },
    {description: 'Print the files (tokens redacted) instead of writing them', command: '<%= config.bin %> <%= command.id %> --region us --gossip-addr 10.50.2.1:4001 --dry-run'},
  ]

  static override enableJsonFlag = true

  static override flags = {
    out: Flags.string({char: 'o', summary: 'Output directory', default: './corrosion', helpValue: 'DIR'}),
    secrets: Flags.string({summary: `Secrets file (tokens), created 0600 and reused [default: <out>/${SECRETS_FILE_NAME}]`, helpValue: 'FILE'}),
    'dry-run': Flags.boolean({default: false, summary: 'Print the files (secrets redacted) instead of writing them'}),
    force: Flags.boolean({default: false, summary: 'Replace an existing output directory written by edgeproxy'}),
    'show-token': Flags.boolean({default: false, summary: 'Also print the Corrosion and API tokens (they are otherwise only in the 0600 files)'}),

    cluster: Flags.string({summary: 'Cluster name, recorded in the secrets file', default: 'edge', helpGroup: GROUP_HOST}),
    name: Flags.string({summary: "This host's name in descriptions [default: the short hostname]", helpGroup: GROUP_HOST}),
    region: Flags.string({summary: 'Region of this POP (sa, us, eu, ap); asked for when missing', env: 'EDGEPROXY_REGION', helpGroup: GROUP_HOST}),
    country: Flags.string({summary: 'ISO 3166-1 alpha-2 country of this POP', helpGroup: GROUP_HOST}),
    'private-interface': Flags.string({summary: 'Interface the other agents reach this one over (firewall rules; wg-quick unit when wg*)', default: TOPOLOGY_DEFAULTS.wireguard.interface, helpGroup: GROUP_HOST}),
    'wireguard-port': Flags.integer({summary: "UDP port of the WireGuard tunnel (firewall.sh opens it when --private-interface is wg*)", default: TOPOLOGY_DEFAULTS.wireguard.port, min: 1, max: 65535, helpGroup: GROUP_HOST}),
    'env-path': Flags.string({summary: 'Where edgeproxy.env is installed (EnvironmentFile=)', default: DEFAULT_HOST_PATHS.edgeproxyEnv, helpGroup: GROUP_HOST}),
    'corrosion-bin': Flags.string({summary: 'Path of the corrosion binary', default: DEFAULT_HOST_PATHS.corrosionBin, helpGroup: GROUP_HOST}),
    'edgeproxy-bin': Flags.string({summary: `Path of the edgeproxy binary (systemd ExecStart=) [default: where \`command -v edgeproxy\` finds it here, else ${DEFAULT_HOST_PATHS.edgeproxyBin}]`, helpGroup: GROUP_HOST}),

    'gossip-addr': Flags.string({summary: 'gossip.addr: IP:port other agents reach this one on (UDP); asked for when missing', helpValue: 'IP:PORT', helpGroup: GROUP_AGENT}),
    bootstrap: Flags.string({summary: 'gossip.bootstrap: other agents, comma-separated host:port', helpValue: 'HOST:PORT,...', helpGroup: GROUP_AGENT}),
    plaintext: Flags.boolean({default: false, summary: 'Gossip without TLS (only inside WireGuard or another encrypted network)', helpGroup: GROUP_AGENT}),
    'tls-cert': Flags.string({summary: 'gossip.tls.cert_file', default: TOPOLOGY_DEFAULTS.gossip.tls.cert_file, helpGroup: GROUP_AGENT}),
    'tls-key': Flags.string({summary: 'gossip.tls.key_file', default: TOPOLOGY_DEFAULTS.gossip.tls.key_file, helpGroup: GROUP_AGENT}),
    'tls-ca': Flags.string({summary: 'gossip.tls.ca_file', default: TOPOLOGY_DEFAULTS.gossip.tls.ca_file, helpGroup: GROUP_AGENT}),
    'tls-client-cert': Flags.string({summary: 'gossip.tls.client.cert_file (mutual TLS: the certificate this agent presents to its peers)', default: TOPOLOGY_DEFAULTS.gossip.tls.client_cert_file, helpGroup: GROUP_AGENT}),
    'tls-client-key': Flags.string({summary: 'gossip.tls.client.key_file', default: TOPOLOGY_DEFAULTS.gossip.tls.client_key_file, helpGroup: GROUP_AGENT}),
    'max-mtu': Flags.string({summary: 'gossip.max_mtu (>= 1200; 1392 under a 1420-MTU WireGuard) [default: autodetect]', helpValue: 'BYTES', helpGroup: GROUP_AGENT}),
    'api-addr': Flags.string({summary: 'api.addr (keep it on loopback)', default: `127.0.0.1:${TOPOLOGY_DEFAULTS.ports.corrosion_api}`, helpValue: 'IP:PORT', helpGroup: GROUP_AGENT}),
    token: Flags.string({summary: 'api.authz bearer-token [default: from the secrets file, else generated]', env: 'EDGEPROXY_CORROSION_TOKEN', helpGroup: GROUP_AGENT}),
    'db-path': Flags.string({summary: 'db.path', default: DEFAULT_CORROSION_PATHS.dbPath, helpGroup: GROUP_AGENT}),
    'schema-dir': Flags.string({summary: 'db.schema_paths (backends.sql goes there)', default: DEFAULT_CORROSION_PATHS.schemaDir, helpGroup: GROUP_AGENT}),
    'admin-path': Flags.string({summary: 'admin.path (admin socket)', default: DEFAULT_CORROSION_PATHS.adminPath, helpGroup: GROUP_AGENT}),
    'config-path': Flags.string({summary: 'Where corrosion.toml is installed (corrosion --config)', default: DEFAULT_HOST_PATHS.corrosionConfig, helpGroup: GROUP_AGENT}),

    listen: Flags.string({summary: 'EDGEPROXY_LISTEN_ADDR of the proxy', default: `0.0.0.0:${TOPOLOGY_DEFAULTS.ports.proxy}`, helpValue: 'HOST:PORT', helpGroup: GROUP_EDGEPROXY}),
    'tls-listen': Flags.string({summary: 'EDGEPROXY_TLS_LISTEN_ADDR', default: `0.0.0.0:${TOPOLOGY_DEFAULTS.ports.tls}`, helpValue: 'HOST:PORT', helpGroup: GROUP_EDGEPROXY}),
    'api-listen': Flags.string({summary: 'EDGEPROXY_API_LISTEN_ADDR of the Auto-Discovery API', default: `127.0.0.1:${TOPOLOGY_DEFAULTS.ports.api}`, helpValue: 'HOST:PORT', helpGroup: GROUP_EDGEPROXY}),
    'api-token': Flags.string({summary: 'EDGEPROXY_API_TOKEN [default: from the secrets file, else generated]', env: 'EDGEPROXY_API_TOKEN', helpGroup: GROUP_EDGEPROXY}),
  }

  async run(): Promise<CorrosionBootstrapResult> {
    const {flags} = await this.parse(CorrosionBootstrap)
    let region = flags.region
    let gossipAddr = flags['gossip-addr']
    const name = flags.name ?? defaultHostName()
    const missing = [region === undefined ? '--region' : null, gossipAddr === undefined ? '--gossip-addr' : null, name === undefined ? '--name' : null].filter(
      (f): f is string => f !== null,
    )
    if (missing.length > 0) {
      if (name === undefined || !canPrompt(this.jsonEnabled())) throw new MissingFlagError(missing)
      ;({region, gossipAddr} = await askBootstrapRequired(inquirerPrompter(), {region, gossipAddr}))
    }

    const settings = resolveBootstrapSettings({
      cluster: flags.cluster,
      name: name!,
      region: region!,
      country: flags.country,
      gossipAddr: gossipAddr!,
      bootstrap: flags.bootstrap,
      isPlaintext: flags.plaintext,
      tlsCert: flags['tls-cert'],
      tlsKey: flags['tls-key'],
      tlsCa: flags['tls-ca'],
      tlsClientCert: flags['tls-client-cert'],
      tlsClientKey: flags['tls-client-key'],
      apiAddr: flags['api-addr'],
      dbPath: flags['db-path'],
      schemaDir: flags['schema-dir'],
      adminPath: flags['admin-path'],
      configPath: flags['config-path'],
      maxMtu: flags['max-mtu'],
      listen: flags.listen,
      tlsListen: flags['tls-listen'],
      apiListen: flags['api-listen'],
      privateInterface: flags['private-interface'],
      wireguardPort: flags['wireguard-port'],
      corrosionBin: flags['corrosion-bin'],
      edgeproxyBin: flags['edgeproxy-bin'] ?? installedBin('edgeproxy') ?? DEFAULT_HOST_PATHS.edgeproxyBin,
      envPath: flags['env-path'],
    })
    for (const warning of settings.warnings) this.warn(warning)

    const secretsFile = flags.secrets ?? path.join(flags.out, SECRETS_FILE_NAME)
    const secrets = prepareSecrets(secretsFile, {
      cluster: settings.cluster,
      ...(flags.token !== undefined ? {corrosionToken: {value: flags.token, flag: '--token'}} : {}),
      ...(flags['api-token'] !== undefined ? {apiToken: {value: flags['api-token'], flag: '--api-token'}} : {}),
    })
    for (const warning of secrets.warnings) this.warn(warning)
    const plan = planBootstrap(settings, secrets.secrets)
    const committed = commitOutput({
      outDir: flags.out,
      generator: BOOTSTRAP_GENERATOR,
      files: plan.files,
      secretsFile,
      secrets,
      isForced: flags.force,
      isDryRun: flags['dry-run'],
    })

    const preview = committed.isDryRun ? Object.fromEntries(plan.files.map((f) => [f.path, redactSecrets(f.content, plan.secretValues)])) : undefined
    const result: CorrosionBootstrapResult = {
      cluster: settings.cluster,
      name: settings.name,
      region: settings.region,
      outDir: committed.outDir,
      secretsFile: committed.secretsFile,
      isDryRun: committed.isDryRun,
      isReplacing: committed.isReplacing,
      gossipAddr: formatSocketAddress(settings.gossipAddr),
      bootstrap: settings.bootstrap,
      gossipSecurity: settings.tls ? 'tls' : 'plaintext',
      apiAddr: formatSocketAddress(settings.apiAddr),
      secrets: {created: secrets.created, replaced: secrets.replaced},
      files: committed.files,
      ...(preview ? {preview} : {}),
      ...(flags['show-token'] ? {corrosionToken: secrets.secrets.corrosionToken, apiToken: secrets.secrets.apiToken} : {}),
      warnings: [...settings.warnings, ...secrets.warnings],
    }

    if (preview) {
      this.log(`Dry run: nothing written. ${committed.isReplacing ? 'Would replace' : 'Would create'} ${committed.outDir} with (secrets redacted):`)
      for (const [file, content] of Object.entries(preview)) this.log(`\n==> ${file} <==\n${content.replace(/\n$/, '')}`)
      this.log('')
    }
    this.log(`${committed.isDryRun ? 'Would write' : 'Wrote'} ${committed.files.length} files to ${committed.outDir}:`)
    for (const file of committed.files) this.log(`  ${file.mode}  ${file.path}`)
    const made = secrets.created.length === 0 ? 'reused' : `new: ${secrets.created.join(', ')}`
    this.log(`Tokens: ${committed.secretsFile} (mode 0600; ${made}).${flags['show-token'] ? '' : ' Pass --show-token to print them.'}`)
    if (flags['show-token']) {
      this.log(`Corrosion bearer token: ${secrets.secrets.corrosionToken}`)
      this.log(`edgeproxy API token: ${secrets.secrets.apiToken}`)
    }
    if (!committed.isDryRun) this.log(`Next: follow ${path.join(committed.outDir, 'README.md')} (install, firewall.sh, systemctl enable --now corrosion edgeproxy).`)
    return result
  }
}
