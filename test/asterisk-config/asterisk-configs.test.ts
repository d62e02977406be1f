import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { type ConfSection, isTrue, value, values } from './asterisk-ini.js';
import { PJSIP_OPTIONS } from './pjsip-options.js';
import { localPath, type RenderedConfigs, renderAsteriskConfigs } from './render-configs.js';

// What Asterisk 22 needs from the project's asterisk/ files to start and carry agentline's calls, checked
// without an Asterisk: the configs are loaded as Asterisk reads them (#exec scripts run with each sample
// environment) and held against what the modules that read them require.

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const DIR = path.join(ROOT, 'asterisk');

/** The environment compose gives the Asterisk container, with a trunk's own variables on top. */
function composeEnv(trunk: Record<string, string>): Record<string, string> {
  return {
    ARI_USERNAME: 'agentline',
    ARI_PASSWORD: 'ci;pass#word',
    SIP_TRUNK_HOST: 'sip.example.invalid:5060',
    SIP_TRUNK_USERNAME: '',
    SIP_TRUNK_PASSWORD: '',
    SIP_TRUNK_REGISTER: 'yes',
    SIP_TRUNK_FROM_DOMAIN: '',
    SIP_EXTERNAL_ADDRESS: '',
    SIP_TRUNK_QUALIFY: '60',
    ...trunk,
  };
}

const ENVIRONMENTS = {
  'digest trunk with registration': composeEnv({
    SIP_TRUNK_USERNAME: 'acct-100',
    SIP_TRUNK_PASSWORD: 's3cr;et',
  }),
  'digest trunk without registration': composeEnv({
    SIP_TRUNK_USERNAME: 'acct-100',
    SIP_TRUNK_PASSWORD: 's3cr;et',
    SIP_TRUNK_REGISTER: 'no',
  }),
  // An IP-authenticated trunk as compose passes it: no credentials, SIP_TRUNK_REGISTER left at its default;
  // this carrier ignores OPTIONS.
  'IP-authenticated trunk': composeEnv({ SIP_TRUNK_HOST: '203.0.113.10', SIP_TRUNK_QUALIFY: '0' }),
  'digest trunk behind NAT with an external address': composeEnv({
    SIP_TRUNK_USERNAME: 'acct-100',
    SIP_TRUNK_PASSWORD: 's3cr;et',
    SIP_EXTERNAL_ADDRESS: '198.51.100.7',
  }),
} as const;

/**
 * Modules agentline's calls go through (ARI and its resources, Stasis, AMD, the SIP trunk, RTP and
 * chan_websocket media, bridges, codecs between them, the recordings' WAV writer, the dialplan):
 * modules.conf must require each, so an image without one stops at start instead of failing a call.
 */
const ENGINE_MODULES = [
  'res_ari.so',
  'res_ari_asterisk.so',
  'res_ari_channels.so',
  'res_ari_bridges.so',
  'res_ari_recordings.so',
  'res_ari_events.so',
  'res_stasis.so',
  'res_stasis_snoop.so',
  'res_http_websocket.so',
  'app_stasis.so',
  'app_amd.so',
  'pbx_config.so',
  'res_pjsip.so',
  'chan_pjsip.so',
  'res_pjsip_session.so',
  'res_pjsip_sdp_rtp.so',
  'res_pjsip_outbound_registration.so',
  'res_pjsip_outbound_authenticator_digest.so',
  'res_pjsip_endpoint_identifier_ip.so',
  'res_pjsip_nat.so',
  'res_pjsip_caller_id.so',
  'res_rtp_asterisk.so',
  'chan_rtp.so',
  'chan_websocket.so',
  'bridge_simple.so',
  'bridge_softmix.so',
  'codec_ulaw.so',
  'codec_alaw.so',
  'codec_resample.so',
  'format_wav.so',
];

/**
 * The config files each module reads (Asterisk 22 sources). app_amd declines to load without amd.conf;
 * chan_websocket (22.8+) logs an error without chan_websocket.conf; the rest read theirs if present and
 * would run without agentline's settings. A module not listed here has to be looked up and added.
 */
