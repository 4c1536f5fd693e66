// Shared machinery of the TypeScript SDK flows (control_plane.mjs, toolbox.mjs); nothing here talks to the
// server by itself.
//
// - loadSdk(): the pinned @daytonaio/sdk from $SANDBAR_NODE_DAYTONA (or this directory), its CommonJS build,
//   and the axios module the SDK itself requires.
// - Capture: the base of the flows' recorders. installAxios() replaces axios.defaults.adapter, before the
//   first Daytona client exists, by a wrapper around axios' own adapter; every response (undefined when a
//   request got none) goes to the subclass's record(step, method, url, config, response), with the step that
//   was running when the request was sent. toFile() (the subclass's) is what spec_check.py --check-file reads.
// - Suite: the base of the flows' suites: per-run labels, tracking of created sandboxes, steps with
//   prerequisites (`needs`) and a timeout that print `ok <step>`, `FAIL <step>: <reason>` or
//   `skip <step>: <reason>` (a Skip thrown by the step), unhandled rejections as failures, and finish():
//   one `spec_check.py --check-file` run over the recorded exchanges (its summary line and one line per
//   distinct violation), `S skipped`, the last line `N passed, M failed` and the exit status (1 when a step
//   failed or a spec violation was recorded).
// - checkSpecSetup(): the configuration check for that spec check ($SANDBAR_SPEC_PYTHON must have the
//   generated clients spec_check.py checks against; `spec_check.py --check-setup` names them); configError()
//   and runMain(): exit status 2 for a configuration error, 1 for a crash, each message prefixed with the
//   script's file name.
// - Small helpers both flows use: expect, oneLine, sleep, withTimeout, dispose, fullUrl, headerValue, bodyText.

import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const here = path.dirname(fileURLToPath(import.meta.url));
export const RUN_LABEL = 'sandbar-suite-run';
const SCRIPT = path.basename(process.argv[1] || 'flow.mjs');

export function configError(message) {
  console.error(`${SCRIPT}: ${message}`);
  process.exit(2);
}

// Runs the flow's async main and exits with the status it returns (1 when it throws).
export function runMain(main) {
  main().then(
    (code) => process.exit(code),
    (e) => {
      console.error(`${SCRIPT}: ${e?.stack || e}`);
      process.exit(1);
    },
  );
}

// DAYTONA_API_URL and DAYTONA_API_KEY, checked.
export function apiFromEnv() {
  const apiUrl = process.env.DAYTONA_API_URL || '';
  const apiKey = process.env.DAYTONA_API_KEY || '';
  if (!apiUrl || !apiKey) configError('set DAYTONA_API_URL (e.g. http://127.0.0.1:3000/api) and DAYTONA_API_KEY');
  if (apiUrl.endsWith('/')) configError(`DAYTONA_API_URL ${JSON.stringify(apiUrl)} must not end with '/' (the SDK appends paths verbatim)`);
  return { apiUrl, apiKey };
}

// ---- the SDK (CommonJS build, so it shares one axios module with the capture) ----------------------------

export function loadSdk() {
  const candidates = [process.env.SANDBAR_NODE_DAYTONA, here].filter(Boolean);
  const root = candidates.find((dir) => fs.existsSync(path.join(dir, 'node_modules', '@daytonaio', 'sdk', 'package.json')));
  if (!root) {
    configError(`@daytonaio/sdk is not installed in ${candidates.join(' or ')}; run tests/sdk/setup-node.sh <cache dir> ` +
      'and set SANDBAR_NODE_DAYTONA=<cache dir>/node-daytona');
  }
  const requireFromRoot = createRequire(path.join(path.resolve(root), 'package.json'));
  // The "require" export (cjs/index.js); what the SDK requires resolves from there.
  const requireFromSdk = createRequire(requireFromRoot.resolve('@daytonaio/sdk'));
  return {
    version: requireFromRoot('@daytonaio/sdk/package.json').version,
    sdk: requireFromRoot('@daytonaio/sdk'),
    axios: requireFromSdk('axios'), // the very module the SDK's createAxiosInstance uses
    requireFromSdk,
  };
}

// ---- capture ----------------------------------------------------------------------------------------------

