/**
 * `--log-driver syslog` and its `--log-opt`s as Docker 20.10 takes them: `syslog-address`
 * (`unix:///path`, `unixgram:///path`, `udp://HOST[:PORT]` with 514 by default; none: /dev/log),
 * `syslog-facility` (a name or 0-23, default daemon), `syslog-format` (`rfc3164`, `rfc5424`,
 * `rfc5424micro`, default: the local unix format), `tag` (a template of `{{.ID}}` (the default),
 * `{{.FullID}}`, `{{.Name}}`, `{{.ImageID}}`, `{{.ImageFullID}}`, `{{.ImageName}}`,
 * `{{.DaemonName}}`); `labels`/`env` accepted (nothing of them is sent). Docker's errors for an
 * unknown option, facility, format or address. The monitor (native/syslog.c) sends the lines;
 * as Docker 20.10's dual logging, a json-file log is kept too, so `logs` still answers.
 */
import { TsbuildError } from '../errors.js';
import { shortId } from './ids.js';

export interface SyslogConfig {
  facility: number;
  /** 0 default (unix), 1 rfc3164, 2 rfc5424, 3 rfc5424micro (native/syslog.c's numbers). */
  format: 0 | 1 | 2 | 3;
  /** `unix:/path`, `udp:HOST:PORT`, or '' (/dev/log). */
  address: string;
  tag: string;
}

/** Docker 20.10's cache limits for a driver that cannot be read (its local log: 20 MB, 5 files). */
export const DUAL_LOG_OPTS: Record<string, string> = { 'max-size': '20m', 'max-file': '5' };

const FACILITIES = ['kern', 'user', 'mail', 'daemon', 'auth', 'syslog', 'lpr', 'news', 'uucp', 'cron', 'authpriv', 'ftp', '', '', '', '', 'local0', 'local1', 'local2', 'local3', 'local4', 'local5', 'local6', 'local7'];
const FORMATS: Record<string, SyslogConfig['format']> = { '': 0, rfc3164: 1, rfc5424: 2, rfc5424micro: 3 };
const KNOWN = new Set(['syslog-address', 'syslog-facility', 'syslog-format', 'tag', 'labels', 'labels-regex', 'env', 'env-regex']);

const bad = (m: string) => new TsbuildError('INVALID', m, undefined, 125);

export function parseSyslogOpts(opts: Record<string, string>): SyslogConfig {
  for (const k of Object.keys(opts)) {
    if (k.startsWith('syslog-tls-')) throw new TsbuildError('INVALID', `log opt '${k}' (syslog over TLS) is not supported by tsbuild yet`, undefined, 125);
    if (!KNOWN.has(k)) throw bad(`unknown log opt '${k}' for syslog log driver`);
  }
  const fac = opts['syslog-facility'] ?? 'daemon';
  const facility = /^\d+$/.test(fac) && Number(fac) < 24 ? Number(fac) : FACILITIES.indexOf(fac);
  if (facility < 0 || fac === '') throw bad('invalid syslog facility');
  const format = FORMATS[opts['syslog-format'] ?? ''];
  if (format === undefined) throw bad('Invalid syslog format');
  return { facility, format, address: parseAddress(opts['syslog-address'] ?? ''), tag: opts.tag ?? '{{.ID}}' };
}

function parseAddress(a: string): string {
  if (a === '') return '';
  const unix = /^unix(?:gram)?:\/\/(\/.*)$/.exec(a);
  if (unix) return `unix:${unix[1]}`;
  const m = /^([a-z+]+):\/\/(\[[^\]]+\]|[^:/]+)(?::(\d+))?\/?$/.exec(a);
  if (!m || !['udp', 'tcp', 'tcp+tls'].includes(m[1]!)) throw bad(`syslog-address should be in form proto://address, got ${a}`);
  if (m[1] !== 'udp') throw new TsbuildError('INVALID', `syslog-address ${m[1]}:// is not supported by tsbuild yet (udp:// and unix:// are)`, undefined, 125);
  return `udp:${m[2]!.replace(/^\[|\]$/g, '')}:${m[3] ?? '514'}`;
}

/** The monitor's `syslog=` spec for container R: facility, format, address and the tag made. */
export function syslogSpec(c: SyslogConfig, r: { Id: string; Name: string; Image: string; Config: { Image: string } }): string {
  const imageHex = r.Image.replace(/^sha256:/, '');
  const fields: Record<string, string> = {
    ID: shortId(r.Id),
    FullID: r.Id,
    Name: r.Name,
    ImageID: imageHex.slice(0, 12),
    ImageFullID: r.Image,
    ImageName: r.Config.Image,
    DaemonName: 'docker',
  };
  const tag = c.tag.replace(/\{\{\s*\.(\w+)\s*\}\}/g, (all, k: string) => fields[k] ?? all).replace(/[\t\n]/g, ' ');
  return [c.facility, c.format, c.address, tag].join('\t');
}
