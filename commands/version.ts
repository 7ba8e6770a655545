import {BaseCommand} from '../src/cli/base-command.js'

export interface VersionResult {
  version: string
  node: string
  platform: string
  arch: string
}

export default class Version extends BaseCommand {
  static override summary = 'Print the version of edgeproxy and of the Node.js running it (also: edgeproxy --version, -v)'
  static override examples = ['<%= config.bin %> version', '<%= config.bin %> version --json']
  static override enableJsonFlag = true

  async run(): Promise<VersionResult> {
    await this.parse(Version)
    this.log(this.config.userAgent)
    return {version: this.config.version, node: process.versions.node, platform: process.platform, arch: process.arch}
  }
}
