// Public exports of src/generators (re-exported by src/index.ts).
export {renderCorrosionAgentToml, tomlValue} from './corrosion-toml.js'
export {renderWireguardConf} from './wireguard.js'
export {renderCorrosionService, renderEdgeproxyService} from './systemd.js'
export {renderEdgeproxyEnv} from './env-file.js'
export {renderCompose} from './compose.js'
export {renderFirewallScript} from './firewall.js'
export {renderPopReadme, installLocations} from './pop-readme.js'
export {renderBackendsSchemaSql} from './schema-sql.js'
export {
  decodeWireguardKey,
  generateWireguardKeyPair,
  generateWireguardPrivateKey,
  wireguardPublicKey,
  type WireguardKeyPair,
} from './wireguard-keys.js'
export {gossipMaxMtuForTunnel, QUIC_MIN_UDP_PAYLOAD, type GossipMaxMtu} from './gossip-mtu.js'
export {
  DEFAULT_CORROSION_PATHS,
  DEFAULT_HOST_PATHS,
  formatSocketAddress,
  hostSecrets,
  type CorrosionAgentModel,
  type EdgeproxyModel,
  type FirewallModel,
  type GossipTransport,
  type HostModel,
  type HostPaths,
  type SixpnModel,
  type PortRule,
  type SocketAddress,
  type WireguardModel,
  type WireguardPeerModel,
} from './host-model.js'
export {renderHostFiles, generatedHeader} from './host-files.js'
export {checkAllowedIps, planPopConfigs, popHostModel, POP_GENERATOR, DEFAULT_SHUTDOWN_TIMEOUT_SECS, type ClusterPlan, type PopPlan} from './pop-plan.js'
export {
  BOOTSTRAP_FLAGS,
  BOOTSTRAP_GENERATOR,
  bootstrapHostModel,
  planBootstrap,
  resolveBootstrapSettings,
  type BootstrapInput,
  type BootstrapPlan,
  type BootstrapSettings,
} from './bootstrap-plan.js'
export {
  generateToken,
  isValidToken,
  parseSecretsJson,
  readSecretsFile,
  renderSecretsJson,
  resolveClusterSecrets,
  SECRETS_FILE_NAME,
  SECRETS_FORMAT,
  type ClusterSecrets,
  type SecretsRequest,
  type SecretsResolution,
} from './secrets.js'
export {
  assertOutputWritable,
  inspectOutputDir,
  manifestFile,
  OUTPUT_MANIFEST,
  redactSecrets,
  summarizeFiles,
  writeFileAtomically,
  writeTreeAtomically,
  type FileSummary,
  type OutputDirState,
  type PlannedFile,
} from './write-output.js'
export {commitOutput, prepareSecrets, type CommitRequest, type CommitResult} from './commit-output.js'
export {GeneratorInputError, GeneratorInputsError, OutputExistsError, OutputForeignError, OutputWriteError, SecretsFileError} from './errors.js'
