// The settings of a Corrosion-mode POP beyond reaching its agent: the saved routing table a restart
// falls back on, how long start-up waits for the agent, and how many members the agent must see.
// Spread into START_SETTINGS by src/config/start-config.ts; nothing here opens a file or a socket.
import {setting, type Setting, type SettingValues} from '../config/settings.js'

const CORROSION = 'CORROSION'

export const CORROSION_SETTINGS = {
  corrosionStateFile: setting.string({
    flag: 'corrosion-state-file',
    env: 'EDGEPROXY_CORROSION_STATE_FILE',
    default: 'routing-state.json',
    summary:
      'The last good routing table, kept on disk (0600, rewritten atomically at most once a second when it changes) so a POP restarted while its agent is down still routes',
    group: CORROSION,
    hint: 'a file path, for example /var/lib/edgeproxy/routing-state.json',
    parse: (t) => {
      if (t.trim() === '') throw new Error('empty path')
      return t.trim()
    },
  }),
  corrosionStartupWaitSecs: setting.seconds({
    flag: 'corrosion-startup-wait-secs',
    env: 'EDGEPROXY_CORROSION_STARTUP_WAIT_SECS',
    default: '10',
    min: 0.1,
    max: 3600,
    summary: "How long start waits for the agent's first table; then it routes on the saved table (degraded, stale), or exits 4 when there is none",
    group: CORROSION,
  }),
  corrosionMinMembers: setting.integer({
    flag: 'corrosion-min-members',
    env: 'EDGEPROXY_CORROSION_MIN_MEMBERS',
    default: '1',
    min: 0,
    max: 10_000,
    summary: 'Fewest other agents this POP\'s agent must see alive; fewer (an agent cut off from the cluster) makes /health degraded; 0 for a one-agent cluster',
    group: CORROSION,
  }),
} satisfies Record<string, Setting<unknown>>

export interface CorrosionPopConfig {
  stateFile: string
  startupWaitMs: number
  minMembers: number
}

/** The part of StartConfig.corrosion these settings make. */
export function resolveCorrosionPopConfig(v: SettingValues<typeof CORROSION_SETTINGS>): CorrosionPopConfig {
  return {stateFile: v.corrosionStateFile!, startupWaitMs: Math.round(v.corrosionStartupWaitSecs! * 1000), minMembers: v.corrosionMinMembers!}
}
