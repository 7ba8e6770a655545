// Where a command is installed on this machine (`command -v NAME`): the first executable file named
// NAME in PATH's directories, as PATH spells it (a symlink such as npm's /usr/local/bin/edgeproxy is
// kept, so an upgrade in place keeps the path valid). Used for the default --edgeproxy-bin.
import fs from 'node:fs'
import path from 'node:path'

export function installedBin(name: string, envPath = process.env.PATH ?? ''): string | undefined {
  for (const dir of envPath.split(path.delimiter)) {
    if (!path.isAbsolute(dir)) continue
    const candidate = path.join(dir, name)
    try {
      fs.accessSync(candidate, fs.constants.X_OK)
      if (fs.statSync(candidate).isFile()) return candidate
    } catch {
      // not there, or not executable
    }
  }
  return undefined
}
