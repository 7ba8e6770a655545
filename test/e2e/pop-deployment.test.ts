// The generated deployment as a host would run it: the units name the binaries that are installed
// (--edgeproxy-bin, else `command -v edgeproxy`), pass `systemd-analyze verify` once those exist and
// score 5.0 or lower in `systemd-analyze security`; the firewall opens only ports something listens
// on over that interface, plus WireGuard's; edgeproxy.env tells the CLI where the API is.
import assert from 'node:assert/strict'
import {spawn, spawnSync} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import {startBackend, connectAndGreet} from '../support/backends.js'
import {BIN, cleanEnv, ProxyProcess, ROOT, runCli, tempDir} from '../support/proxy-process.js'

const FIXTURE = path.join(ROOT, 'test/fixtures/pop-three')
const hasAnalyze = spawnSync('sh', ['-c', 'command -v systemd-analyze']).status === 0
if (!hasAnalyze) console.log('# pop-deployment: skipping the systemd-analyze checks: systemd-analyze is not installed (apt-get install systemd)')
const SECCOMP_RUN = path.join(ROOT, 'test/support/seccomp-run.py')
const hasSeccomp = hasAnalyze && spawnSync('python3', [SECCOMP_RUN, 'SystemCallFilter=@system-service', '--', 'true']).status === 0
if (hasAnalyze && !hasSeccomp) console.log('# pop-deployment: skipping start under the units\' system call filter: python3 with libseccomp.so.2 cannot load one here')

function envFile(file: string): Map<string, string> {
  const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => /^[A-Z_]+=/.test(l))
  return new Map(lines.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]))
}