export function fullUrl(config) {
  const url = String(config.url || '');
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url) || !config.baseURL) return url;
  return config.baseURL.replace(/\/+$/, '') + '/' + url.replace(/^\/+/, '');
}

export function headerValue(headers, name) {
  if (!headers) return '';
  if (typeof headers.get === 'function') {
    const v = headers.get(name);
    if (v != null) return String(v);
  }
  return String(headers[name] ?? headers[name.toLowerCase()] ?? '');
}

// The raw body text of an axios response, or undefined when it is a stream or an object (not captured).
export function bodyText(data) {
  if (data == null) return null;
  if (typeof data === 'string') return data;
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return undefined;
}

export class Capture {
  constructor(apiUrl) {
    this.apiUrl = apiUrl;
    this.step = 'setup';
    this.trace = process.env.SANDBAR_SDK_TRACE === '1';
  }

  // The SDK builds each of its axios instances with `axios.getAdapter(axios.defaults.adapter)`, so every
  // request goes through this wrapper.
  installAxios(axios) {
    if (axios.defaults.adapter?.sandbarCapture) return;
    const base = axios.getAdapter(axios.defaults.adapter); // axios' own choice (http in Node)
    const capture = this;
    const adapter = function sandbarCaptureAdapter(config) {
      const url = fullUrl(config);
      const method = String(config.method || 'get').toUpperCase();
      const step = capture.step;
      return base(config).then(
        (response) => {
          capture.record(step, method, url, config, response);
          return response;
        },
        (error) => {
          capture.record(step, method, url, config, error?.response);
          throw error;
        },
      );
    };
    adapter.sandbarCapture = true;
    axios.defaults.adapter = adapter;
  }

  // Appended to the reason of a failed step (e.g. the step's last failed exchange); none by default.
  lastFailure(_step) {
    return '';
  }
}

// ---- helpers ----------------------------------------------------------------------------------------------

export function expect(condition, message) {
  if (!condition) throw new Error(message);
}

export function oneLine(error) {
  const name = error?.constructor?.name ?? typeof error;
  const text = String(error?.message ?? error).split(/\s+/).join(' ').trim() || '(no message)';
  return `${name}: ${text.slice(0, 400)}`;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms / 1000}s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// Closes a Daytona client's Socket.IO attempt and subscriptions (Daytona implements Symbol.asyncDispose).
export async function dispose(client) {
  const key = Symbol.asyncDispose;
  if (key && typeof client?.[key] === 'function') {
    try {
      await client[key]();
    } catch { /* best effort */ }
  }
}

// ---- the suite --------------------------------------------------------------------------------------------

export class Skip extends Error {}

export class Suite {
  // describe(error) is the one-line text of an error in a FAIL line (default: oneLine).
  constructor(capture, daytona, { stepTimeoutMs, describe = oneLine }) {
    this.capture = capture;
    this.daytona = daytona;
    this.stepTimeoutMs = stepTimeoutMs; // a hung SDK call fails its step instead of hanging the run
    this.describe = describe;
    this.runId = crypto.randomBytes(4).toString('hex');
    this.passed = 0;
    this.failed = 0;
    this.skipped = 0;
    this.results = {};
    this.sandboxes = new Map(); // every sandbox id this run created -> Sandbox (or null)
    this.unhandled = [];
  }

  labels(extra = {}) {
    return { [RUN_LABEL]: this.runId, ...extra };
  }

  track(sb) {
    this.sandboxes.set(sb.id, sb);
    return sb;
  }

  // Unhandled promise rejections are collected (with the step that was running) and fail the run in finish().
  watchUnhandled() {
    process.on('unhandledRejection', (reason) => {
      this.unhandled.push(`${this.capture.step}: ${this.describe(reason)}`);
    });
  }