const MODULE_CONFIGS: Record<string, readonly string[]> = {
  'app_amd.so': ['amd.conf'],
  'app_stasis.so': [],
  'bridge_simple.so': [],
  'bridge_softmix.so': [],
  'chan_pjsip.so': ['pjsip.conf'],
  'chan_rtp.so': [],
  'chan_websocket.so': ['chan_websocket.conf', 'http.conf'],
  'codec_alaw.so': [],
  'codec_resample.so': [],
  'codec_ulaw.so': [],
  'format_wav.so': [],
  'pbx_config.so': ['extensions.conf'],
  'res_ari.so': ['ari.conf', 'http.conf'],
  'res_ari_asterisk.so': [],
  'res_ari_bridges.so': [],
  'res_ari_channels.so': [],
  'res_ari_events.so': [],
  'res_ari_recordings.so': [],
  'res_http_websocket.so': ['http.conf'],
  'res_pjsip.so': ['pjsip.conf'],
  'res_pjsip_caller_id.so': [],
  'res_pjsip_endpoint_identifier_ip.so': ['pjsip.conf'],
  'res_pjsip_nat.so': [],
  'res_pjsip_outbound_authenticator_digest.so': [],
  'res_pjsip_outbound_registration.so': ['pjsip.conf'],
  'res_pjsip_sdp_rtp.so': [],
  'res_pjsip_session.so': [],
  'res_rtp_asterisk.so': ['rtp.conf'],
  'res_stasis.so': [],
  'res_stasis_snoop.so': [],
};

/** Files Asterisk's core reads itself. */
const CORE_CONFIGS = ['asterisk.conf', 'modules.conf', 'http.conf'];

const AMD_OPTIONS = [
  'total_analysis_time',
  'silence_threshold',
  'playback_file',
  'initial_silence',
  'after_greeting_silence',
  'greeting',
  'min_word_length',
  'maximum_word_length',
  'between_words_silence',
  'maximum_number_of_words',
];
const ARI_GENERAL_OPTIONS = [
  'type',
  'enabled',
  'pretty',
  'allowed_origins',
  'auth_realm',
  'channelvars',
  'websocket_write_timeout',
];
const ARI_USER_OPTIONS = ['type', 'read_only', 'password', 'password_format', 'permit', 'deny', 'acl'];

function file(r: RenderedConfigs, name: string): ConfSection[] {
  const sections = r.files.get(name);
  if (!sections) throw new Error(`asterisk/${name} is not shipped`);
  return sections;
}

function section(sections: ConfSection[], name: string): ConfSection {
  const found = sections.filter((s) => s.name === name && !s.template);
  expect(
    found.map((s) => s.name),
    `one [${name}] section`,
  ).toEqual([name]);
  return found[0];
}

/** res_pjsip builds one object per section that is not a template, by its `type`. */
function pjsipObjects(r: RenderedConfigs) {
  const objects = file(r, 'pjsip.conf').filter((s) => !s.template);
  const ofType = (type: string) => objects.filter((s) => value(s, 'type') === type);
  const names = (type: string) => new Set(ofType(type).map((s) => s.name));
  return { objects, ofType, names };
}

function listed(v: string | undefined): string[] {
  return (v ?? '')
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
}

/** The asterisk/ files docker-compose.yml mounts, by where they appear in the container. */
const compose = readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8');
/** The asterisk service's part of docker-compose.yml (up to the next service). */
const asteriskService = /^ {2}asterisk:\n(?: {4,}.*\n|\s*\n)*/m.exec(compose)?.[0] ?? '';

function composeMounts(): Map<string, string> {
  const mounts = new Map<string, string>();
  for (const m of compose.matchAll(
    /^\s*-\s*\.\/asterisk\/([^:\s]+):(\/etc\/asterisk\/[^:\s]+)(?::ro)?\s*$/gm,
  )) {
    mounts.set(m[2], m[1]);
  }
  return mounts;
}

