// Settings of the status page (/ui on the API listener) and its traffic charts. START_SETTINGS spreads
// them; resolveUiConfig turns their values into the typed config the UI service gets.
import {setting, type Setting, type SettingValues} from '../config/settings.js'

const UI = 'STATUS PAGE'

export const UI_SETTINGS = {
  uiEnabled: setting.boolean({
    flag: 'ui',
    env: 'EDGEPROXY_UI_ENABLED',
    default: 'true',
    summary: "Serve the status page at /ui on the API listener (data calls need the API's token) and sample traffic for its charts",
    group: UI,
  }),
  uiSampleSecs: setting.seconds({
    flag: 'ui-sample-secs',
    env: 'EDGEPROXY_UI_SAMPLE_SECS',
    default: '5',
    min: 1,
    max: 60,
    summary: 'How often the status page refreshes and its charts take a sample (the charts keep the last 10 minutes)',
    group: UI,
  }),
} satisfies Record<string, Setting<unknown>>

export interface UiConfig {
  isEnabled: boolean
  sampleMs: number
  /** How much history the charts keep. */
  windowMs: number
}

export const UI_WINDOW_MS = 10 * 60_000

export function resolveUiConfig(v: SettingValues<typeof UI_SETTINGS>): UiConfig {
  return {isEnabled: v.uiEnabled!, sampleMs: Math.round(v.uiSampleSecs! * 1000), windowMs: UI_WINDOW_MS}
}