  async step(name, fn, needs = []) {
    const missing = needs.filter((n) => !this.results[n]);
    if (missing.length) {
      this.fail(name, `not run: prerequisite ${missing.join(', ')} did not pass`);
      return;
    }
    this.capture.step = name;
    try {
      await withTimeout(fn.call(this), this.stepTimeoutMs, `step ${name}`);
      this.passed += 1;
      this.results[name] = true;
      console.log(`ok ${name}`);
    } catch (e) {
      if (e instanceof Skip) {
        this.skipped += 1;
        this.results[name] = false;
        console.log(`skip ${name}: ${e.message}`);
      } else {
        this.fail(name, this.describe(e) + this.capture.lastFailure(name));
      }
    } finally {
      this.capture.step = 'between-steps';
    }
  }

  fail(name, reason) {
    this.failed += 1;
    this.results[name] = false;
    console.log(`FAIL ${name}: ${reason}`);
  }

  // The end of a run: unhandled rejections fail it; the exchanges go through spec_check.py once (when it
  // cannot run, the step `spec-check` fails; else its lines are printed and afterSpec(result) may fail more);
  // then `S skipped` (when a step was) and `N passed, M failed`. Returns the exit status.
  finish({ tmpPrefix, toolbox = false, afterSpec = () => {} }) {
    for (const u of this.unhandled) this.fail('unhandled-rejection', u);
    const spec = runSpecCheck(this.capture, tmpPrefix, toolbox);
    if (spec.error) {
      this.fail('spec-check', spec.error);
    } else {
      for (const line of spec.lines) console.log(line);
      afterSpec(spec);
    }
    if (this.skipped) console.log(`${this.skipped} skipped`);
    console.log(`${this.passed} passed, ${this.failed} failed`);
    return this.failed || spec.violations ? 1 : 0;
  }
}

// ---- spec check (once, in Python) -------------------------------------------------------------------------

function specPython() {
  return process.env.SANDBAR_SPEC_PYTHON || 'python3';
}

// Checks that $SANDBAR_SPEC_PYTHON has the generated clients spec_check.py validates against; returns
// their names and versions (what `spec_check.py --check-setup` prints).
export function checkSpecSetup() {
  const r = spawnSync(specPython(), [path.join(here, '..', 'spec_check.py'), '--check-setup'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    configError(`${specPython()} cannot run spec_check.py (${r.error?.message || (r.stderr || '').trim().split('\n').pop() || `exit status ${r.status}`}); ` +
      'set SANDBAR_SPEC_PYTHON to a venv made by setup-python.sh, e.g. <cache>/venv-daytona-0.226.1/bin/python');
  }
  return r.stdout.trim();
}

// Writes capture.toFile() to a temporary file (or $SANDBAR_SDK_EXCHANGES, kept) and checks it. Returns
// {violations, toolbox (toolbox mode only), controlPlane, lines} or {error}. In toolbox mode spec_check.py's summary counts
// toolbox and control-plane responses, else control-plane responses only.
function runSpecCheck(capture, tmpPrefix, toolbox) {
  const keep = process.env.SANDBAR_SDK_EXCHANGES;
  const dir = keep ? null : fs.mkdtempSync(path.join(os.tmpdir(), tmpPrefix));
  const file = keep || path.join(dir, 'exchanges.json');
  try {
    fs.writeFileSync(file, JSON.stringify(capture.toFile()));
    const r = spawnSync(specPython(), [path.join(here, '..', 'spec_check.py'), '--check-file', file], {
      encoding: 'utf8', maxBuffer: 64 * 1024 * 1024,
    });
    const lines = (r.stdout || '').split('\n').filter(Boolean);
    const summary = toolbox
      ? /^(?<violations>\d+) spec violations in (?<toolbox>\d+) toolbox responses and (?<controlPlane>\d+) control-plane responses$/
      : /^(?<violations>\d+) spec violations in (?<controlPlane>\d+) control-plane responses$/;
    const m = summary.exec(lines[0] || '');
    if (r.error || ![0, 1].includes(r.status) || !m) {
      const why = r.error?.message || (r.stderr || '').trim().split('\n').slice(-3).join(' | ') || `exit ${r.status}`;
      return { error: `spec_check.py --check-file did not run: ${why}` };
    }
    const { violations, toolbox: toolboxCount, controlPlane } = m.groups;
    return { violations: Number(violations), toolbox: toolboxCount && Number(toolboxCount), controlPlane: Number(controlPlane), lines };
  } finally {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }
}