describe.each(Object.entries(ENVIRONMENTS))('asterisk/ configs for a %s', (_label, env) => {
  const rendered = renderAsteriskConfigs(DIR, env);

  it('runs every #exec script, which exits 0 and writes nothing to stderr (Asterisk logs it as an error)', () => {
    expect(rendered.execs.map((e) => e.script).sort()).toEqual(['ari-user.sh', 'pjsip-trunk.sh']);
    for (const run of rendered.execs) {
      expect({ script: run.script, status: run.status, stderr: run.stderr }).toEqual({
        script: run.script,
        status: 0,
        stderr: '',
      });
      expect(run.stdout.trim(), `${run.script} prints config`).not.toBe('');
    }
    // #exec is ignored (a warning, no trunk, no ARI user) unless asterisk.conf allows it.
    expect(isTrue(value(section(file(rendered, 'asterisk.conf'), 'options'), 'execincludes'))).toBe(true);
  });

  it('ships the config file of every module modules.conf loads and every module agentline needs', () => {
    const modules = section(file(rendered, 'modules.conf'), 'modules');
    const required = [...values(modules, 'require'), ...values(modules, 'preload-require')];
    const loaded = [...required, ...values(modules, 'preload'), ...values(modules, 'load')];
    for (const mod of ENGINE_MODULES) expect(required, `modules.conf requires ${mod}`).toContain(mod);
    const needed = new Set(CORE_CONFIGS);
    for (const mod of new Set([...loaded, ...ENGINE_MODULES])) {
      expect(Object.keys(MODULE_CONFIGS), `which config files ${mod} reads is known`).toContain(mod);
      for (const conf of MODULE_CONFIGS[mod]) needed.add(conf);
    }
    const shipped = [...rendered.files.keys()];
    for (const conf of needed) expect(shipped, `asterisk/${conf}`).toContain(conf);
  });

  it('gives every pjsip object the options Asterisk requires, each one it knows, and references that resolve', () => {
    const { objects, ofType, names } = pjsipObjects(rendered);
    const seen = new Set<string>();
    for (const obj of objects) {
      const type = value(obj, 'type') ?? '';
      expect(Object.keys(PJSIP_OPTIONS), `[${obj.name}] at ${obj.at} has a known type`).toContain(type);
      for (const [key] of obj.vars) expect(PJSIP_OPTIONS[type], `[${obj.name}] type=${type}`).toContain(key);
      // Sorcery refuses the whole file on a second object of one type and name.
      expect(seen.has(`${type}/${obj.name}`), `duplicate ${type} [${obj.name}]`).toBe(false);
      seen.add(`${type}/${obj.name}`);
    }
    const transports = names('transport');
    const auths = names('auth');
    for (const t of ofType('transport')) {
      expect(value(t, 'protocol')).toMatch(/^(udp|tcp|tls|ws|wss)$/);
      expect(value(t, 'bind')).toBeTruthy();
    }
    for (const e of ofType('endpoint')) {
      expect(value(e, 'context'), `endpoint [${e.name}] context`).toBeTruthy();
      expect(listed(value(e, 'aors')).length, `endpoint [${e.name}] aors`).toBeGreaterThan(0);
      for (const aor of listed(value(e, 'aors'))) expect([...names('aor')]).toContain(aor);
      for (const a of [...listed(value(e, 'auth')), ...listed(value(e, 'outbound_auth'))]) {
        expect([...auths], `endpoint [${e.name}] auth ${a}`).toContain(a);
      }
      const transport = value(e, 'transport');
      if (transport) expect([...transports]).toContain(transport);
    }
    for (const a of ofType('aor')) {
      for (const c of values(a, 'contact')) expect(c, `aor [${a.name}] contact`).toMatch(/^sips?:[^\s@]+/);
    }
    for (const id of ofType('identify')) {
      expect([...names('endpoint')], `identify [${id.name}] endpoint`).toContain(value(id, 'endpoint'));
      expect(values(id, 'match').flatMap(listed).length, `identify [${id.name}] match`).toBeGreaterThan(0);
    }
    for (const a of ofType('auth')) {
      // userpass and md5 are deprecated spellings of digest (pjsip.conf.sample); digest needs a username
      // ("No authentication username" otherwise, and no auth object) and a password.
      expect(['digest', 'userpass', 'md5'], `auth [${a.name}] auth_type`).toContain(
        value(a, 'auth_type') ?? 'digest',
      );
      expect(value(a, 'username'), `auth [${a.name}] username`).toBeTruthy();
      expect(value(a, 'password') || value(a, 'password_digest'), `auth [${a.name}] password`).toBeTruthy();
    }
    for (const reg of ofType('registration')) {
      expect(value(reg, 'server_uri'), `registration [${reg.name}] server_uri`).toMatch(/^sips?:\S+$/);
      expect(value(reg, 'client_uri'), `registration [${reg.name}] client_uri`).toMatch(
        /^sips?:[^\s@]+@\S+$/,
      );
      expect([...auths], `registration [${reg.name}] outbound_auth`).toContain(value(reg, 'outbound_auth'));
      const transport = value(reg, 'transport');
      if (transport) expect([...transports]).toContain(transport);
    }
  });

  it('defines the trunk DIAL_STRING dials (PJSIP/{to}@trunk) as this environment asks', () => {
    const { ofType } = pjsipObjects(rendered);
    const trunk = ofType('endpoint').find((e) => e.name === 'trunk');
    expect(trunk, 'endpoint [trunk]').toBeDefined();
    const host = env.SIP_TRUNK_HOST;
    const aor = ofType('aor').find((a) => a.name === 'trunk')!;
    expect(values(aor, 'contact')).toEqual([`sip:${host}`]);
    expect(value(aor, 'qualify_frequency')).toBe(env.SIP_TRUNK_QUALIFY);
    expect(ofType('identify').map((i) => [value(i, 'endpoint'), values(i, 'match')])).toEqual([
      ['trunk', [host.replace(/:\d+$/, '')]],
    ]);
    if (env.SIP_TRUNK_USERNAME) {
      const auth = ofType('auth');
      expect(auth.map((a) => [a.name, value(a, 'username'), value(a, 'password')])).toEqual([
        [value(trunk!, 'outbound_auth'), env.SIP_TRUNK_USERNAME, env.SIP_TRUNK_PASSWORD],
      ]);
      expect(ofType('registration').length).toBe(env.SIP_TRUNK_REGISTER === 'yes' ? 1 : 0);
    } else {
      // The carrier knows us by our address: no credentials to answer a challenge with, nothing to register.
      expect(ofType('auth')).toEqual([]);
      expect(ofType('registration')).toEqual([]);
      expect(value(trunk!, 'outbound_auth')).toBeUndefined();
    }
    const transport = ofType('transport').find((t) => t.name === 'transport-udp')!;
    const external = env.SIP_EXTERNAL_ADDRESS || undefined;
    expect(value(transport, 'external_media_address')).toBe(external);
    expect(value(transport, 'external_signaling_address')).toBe(external);
  });

  it('enables ARI over the HTTP server with a user that has the password agentline is given', () => {
    const http = section(file(rendered, 'http.conf'), 'general');
    expect(isTrue(value(http, 'enabled'))).toBe(true);
    // The HTTP server does not start without a bind address.
    expect(value(http, 'bindaddr')).toBeTruthy();
    expect(value(http, 'bindport') ?? '8088').toMatch(/^\d+$/);

    const ari = file(rendered, 'ari.conf');
    const general = section(ari, 'general');
    expect(isTrue(value(general, 'enabled') ?? 'yes')).toBe(true);
    // ari.conf's [general] is only taken as such while it holds nothing but its own options.
    for (const [key] of general.vars) expect(ARI_GENERAL_OPTIONS, `ari.conf [general] ${key}`).toContain(key);
    const users = ari.filter((s) => value(s, 'type') === 'user');
    expect(users.map((u) => u.name)).toEqual([env.ARI_USERNAME]);
    for (const [key] of users[0].vars) expect(ARI_USER_OPTIONS, `ari.conf user ${key}`).toContain(key);
    expect(value(users[0], 'password')).toBe(env.ARI_PASSWORD);
    expect(isTrue(value(users[0], 'read_only'))).toBe(false);
  });

  it('lets amd.conf decide AMD() and sets only options app_amd knows', () => {
    const amd = section(file(rendered, 'amd.conf'), 'general');
    for (const [key, v] of amd.vars) {
      expect(AMD_OPTIONS, `amd.conf ${key}`).toContain(key);
      if (key !== 'playback_file') expect(v, `amd.conf ${key}`).toMatch(/^\d+$/);
    }
    // Arguments to AMD() override amd.conf, so the dialplan passes none.
    const dialplan = section(file(rendered, 'extensions.conf'), 'agentline-amd');
    const calls = dialplan.vars.map(([, v]) => v).filter((v) => /,AMD\(/i.test(v));
    expect(calls.map((c) => c.replace(/^.*?,AMD\(([^)]*)\).*$/i, '$1'))).toEqual(['']);

    const ws = section(file(rendered, 'chan_websocket.conf'), 'global');
    expect(value(ws, 'type')).toBe('global');
    expect(value(ws, 'control_message_format')).toMatch(/^(plain-text|json)$/);
  });
});

