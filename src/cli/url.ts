// Checks a URL flag (--api-url, --corrosion-url) before anything is sent: a value that is not an
// http(s) URL is an input the operator fixes (exit 3), never "cannot reach" (exit 4).
import {ConfigError} from '../errors.js'

/** The URL without trailing slashes; `flag` and `example` go into the error. */
export function parseHttpUrl(text: string, flag: string, example: string): string {
  let url: URL | undefined
  try {
    url = new URL(text)
  } catch {
    url = undefined
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') {
    throw new ConfigError(`${flag} ${JSON.stringify(text)} is not an http(s) URL`, {field: flag, suggestion: flag.startsWith('--') ? `pass a URL such as ${flag} ${example}` : `set ${flag} to a URL such as ${example}`})
  }
  return text.replace(/\/+$/, '')
}