describe('pop generate-config: deployable as generated', () => {
  const tmp = tempDir('edgeproxy-deploy-')
  let secrets: string
  const bin = path.join(tmp.dir, 'bin')
  before(() => {
    secrets = path.join(tmp.dir, 'secrets.json')
    fs.copyFileSync(path.join(FIXTURE, 'secrets.json'), secrets)
    fs.chmodSync(secrets, 0o600)
    fs.mkdirSync(bin)
    for (const name of ['edgeproxy', 'corrosion']) fs.writeFileSync(path.join(bin, name), '#!/bin/sh\n', {mode: 0o755})
  })
  after(tmp.cleanup)

  async function generate(out: string, args: string[], env: Record<string, string> = {}): Promise<{warnings: string[]}> {
    const r = await runCli(['pop', 'generate-config', '--topology', path.join(FIXTURE, 'topology.yaml'), '--secrets', secrets, '--out', path.join(tmp.dir, out), '--json', ...args], {env})
    assert.equal(r.code, 0, r.stdout + r.stderr)
    return JSON.parse(r.stdout) as {warnings: string[]}
  }

  test('ExecStart is the edgeproxy on PATH at generation time, else /usr/local/bin/edgeproxy with a warning, or --edgeproxy-bin', async () => {
    await generate('on-path', [], {PATH: `${bin}:/usr/bin:/bin`})
    assert.match(fs.readFileSync(path.join(tmp.dir, 'on-path/sa/edgeproxy.service'), 'utf8'), new RegExp(`^ExecStart=${path.join(bin, 'edgeproxy')} start$`, 'm'))
    const missing = await generate('missing', [], {PATH: '/usr/bin:/bin'})
    assert.match(fs.readFileSync(path.join(tmp.dir, 'missing/sa/edgeproxy.service'), 'utf8'), /^ExecStart=\/usr\/local\/bin\/edgeproxy start$/m)
    assert.ok(missing.warnings.some((w) => /command -v edgeproxy finds nothing.*--edgeproxy-bin/.test(w)), JSON.stringify(missing.warnings))
    await generate('flag', ['--edgeproxy-bin', '/opt/edgeproxy/bin/edgeproxy'], {PATH: `${bin}:/usr/bin:/bin`})
    assert.match(fs.readFileSync(path.join(tmp.dir, 'flag/sa/edgeproxy.service'), 'utf8'), /^ExecStart=\/opt\/edgeproxy\/bin\/edgeproxy start$/m)
    const relative = await runCli(['pop', 'generate-config', '--topology', path.join(FIXTURE, 'topology.yaml'), '--secrets', secrets, '--out', path.join(tmp.dir, 'rel'), '--edgeproxy-bin', 'edgeproxy'])
    assert.equal(relative.code, 3)
    assert.match(relative.stderr, /--edgeproxy-bin "edgeproxy" is not an absolute path/)
  })

  test('systemd-analyze verify passes once the binaries exist, and security scores both units at 5.0 or lower', {skip: hasAnalyze ? false : 'systemd-analyze is not installed'}, async () => {
    await generate('units', ['--edgeproxy-bin', path.join(bin, 'edgeproxy'), '--corrosion-bin', path.join(bin, 'corrosion')])
    for (const pop of ['eu', 'sa', 'us']) {
      const dir = path.join(tmp.dir, 'units', pop)
      const units = ['corrosion.service', 'edgeproxy.service'].map((u) => path.join(dir, u))
      const verify = spawnSync('systemd-analyze', ['verify', ...units], {encoding: 'utf8'})
      assert.equal(verify.status, 0, `${pop}: ${verify.stderr}`)
      assert.doesNotMatch(verify.stderr, /corrosion\.service|edgeproxy\.service/, `${pop}: nothing to say about our units: ${verify.stderr}`)
      for (const unit of units) {
        const security = spawnSync('systemd-analyze', ['security', '--offline=true', unit], {encoding: 'utf8'})
        const exposure = Number(/Overall exposure level for \S+: ([\d.]+)/.exec(security.stdout)?.[1])
        assert.ok(exposure <= 5, `${pop}/${path.basename(unit)}: exposure ${exposure} (at most 5.0)\n${security.stdout}`)
      }
    }
    // Without the binaries (the default paths do not exist here) verify says so: the check can fail.
    await generate('default-paths', [], {PATH: '/usr/bin:/bin'})
    const missing = spawnSync('systemd-analyze', ['verify', ...['corrosion.service', 'edgeproxy.service'].map((u) => path.join(tmp.dir, 'default-paths/sa', u))], {encoding: 'utf8'})
    assert.match(missing.stderr, /\/usr\/local\/bin\/(edgeproxy|corrosion) is not executable/)
  })

  test("edgeproxy start serves under the generated unit's system call filter (what systemd would load)", {skip: hasSeccomp ? false : 'no seccomp here (python3, libseccomp.so.2, systemd-analyze)'}, async () => {
    await generate('filter', [])
    const unit = fs.readFileSync(path.join(tmp.dir, 'filter/sa/edgeproxy.service'), 'utf8')
    const filter = unit.split('\n').filter((l) => /^(SystemCallFilter|SystemCallErrorNumber)=/.test(l))
    assert.ok(filter.length >= 2, unit)
    // The filter is in force: @resources is denied, so setpriority fails with EPERM.
    const control = spawnSync('python3', [SECCOMP_RUN, ...filter, '--', process.execPath, '-e', "try { require('os').setPriority(5); console.log('allowed') } catch (e) { console.log(e.info?.code ?? e.code) }"], {encoding: 'utf8'})
    assert.equal(control.stdout.trim(), 'EPERM', control.stderr)

    // As the unit runs it: `edgeproxy start` (which runs itself again with its runtime settings), with
    // the DNS and metrics listeners and the API; a backend registered through the API, a connection proxied.
    const backend = await startBackend('filtered-1')
    const token = 'filter-test-token-0123456789abcdef'
    const env = cleanEnv({
      EDGEPROXY_LOG_FORMAT: 'json',
      EDGEPROXY_DB_PATH: path.join(tmp.dir, 'filter.db'),
      EDGEPROXY_CORROSION_STATE_FILE: path.join(tmp.dir, 'filter-state.json'),
      EDGEPROXY_LISTEN_ADDR: '127.0.0.1:0',
      EDGEPROXY_API_LISTEN_ADDR: '127.0.0.1:0',
      EDGEPROXY_API_TOKEN: token,
      EDGEPROXY_DNS_ENABLED: 'true',
      EDGEPROXY_DNS_LISTEN_ADDR: '127.0.0.1:0',
      EDGEPROXY_METRICS_LISTEN_ADDR: '127.0.0.1:0',
      EDGEPROXY_METRICS_TOKEN: 'filter-metrics-token-0123456789abc',
      EDGEPROXY_GEOIP_MAX_AGE_DAYS: '36500',
    })
    const proxy = new ProxyProcess(spawn('python3', [SECCOMP_RUN, ...filter, '--', process.execPath, BIN, 'start'], {cwd: tmp.dir, env, stdio: ['ignore', 'pipe', 'pipe']}))
    try {
      const started = await proxy.waitFor('started', () => true, 20_000)
      const api = `http://${String(started.api)}`
      const port = Number(String(started.listen).split(':').pop())
      const register = await runCli(['backend', 'register', '--api-url', api, '--token', token, '--id', 'filtered-1', '--app', 'web', '--region', 'sa', '--ip', backend.host, '--port', String(backend.port)])
      assert.equal(register.code, 0, register.stderr)
      const {socket, id} = await connectAndGreet(port)
      socket.destroy()
      assert.equal(id, 'filtered-1')
      const health = (await (await fetch(`${api}/health`)).json()) as {status: string}
      assert.equal(health.status, 'ok', JSON.stringify(health))
      const exit = await proxy.stop('SIGTERM')
      assert.equal(exit.code, 0, proxy.stderr.slice(-2000))
      assert.doesNotMatch(proxy.stderr, /EPERM|Operation not permitted/)
    } finally {
      await proxy.stop('SIGKILL')
      await backend.close()
    }
  })

  test('firewall.sh opens what listens on each interface (no port for a loopback-bound API), WireGuard where it denies by default; edgeproxy.env names the API URL', async () => {
    await generate('fw', [])
    for (const pop of ['eu', 'sa', 'us']) {
      const dir = path.join(tmp.dir, 'fw', pop)
      const fw = fs.readFileSync(path.join(dir, 'firewall.sh'), 'utf8')
      const env = envFile(path.join(dir, 'edgeproxy.env'))
      assert.match(fw, /^ufw default deny incoming$/m)
      assert.match(fw, /^ufw allow 51820\/udp /m, `${pop}: WireGuard's port`)
      const corrosionApiPort = new URL(env.get('EDGEPROXY_CORROSION_API_URL')!).port
      assert.equal(new URL(env.get('EDGEPROXY_CORROSION_API_URL')!).hostname, '127.0.0.1')
      assert.doesNotMatch(fw, new RegExp(`port ${corrosionApiPort} `), `${pop}: the loopback-only Corrosion API gets no rule`)
      const apiListen = env.get('EDGEPROXY_API_LISTEN_ADDR')!
      const [apiHost, apiPort] = [apiListen.slice(0, apiListen.lastIndexOf(':')), apiListen.slice(apiListen.lastIndexOf(':') + 1)]
      assert.match(fw, new RegExp(`^ufw allow in on wg0 .*to ${apiHost.replaceAll('.', '\\.')} port ${apiPort} proto tcp`, 'm'), `${pop}: the API listens on wg0`)
      // Every port opened on wg0 has a listener on this POP's WireGuard address, and every listener there has its rule.
      const wgAddress = apiHost
      const gossip = /^\[gossip\]\n(?:.*\n)*?addr = "([^"]+)"/m.exec(fs.readFileSync(path.join(dir, 'corrosion.toml'), 'utf8'))?.[1] ?? ''
      const listeners = [`${apiListen}/tcp`, `${env.get('EDGEPROXY_METRICS_LISTEN_ADDR')}/tcp`, `${gossip}/udp`, ...(env.get('EDGEPROXY_DNS_LISTEN_ADDR') ?? '').split(',').flatMap((a) => [`${a}/udp`, `${a}/tcp`])]
      const onTunnel = listeners.filter((l) => l.startsWith(`${wgAddress}:`)).map((l) => l.slice(wgAddress.length + 1)).sort()
      const opened = [...fw.matchAll(/^ufw allow in on wg0 from \S+ to (\S+) port (\d+) proto (\w+)/gm)].map((m) => {
        assert.equal(m[1], wgAddress, `${pop}: wg0 rules name the WireGuard address`)
        return `${m[2]}/${m[3]}`
      })
      assert.deepEqual(opened.sort(), onTunnel, `${pop}: wg0 opens exactly what listens on ${wgAddress}`)
      assert.ok(opened.includes('9091/tcp') && opened.includes('4001/udp'), `${pop}: metrics and gossip on wg0`)
      // Public: the proxy's port and WireGuard's; TLS is off in edgeproxy.env, so its rule waits, commented out.
      const publicRules = [...fw.matchAll(/^ufw allow (\d+\/\w+) /gm)].map((m) => m[1]).sort()
      const tlsPort = env.get('EDGEPROXY_TLS_LISTEN_ADDR')!.split(':').pop()
      assert.equal(env.get('EDGEPROXY_TLS_ENABLED'), 'false')
      assert.deepEqual(publicRules, [`${env.get('EDGEPROXY_LISTEN_ADDR')!.split(':').pop()}/tcp`, '51820/udp'].sort(), `${pop}: public rules`)
      assert.match(fw, new RegExp(`^# ufw allow ${tlsPort}/tcp comment 'edgeproxy TLS'$`, 'm'))
      assert.equal(env.get('EDGEPROXY_API_URL'), `http://${apiListen}`)
    }

    const out = path.join(tmp.dir, 'bootstrap')
    const boot = await runCli(['corrosion', 'bootstrap', '--name', 'eu-1', '--region', 'eu', '--gossip-addr', '10.50.3.1:4001', '--out', out, '--wireguard-port', '51999'])
    assert.equal(boot.code, 0, boot.stderr)
    const fw = fs.readFileSync(path.join(out, 'firewall.sh'), 'utf8')
    assert.match(fw, /^ufw allow 51999\/udp comment 'WireGuard \(wg0\)'$/m)
    assert.doesNotMatch(fw, /port 8081|port 8090/, 'both APIs are on loopback by default')
    assert.deepEqual([...fw.matchAll(/^ufw allow (\d+\/\w+) /gm)].map((m) => m[1]).sort(), ['51999/udp', '8080/tcp'], 'the proxy and WireGuard; TLS is off')
    assert.equal(envFile(path.join(out, 'edgeproxy.env')).get('EDGEPROXY_API_URL'), 'http://127.0.0.1:8081')
  })
})