describe('asterisk/ files in the container', () => {
  it('are all mounted by docker-compose.yml where the configs and #exec lines expect them, scripts executable', () => {
    const mounts = composeMounts();
    const shipped = readdirSync(DIR);
    for (const name of shipped)
      expect(mounts.get(`/etc/asterisk/${name}`), `mount of asterisk/${name}`).toBe(name);
    const rendered = renderAsteriskConfigs(DIR, ENVIRONMENTS['digest trunk with registration']);
    for (const run of rendered.execs) {
      expect(mounts.get(run.command), `#exec ${run.command} is mounted`).toBe(run.script);
      // Compose mounts the checkout's file as it is: Asterisk runs it directly.
      expect(statSync(localPath(DIR, run.command)).mode & 0o111, `${run.script} is executable`).not.toBe(0);
      // The script sees only the container's environment: compose must pass each variable it reads.
      const script = readFileSync(localPath(DIR, run.command), 'utf8');
      for (const [, name] of script.matchAll(/\$\{?((?:SIP|ARI)_[A-Z_]+)/g)) {
        expect(asteriskService, `docker-compose.yml passes ${name} to asterisk`).toMatch(
          new RegExp(`^\\s+${name}: `, 'm'),
        );
      }
    }
  });
});

describe('asterisk/ scripts with a broken environment', () => {
  it.each([
    ['no SIP_TRUNK_HOST', { SIP_TRUNK_HOST: '' }, 'pjsip-trunk.sh', /SIP_TRUNK_HOST/],
    [
      'a username without a password',
      { SIP_TRUNK_USERNAME: 'acct-100', SIP_TRUNK_PASSWORD: '' },
      'pjsip-trunk.sh',
      /SIP_TRUNK_PASSWORD/,
    ],
    [
      'a newline in the password',
      { SIP_TRUNK_USERNAME: 'a', SIP_TRUNK_PASSWORD: 'x\n[evil]' },
      'pjsip-trunk.sh',
      /newline/,
    ],
    [
      'a qualify interval that is not a number',
      { SIP_TRUNK_QUALIFY: 'often' },
      'pjsip-trunk.sh',
      /SIP_TRUNK_QUALIFY/,
    ],
    ['no ARI_PASSWORD', { ARI_PASSWORD: '' }, 'ari-user.sh', /ARI_PASSWORD/],
  ])('%s: the script exits non-zero and says why (Asterisk logs it)', (_label, vars, script, message) => {
    const rendered = renderAsteriskConfigs(DIR, composeEnv(vars));
    const run = rendered.execs.find((e) => e.script === script)!;
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(message);
  });
});
