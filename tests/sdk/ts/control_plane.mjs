// Control-plane conformance flows for the official, unmodified Daytona TypeScript SDK
// (@daytonaio/sdk, pinned in package.json beside this file), the counterpart of ../control_plane.py.
// One long file on purpose: one scenario of steps that run in order and share state, mirroring the
// Python flow step by step.
//
// Run with Node >= 18 against a running `sandbar serve`, after ../setup-node.sh <cache>:
//
//   SANDBAR_NODE_DAYTONA=<cache>/node-daytona \
//   DAYTONA_API_URL=http://127.0.0.1:3000/api DAYTONA_API_KEY=... node tests/sdk/ts/control_plane.mjs
//
// SANDBAR_NODE_DAYTONA is the directory whose node_modules holds the SDK (default: this directory,
// for a local `npm ci` here). Every control-plane response the SDK receives is captured below the
// SDK: axios.defaults.adapter (of the axios module the SDK itself requires) is replaced, before the
// first Daytona client exists, by a wrapper around axios' own http adapter. The SDK builds each of
// its axios instances with `axios.getAdapter(axios.defaults.adapter)`, so every request goes
// through the wrapper, which records method, URL, status, content type and the raw body text
// (before axios parses it). Nothing in the SDK is modified. At the end the exchanges are written
// to a JSON file and checked once by `python spec_check.py --check-file` (interpreter:
// $SANDBAR_SPEC_PYTHON, default python3; it must have the generated clients of the pinned Python SDK,
// e.g. <cache>/venv-daytona-0.226.1/bin/python).
//
// Each flow prints `ok <step>`, `FAIL <step>: <reason>` or `skip <step>: <reason>`; the last line is
// `N passed, M failed`. Everything the run creates carries a per-run label and is deleted at the
// end, also on failure. The exit status is 1 when a step failed or a spec violation was recorded,
// 2 for a configuration error. SANDBAR_SDK_TRACE=1 prints every captured exchange;
// SANDBAR_SDK_EXCHANGES=<file> keeps the exchange file there.
// The machinery shared with toolbox.mjs (loading the SDK, the axios hook, the step runner, the spec
// check and the summary lines) is in flow.mjs.

import crypto from 'node:crypto';

import {
  RUN_LABEL, Capture as BaseCapture, Skip, Suite as BaseSuite, apiFromEnv, bodyText, checkSpecSetup, dispose,
  expect, headerValue, loadSdk as loadPinnedSdk, oneLine, runMain, sleep,
} from './flow.mjs';

const LANGUAGE_LABEL = 'code-toolbox-language';
const VOLUME_GONE_STATES = ['pending_delete', 'deleting', 'deleted'];
const STEP_TIMEOUT_MS = 240_000; // a hung SDK call fails its step instead of hanging the run
// An image reference the server cannot have: Sandbar builds no images yet and must say so (4xx).
const IMAGE_REF = 'python:3.12-slim';

// ---- load the SDK (CommonJS build, so it shares one axios module with us) -------------------------

let SDK_VERSION;
let axios; // the axios module the SDK itself requires (resolved from the SDK's directory)
let Daytona, Sandbox, DaytonaError, DaytonaAuthenticationError, DaytonaBadRequestError, DaytonaConflictError,
  DaytonaNotFoundError;
let HAS_SET_PUBLIC;
let HAS_NETWORK_SETTINGS;
let HAS_PAUSE;

// The SDK object's state once an operation's Socket.IO events have arrived: the SDK applies each
// event as it comes, possibly after the call returned, so a transitional state can show for a
// moment. Resolves to the state (the wanted one, or whatever it still is after `ms`).
async function settled(sb, wanted, ms = 3000) {
  const deadline = Date.now() + ms;
  while (sb.state !== wanted && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return sb.state;
}

function loadSdk() {
  const pinned = loadPinnedSdk();
  SDK_VERSION = pinned.version;
  axios = pinned.axios;
  const { sdk } = pinned;
  ({
    Daytona, Sandbox, DaytonaError, DaytonaAuthenticationError, DaytonaBadRequestError, DaytonaConflictError,
    DaytonaNotFoundError,
  } = sdk);
  // Version differences, by feature detection (daytona-wire-ts.md §3.1, §5).
  HAS_SET_PUBLIC = typeof Sandbox.prototype.setPublic === 'function'; // not in 0.218.0
  HAS_NETWORK_SETTINGS = typeof Sandbox.prototype.updateNetworkSettings === 'function';
  HAS_PAUSE = typeof Sandbox.prototype.pause === 'function';
}

// ---- capture hook ------------------------------------------------------------------------------

function relativePath(url, apiUrl) {
  // Path of `url` under the API base path, without the query; null when it is not under it.
  let p;
  let base;
  try {
    p = new URL(url).pathname || '/';
    base = new URL(apiUrl).pathname.replace(/\/+$/, '');
  } catch {
    return null;
  }
  if (!base) return p;
  if (p === base) return '/';
  if (p.startsWith(base + '/')) return p.slice(base.length);
  return null;
}

class Capture extends BaseCapture {
  constructor(apiUrl) {
    super(apiUrl);
    this.exchanges = []; // control-plane responses, sent to spec_check.py
    this.requests = []; // {step, method, path, data}: request bodies, for checks on what the SDK sent
    this.toolboxBases = new Set(); // toolboxProxyUrl values seen; requests under them are not control plane
    // Ids from successful POST /sandbox and POST /volumes, even when the SDK then failed, so the
    // cleanup finds everything the server created.
    this.created = { '/sandbox': new Set(), '/volumes': new Set() };
  }

  install() {
    this.installAxios(axios);
  }

  isToolbox(url) {
    for (const b of this.toolboxBases) {
      if (url === b || url.startsWith(b.endsWith('/') ? b : b + '/')) return true;
    }
    return false;
  }

  record(step, method, url, config, response) {
    if (!response || this.isToolbox(url)) return; // no response: the request failed before one came
    const status = response.status;
    const text = bodyText(response.data);
    const contentType = headerValue(response.headers, 'content-type');
    const p = relativePath(url, this.apiUrl);
    const x = { step, method, url, path: p, status, contentType, text: text ?? null };
    if (text === undefined) x.note = 'body was not captured as text (stream response)';
    this.exchanges.push(x);
    this.requests.push({ step, method, path: p, data: config.data });
    let body = null;
    try {
      body = text && text.trim() ? JSON.parse(text) : null;
    } catch {
      body = null;
    }
    x.json = body;
    if (method === 'POST' && p in this.created && status >= 200 && status < 300 && typeof body?.id === 'string') {
      this.created[p].add(body.id);
    }
    for (const dto of [body, ...(Array.isArray(body?.items) ? body.items : [])]) {
      if (dto && typeof dto.toolboxProxyUrl === 'string' && dto.toolboxProxyUrl) {
        this.toolboxBases.add(dto.toolboxProxyUrl.replace(/\/+$/, ''));
      }
    }
    if (this.trace) console.log(`  .. ${method} ${url} -> ${status} ${(text ?? '<stream>').slice(0, 300)}`);
  }

  // What spec_check.py --check-file reads.
  toFile() {
    return {
      apiUrl: this.apiUrl,
      exchanges: this.exchanges.map(({ step, method, url, status, contentType, text }) => ({
        step, method, url, status, contentType, text,
      })),
    };
  }
}

// ---- helpers -----------------------------------------------------------------------------------

function statusOf(error) {
  const s = error?.statusCode ?? error?.status ?? error?.response?.status;
  return Number.isInteger(s) ? s : undefined;
}

function show(value) {
  let s;
  try {
    s = JSON.stringify(value);
  } catch {
    s = String(value);
  }
  return s === undefined ? 'undefined' : s.slice(0, 200);
}

async function expectRaises(fn, classes, what, status) {
  let result;
  try {
    result = await fn();
  } catch (e) {
    if (classes.some((c) => e instanceof c)) {
      if (status !== undefined && statusOf(e) !== status) {
        throw new Error(`${what}: raised ${oneLine(e)} with status ${statusOf(e)}, expected ${status}`);
      }
      return e;
    }
    throw new Error(`${what}: expected ${classes.map((c) => c.name).join('/')}, got ${oneLine(e)}`);
  }
  throw new Error(`${what}: expected an error, got ${show(result)}`);
}

const isInt = (v) => Number.isInteger(v);

function sameMap(a, b) {
  const ka = Object.keys(a || {}).sort();
  const kb = Object.keys(b || {}).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && a[k] === b[k]);
}

async function collect(iterable) {
  const out = [];
  for await (const item of iterable) out.push(item);
  return out;
}

// Note: integer-ness of cpu/gpu/memory/disk is really checked by spec_check.py on the raw JSON
// (JSON.parse turns 1.0 into 1); this catches strings, booleans and fractions.
function checkSandboxBasics(sb, what) {
  expect(sb.state === 'started', `${what}: state ${show(sb.state)}, expected 'started'`);
  expect(sb.user === 'daytona', `${what}: user ${show(sb.user)}, expected 'daytona'`);
  for (const key of ['cpu', 'gpu', 'memory', 'disk']) {
    expect(isInt(sb[key]), `${what}: ${key} is ${show(sb[key])} (${typeof sb[key]}), expected an integer`);
  }
  for (const key of ['cpu', 'memory', 'disk']) {
    expect(sb[key] >= 1, `${what}: ${key} is ${sb[key]}, expected >= 1`);
  }
  const url = sb.toolboxProxyUrl;
  expect(typeof url === 'string' && url, `${what}: toolboxProxyUrl is empty`);
  expect(/^https?:\/\//.test(url), `${what}: toolboxProxyUrl ${show(url)} is not an absolute URL`);
  expect(!url.endsWith('/'), `${what}: toolboxProxyUrl ${show(url)} ends with '/'`);
  expect((sb.labels || {})[LANGUAGE_LABEL] === 'python', `${what}: labels ${show(sb.labels)} lack ${LANGUAGE_LABEL}=python`);
}

async function poll(fn, done, timeoutS, what) {
  const deadline = Date.now() + timeoutS * 1000;
  for (;;) {
    const result = await fn();
    if (done(result)) return result;
    if (Date.now() > deadline) {
      throw new Error(`${what}: not reached within ${timeoutS}s (last: ${show(result)})`);
    }
    await sleep(500);
  }
}

// ---- the suite ---------------------------------------------------------------------------------

class Suite extends BaseSuite {
  constructor(apiUrl, apiKey, capture, daytona) {
    super(capture, daytona, { stepTimeoutMs: STEP_TIMEOUT_MS });
    this.apiUrl = apiUrl;
    this.apiKey = apiKey;
    this.state = {}; // objects shared between steps
  }

  name(suffix) {
    return `sdk-ts-${this.runId}-${suffix}`;
  }

  // -- create ---------------------------------------------------------------------------------

  async createDefault() {
    const sb = this.track(await this.daytona.create());
    this.state.default = sb;
    checkSandboxBasics(sb, 'create()');
    expect(sb.env && typeof sb.env === 'object' && !Array.isArray(sb.env), `create(): env is ${show(sb.env)}, expected an object`);
  }

  async createWithParams() {
    const env = { SANDBAR_SUITE: '1', GREETING: 'hello world' };
    const labels = this.labels({ group: 'a' });
    // The TS SDK has no setPublic (daytona-wire-ts.md §3.1): `public` is checked here, at create time.
    const sb = this.track(await this.daytona.create({
      name: this.name('params'),
      envVars: { ...env },
      labels: { ...labels },
      public: true,
      autoStopInterval: 30,
      autoArchiveInterval: 120,
      ephemeral: true,
    }));
    this.state.params = sb;
    checkSandboxBasics(sb, 'create(params)');
    expect(sb.name === this.name('params'), `name ${show(sb.name)}, expected ${show(this.name('params'))}`);
    for (const [k, v] of Object.entries(env)) {
      expect((sb.env || {})[k] === v, `env ${show(sb.env)} lacks ${k}=${show(v)}`);
    }
    const want = { ...labels, [LANGUAGE_LABEL]: 'python' };
    expect(sameMap(sb.labels, want), `labels ${show(sb.labels)}, expected ${show(want)}`);
    expect(sb.public === true, `public ${show(sb.public)}, expected true (create({public: true}))`);
    expect(sb.autoStopInterval === 30, `autoStopInterval ${show(sb.autoStopInterval)}, expected 30`);
    expect(sb.autoArchiveInterval === 120, `autoArchiveInterval ${show(sb.autoArchiveInterval)}, expected 120`);
    expect(sb.autoDeleteInterval === 0, `autoDeleteInterval ${show(sb.autoDeleteInterval)}, expected 0 (ephemeral: true)`);
    const got = await this.daytona.get(sb.id);
    expect(got.public === true, `get().public ${show(got.public)} after create({public: true})`);
  }

  async createFromSnapshot() {
    const sb = this.track(await this.daytona.create({
      snapshot: 'default', name: this.name('snap'), labels: this.labels({ group: 'b' }),
    }));
    this.state.snap = sb;
    checkSandboxBasics(sb, "create({snapshot: 'default'})");
    if (sb.snapshot !== 'default') {
      const def = await this.daytona.snapshot.get('default');
      expect(sb.snapshot === def.id, `snapshot ${show(sb.snapshot)}, expected 'default' or its id ${show(def.id)}`);
    }
  }

  async createUnknownSnapshot() {
    const missing = `no-such-snapshot-${this.runId}`;
    const name = this.name('badsnap');
    const err = await expectRaises(async () => {
      const sb = await this.daytona.create({ snapshot: missing, name, labels: this.labels({ case: 'badsnap' }) }, { timeout: 30 });
      this.track(sb);
      return sb;
    }, [DaytonaError], 'create({snapshot: <unknown>})');
    const status = statusOf(err);
    expect(status !== undefined && status >= 400 && status < 500,
      `create({snapshot: <unknown>}) raised ${oneLine(err)} with status ${status}, expected a 4xx`);
    expect(String(err.message).includes(missing), `error message ${show(err.message)} does not mention ${show(missing)}`);
    await this.expectNotCreated('badsnap', name);
  }

  // Sandbar cannot pull or build images yet: an image reference is a clear 4xx naming it.
  async createFromImage() {
    const name = this.name('image');
    const err = await expectRaises(async () => {
      const sb = await this.daytona.create({ image: IMAGE_REF, name, labels: this.labels({ case: 'image' }) }, { timeout: 30 });
      this.track(sb);
      return sb;
    }, [DaytonaError], `create({image: ${show(IMAGE_REF)}})`);
    const status = statusOf(err);
    expect(status !== undefined && status >= 400 && status < 500,
      `create({image}) raised ${oneLine(err)} with status ${status}, expected a 4xx`);
    expect(String(err.message).includes(IMAGE_REF), `error message ${show(err.message)} does not name the image ${show(IMAGE_REF)}`);
    await this.expectNotCreated('image', name);
  }

  // After a refused create: no sandbox with that name or `case` label exists.
  async expectNotCreated(kase, name) {
    // Filtered client-side too, so a broken server-side label filter is not reported here.
    const leaked = (await collect(this.daytona.list({ labels: this.labels({ case: kase }) })))
      .filter((s) => s.name === name || (s.labels || {}).case === kase)
      .map((s) => s.id);
    for (const id of leaked) if (!this.sandboxes.has(id)) this.sandboxes.set(id, null);
    expect(!leaked.length, `a sandbox was created anyway: ${leaked.join(', ')}`);
    await expectRaises(() => this.daytona.get(name), [DaytonaNotFoundError], `get(${show(name)}) after the failed create`, 404);
  }

  // -- get / list -----------------------------------------------------------------------------

  async getById() {
    const want = this.state.params;
    const got = await this.daytona.get(want.id);
    expect(got.id === want.id, `get(id).id ${show(got.id)}, expected ${show(want.id)}`);
    expect(got.name === want.name, `get(id).name ${show(got.name)}, expected ${show(want.name)}`);
    checkSandboxBasics(got, 'get(id)');
    expect((got.env || {}).GREETING === 'hello world', `get(id).env ${show(got.env)} lost GREETING`);
    expect(got.toolboxProxyUrl === want.toolboxProxyUrl,
      `toolboxProxyUrl changed: ${show(got.toolboxProxyUrl)} vs ${show(want.toolboxProxyUrl)}`);
  }

  async getByName() {
    const want = this.state.params;
    const got = await this.daytona.get(want.name);
    expect(got.id === want.id, `get(name).id ${show(got.id)}, expected ${show(want.id)}`);
    checkSandboxBasics(got, 'get(name)');
  }

  async listByLabels() {
    const everything = (await collect(this.daytona.list({ labels: this.labels() }))).map((s) => s.id).sort();
    const wantAll = [this.state.params.id, this.state.snap.id].sort();
    expect(show(everything) === show(wantAll), `list({labels: run}) returned ${show(everything)}, expected ${show(wantAll)}`);
    const groupA = await collect(this.daytona.list({ labels: this.labels({ group: 'a' }) }));
    const ids = groupA.map((s) => s.id);
    expect(ids.length === 1 && ids[0] === this.state.params.id,
      `list({labels: run+group=a}) returned ${show(ids)}, expected [${this.state.params.id}]`);
    expect((groupA[0].labels || {})[LANGUAGE_LABEL] === 'python', `list item labels ${show(groupA[0].labels)} lack ${LANGUAGE_LABEL}`);
    checkSandboxBasics(groupA[0], 'list item');
    const none = await collect(this.daytona.list({ labels: { [RUN_LABEL]: `${this.runId}-nobody` } }));
    expect(!none.length, `list({labels: <unused>}) returned ${show(none.map((s) => s.id))}, expected nothing`);
  }

  async listPages() {
    const before = this.capture.exchanges.length;
    const paged = (await collect(this.daytona.list({ labels: this.labels(), limit: 1 }))).map((s) => s.id);
    const want = [this.state.params.id, this.state.snap.id].sort();
    expect(show([...paged].sort()) === show(want), `list({limit: 1}) yielded ${show(paged)}, expected each of ${show(want)} once`);
    const pages = this.capture.exchanges.slice(before).filter((x) => x.method === 'GET' && x.path === '/sandbox');
    expect(pages.length >= 2, `list({limit: 1}) over 2 sandboxes fetched ${pages.length} page(s); expected nextCursor paging`);
    for (const page of pages) {
      const items = page.json?.items;
      expect(Array.isArray(items) && items.length <= 1,
        `a page with limit=1 returned ${Array.isArray(items) ? items.length : show(items)} items`);
      expect(/[?&]limit=1(&|$)/.test(page.url), `page request ${page.url} does not carry limit=1`);
    }
    for (const page of pages.slice(1)) {
      expect(/[?&]cursor=[^&]+/.test(page.url), `follow-up page request ${page.url} has no cursor`);
    }
    const last = pages[pages.length - 1].json || {};
    expect(!last.nextCursor, `last page still has nextCursor ${show(last.nextCursor)}`);
  }

  // Ids of this run's sandboxes that list() yields for `query` (in the order it yields them).
  async runIds(query = {}) {
    return (await collect(this.daytona.list({ labels: this.labels(), ...query }))).map((s) => s.id);
  }

  async listFilters() {
    const { params, snap } = this.state;
    const both = [params.id, snap.id].sort();
    const got = async (q) => (await this.runIds(q)).sort();
    const checks = {
      'states=[started]': [await got({ states: ['started'] }), both],
      'states=[stopped]': [await got({ states: ['stopped'] }), []],
      'snapshots=[default]': [await got({ snapshots: ['default'] }), both],
      'snapshots=[<unknown>]': [await got({ snapshots: [`nope-${this.runId}`] }), []],
      'name=<prefix of one name>': [await got({ name: this.name('par') }), [params.id]],
      'id=<prefix of one id>': [await got({ id: snap.id.slice(0, 13) }), [snap.id]],
      'isPublic=true': [await got({ isPublic: true }), [params.id]],
      'isPublic=false': [await got({ isPublic: false }), [snap.id]],
      'minCpu..maxCpu around both': [await got({ minCpu: params.cpu, maxCpu: params.cpu }), both],
      'minCpu above both': [await got({ minCpu: Math.max(params.cpu, snap.cpu) + 1 }), []],
      'minMemoryGib above both': [await got({ minMemoryGib: Math.max(params.memory, snap.memory) + 1 }), []],
      'minDiskGib..maxDiskGib around both': [await got({ minDiskGib: params.disk, maxDiskGib: params.disk }), both],
      'isRecoverable=false': [await got({ isRecoverable: false }), both],
    };
    const wrong = Object.entries(checks).filter(([, [g, w]]) => show(g) !== show(w))
      .map(([what, [g, w]]) => `${what}: got ${show(g)}, expected ${show(w)}`);
    expect(!wrong.length, `list({labels: run, ...}) filters wrong: ${wrong.join('; ')}`);
  }

  async listSorted() {
    const { params, snap } = this.state; // created in this order; names ...-params < ...-snap
    const checks = {
      'sort=name order=asc': [await this.runIds({ sort: 'name', order: 'asc' }), [params.id, snap.id]],
      'sort=name order=desc': [await this.runIds({ sort: 'name', order: 'desc' }), [snap.id, params.id]],
      'sort=createdAt order=asc': [await this.runIds({ sort: 'createdAt', order: 'asc' }), [params.id, snap.id]],
      'sort=createdAt order=desc': [await this.runIds({ sort: 'createdAt', order: 'desc' }), [snap.id, params.id]],
      'sort=name order=desc limit=1 (one per cursor page)':
        [await this.runIds({ sort: 'name', order: 'desc', limit: 1 }), [snap.id, params.id]],
    };
    const wrong = Object.entries(checks).filter(([, [g, w]]) => show(g) !== show(w))
      .map(([what, [g, w]]) => `${what}: got ${show(g)}, expected ${show(w)}`);
    expect(!wrong.length, `list({labels: run, sort}) order wrong (${params.id} is ...-params, ${snap.id} is ...-snap): ${wrong.join('; ')}`);
  }

  // The TS SDK sends Date filters as toISOString() (UTC, milliseconds).
  async listByCreatedAt() {
    const { params, snap } = this.state;
    const first = Date.parse(params.createdAt);
    const second = Date.parse(snap.createdAt);
    expect(second - first >= 2, `createdAt ${params.createdAt} and ${snap.createdAt} are too close to split`);
    const mid = new Date(Math.floor((first + second) / 2));
    const after = (await this.runIds({ createdAtAfter: mid })).sort();
    const before = (await this.runIds({ createdAtBefore: mid })).sort();
    expect(show([after, before]) === show([[snap.id], [params.id]]),
      `createdAtAfter/Before=${mid.toISOString()} returned ${show(after)} / ${show(before)}, expected [${snap.id}] / [${params.id}]`);
  }

  // Daytona's spec: `id` and `name` filter by prefix, case-insensitively.
  async listPrefixCaseInsensitive() {
    const { params } = this.state;
    const byName = await this.runIds({ name: this.name('par').toUpperCase() });
    const byId = await this.runIds({ id: params.id.slice(0, 13).toUpperCase() });
    expect(show([byName, byId]) === show([[params.id], [params.id]]),
      `list({name: ${show(this.name('par').toUpperCase())}}) returned ${show(byName)}, list({id: ` +
      `${show(params.id.slice(0, 13).toUpperCase())}}) returned ${show(byId)}; expected [${params.id}] for both ` +
      '(prefix filters are case-insensitive)');
  }

  // -- URLs and config the SDK reads through its generated client ----------------------------------

  // The SDK calls GET /sandbox/{id}/toolbox-proxy-url when a DTO lacks toolboxProxyUrl
  // (ensureToolboxProxyUrl); called here through the SDK's own generated client.
  async toolboxProxyUrl() {
    const sb = this.state.params;
    const api = this.daytona.sandboxApi;
    const got = (await api.getToolboxProxyUrl(sb.id)).data.url;
    expect(got === sb.toolboxProxyUrl, `toolbox-proxy-url ${show(got)}, expected the DTO's ${show(sb.toolboxProxyUrl)}`);
    const byName = (await api.getToolboxProxyUrl(sb.name)).data.url;
    expect(byName === got, `toolbox-proxy-url by name ${show(byName)}, by id ${show(got)}`);
    await expectRaises(() => api.getToolboxProxyUrl(crypto.randomUUID()), [DaytonaNotFoundError],
      'toolbox-proxy-url of an unknown sandbox', 404);
  }

  // The SDK reads GET /sandbox/{id}/build-logs-url while an image builds and streams
  // `<url>?follow=true` with its client headers; done here the same way.
  async buildLogsUrl() {
    const sb = this.state.params;
    const api = this.daytona.sandboxApi;
    const url = (await api.getBuildLogsUrl(sb.id)).data.url;
    expect(typeof url === 'string' && /^https?:\/\//.test(url), `build-logs-url ${show(url)} is not absolute`);
    expect(!url.includes('?'), `build-logs-url ${show(url)} has a query; the SDK appends '?follow=true' to it`);
    const started = Date.now();
    const resp = await fetch(`${url}?follow=true`, {
      method: 'GET', headers: this.daytona.clientConfig.baseOptions.headers, signal: AbortSignal.timeout(30_000),
    });
    await resp.text();
    expect(resp.status === 200, `GET ${url}?follow=true -> ${resp.status}`);
    expect(Date.now() - started < 20_000, 'the build log of a sandbox without a build did not end');
    await expectRaises(() => api.getBuildLogsUrl(crypto.randomUUID()), [DaytonaNotFoundError],
      'build-logs-url of an unknown sandbox', 404);
  }

  async config() {
    const cfg = (await this.daytona.configApi.configControllerGetConfig()).data;
    expect(cfg.defaultSnapshot === 'default', `config defaultSnapshot ${show(cfg.defaultSnapshot)}, expected 'default'`);
    const want = this.state.params.toolboxProxyUrl;
    expect(cfg.proxyToolboxUrl === want, `config proxyToolboxUrl ${show(cfg.proxyToolboxUrl)}, expected ${show(want)}`);
    expect(isInt(cfg.maxAutoArchiveInterval) && cfg.maxAutoArchiveInterval > 0,
      `config maxAutoArchiveInterval ${show(cfg.maxAutoArchiveInterval)}`);
    expect(cfg.maintananceMode === false, `config maintananceMode ${show(cfg.maintananceMode)}`);
    // No Analytics API: the SDK's getMetrics must use the control plane's own telemetry. This is how
    // the SDK itself reads /config.
    const analytics = await this.daytona.getAnalyticsApiUrl();
    expect(analytics == null, `Daytona.getAnalyticsApiUrl() is ${show(analytics)}, expected none`);
  }

  // -- labels, intervals, public, network ------------------------------------------------------

  async setLabels() {
    const sb = this.state.default;
    const first = { [LANGUAGE_LABEL]: 'python', [RUN_LABEL]: this.runId, stage: 'relabelled', extra: 'x' };
    let got = await sb.setLabels({ ...first });
    expect(sameMap(got, first), `setLabels returned ${show(got)}, expected ${show(first)}`);
    expect(sameMap(sb.labels, first), `sandbox.labels ${show(sb.labels)} after setLabels, expected ${show(first)}`);
    const second = { [LANGUAGE_LABEL]: 'python', [RUN_LABEL]: this.runId, stage: 'replaced' };
    got = await sb.setLabels({ ...second });
    expect(sameMap(got, second), `setLabels (replace) returned ${show(got)}, expected ${show(second)}`);
    const fresh = await this.daytona.get(sb.id);
    expect(sameMap(fresh.labels, second),
      `get().labels ${show(fresh.labels)} after setLabels, expected ${show(second)} (labels are replaced, not merged)`);
  }

  async autostopInterval() {
    const sb = this.state.default;
    for (const value of [45, 0]) {
      await sb.setAutostopInterval(value);
      expect(sb.autoStopInterval === value, `local autoStopInterval ${show(sb.autoStopInterval)}`);
      const got = (await this.daytona.get(sb.id)).autoStopInterval;
      expect(got === value, `get().autoStopInterval ${show(got)} after setAutostopInterval(${value})`);
    }
  }

  async autoArchiveInterval() {
    const sb = this.state.default;
    await sb.setAutoArchiveInterval(90);
    let got = (await this.daytona.get(sb.id)).autoArchiveInterval;
    expect(got === 90, `get().autoArchiveInterval ${show(got)} after setAutoArchiveInterval(90)`);
    await sb.setAutoArchiveInterval(0); // 0 = the maximum interval; the server may store 0 or the maximum
    got = (await this.daytona.get(sb.id)).autoArchiveInterval;
    expect(isInt(got) && got >= 0, `get().autoArchiveInterval ${show(got)} after setAutoArchiveInterval(0)`);
  }

  async autoDeleteInterval() {
    const sb = this.state.default;
    for (const value of [0, -1]) { // 0 = delete on stop; end with -1 (disabled) so the stop step keeps it
      await sb.setAutoDeleteInterval(value);
      expect(sb.autoDeleteInterval === value, `local autoDeleteInterval ${show(sb.autoDeleteInterval)}`);
      const got = (await this.daytona.get(sb.id)).autoDeleteInterval;
      expect(got === value, `get().autoDeleteInterval ${show(got)} after setAutoDeleteInterval(${value})`);
    }
  }

  async setPublic() {
    if (!HAS_SET_PUBLIC) {
      throw new Skip(`Sandbox.setPublic does not exist in @daytonaio/sdk ${SDK_VERSION} ` +
        '(create({public: true}) is checked in create-with-params)');
    }
    const sb = this.state.default;
    for (const value of [true, false]) {
      await sb.setPublic(value);
      const got = (await this.daytona.get(sb.id)).public;
      expect(got === value, `get().public ${show(got)} after setPublic(${value})`);
    }
  }

  async networkSettings() {
    if (!HAS_NETWORK_SETTINGS) {
      throw new Skip(`Sandbox.updateNetworkSettings does not exist in @daytonaio/sdk ${SDK_VERSION}`);
    }
    const sb = this.state.default;
    for (const value of [true, false]) {
      await sb.updateNetworkSettings({ networkBlockAll: value });
      expect(sb.networkBlockAll === value, `networkBlockAll ${show(sb.networkBlockAll)} in the response, expected ${value}`);
      const got = (await this.daytona.get(sb.id)).networkBlockAll;
      expect(got === value, `get().networkBlockAll ${show(got)} after updateNetworkSettings({networkBlockAll: ${value}})`);
    }
  }

  async refreshActivity() {
    const sb = this.state.default;
    const beforeText = (await this.daytona.get(sb.id)).lastActivityAt;
    const before = Date.parse(beforeText);
    expect(Number.isFinite(before), `lastActivityAt ${show(beforeText)} is not a timestamp`);
    await sleep(50); // timestamps have millisecond precision
    await sb.refreshActivity();
    const fresh = await this.daytona.get(sb.id);
    const after = Date.parse(fresh.lastActivityAt);
    expect(after > before, `lastActivityAt ${show(fresh.lastActivityAt)} after refreshActivity(), was ${show(beforeText)}`);
    expect(Math.abs(Date.now() - after) < 5 * 60_000, `lastActivityAt ${show(fresh.lastActivityAt)} is not now`);
    expect(fresh.state === 'started', `state ${show(fresh.state)} after refreshActivity()`);
    // The list filter on it: the other sandboxes of the run were last active at creation.
    const active = (await this.runIds({ lastActivityAfter: new Date(before) })).sort();
    expect(active.includes(sb.id) && !active.includes(this.state.snap.id),
      `list({lastActivityAfter: ${new Date(before).toISOString()}}) returned ${show(active)}; expected ${sb.id} and not ${this.state.snap.id}`);
  }

  // -- lifecycle --------------------------------------------------------------------------------

  async stop() {
    const sb = this.state.default;
    const autoDelete = (await this.daytona.get(sb.id)).autoDeleteInterval;
    expect(autoDelete !== 0, 'autoDeleteInterval is 0 (left by the auto-delete step); stopping would delete the sandbox instead');
    await sb.stop();
    expect((await settled(sb, 'stopped')) === 'stopped', `state ${show(sb.state)} after stop(), expected 'stopped'`);
    const got = (await this.daytona.get(sb.id)).state;
    expect(got === 'stopped', `get().state ${show(got)} after stop(), expected 'stopped'`);
  }

  async start() {
    const sb = this.state.default;
    await sb.start();
    expect((await settled(sb, 'started')) === 'started', `state ${show(sb.state)} after start(), expected 'started'`);
  }

  async refreshData() {
    const sb = this.state.default;
    await sb.refreshData();
    checkSandboxBasics(sb, 'refreshData()');
    if (this.results['set-labels']) {
      expect((sb.labels || {}).stage === 'replaced', `labels ${show(sb.labels)} after refreshData()`);
    }
  }

  async resizeHot() {
    const sb = this.state.default;
    const cur = await this.daytona.get(sb.id);
    const want = [cur.cpu + 1, cur.memory + 1, cur.disk];
    await sb.resize({ cpu: want[0], memory: want[1] });
    expect(show([await settled(sb, 'started'), sb.cpu, sb.memory, sb.disk]) === show(['started', ...want]),
      `after resize({cpu: ${want[0]}, memory: ${want[1]}}) of a running sandbox: ${show([sb.state, sb.cpu, sb.memory, sb.disk])}, expected started ${show(want)}`);
    const got = await this.daytona.get(sb.id);
    expect(show([got.cpu, got.memory, got.disk]) === show(want), `get() cpu/memory/disk ${show([got.cpu, got.memory, got.disk])}, expected ${show(want)}`);
  }

  // A running sandbox may only grow cpu and memory: Daytona answers 400 to a disk change, to a
  // decrease and to an empty request (and the SDK documents these as DaytonaError).
  async resizeHotRefusals() {
    const sb = this.state.default;
    const cur = await this.daytona.get(sb.id);
    const before = [cur.cpu, cur.memory, cur.disk];
    expect(cur.cpu >= 2 && cur.memory >= 2, `cpu/memory ${show(before)} (resize-hot should have made them >= 2)`);
    const attempts = {
      'disk on a running sandbox': { disk: cur.disk + 1 },
      'cpu decrease while running': { cpu: cur.cpu - 1 },
      'memory decrease while running': { memory: cur.memory - 1 },
      'no fields': {},
    };
    const outcome = {};
    for (const [what, resources] of Object.entries(attempts)) {
      try {
        await sb.resize(resources, 30);
        const got = await this.daytona.get(sb.id);
        outcome[what] = `accepted (now cpu/memory/disk ${got.cpu}/${got.memory}/${got.disk})`;
      } catch (e) {
        if (!(e instanceof DaytonaError)) throw e;
        outcome[what] = statusOf(e);
      }
    }
    const wrong = Object.entries(outcome).filter(([, o]) => o !== 400);
    const after = await this.daytona.get(sb.id);
    expect(!wrong.length, `expected 400 for each; got ${show(Object.fromEntries(wrong))}`);
    expect(show([after.cpu, after.memory, after.disk]) === show(before) && after.state === 'started',
      `refused resizes changed the sandbox: ${after.state} ${show([after.cpu, after.memory, after.disk])}, was started ${show(before)}`);
  }

  async pause() {
    if (!HAS_PAUSE) throw new Skip(`Sandbox.pause does not exist in @daytonaio/sdk ${SDK_VERSION}`);
    const sb = this.state.default;
    await sb.pause();
    expect((await settled(sb, 'paused')) === 'paused', `state ${show(sb.state)} after pause(), expected 'paused'`);
    let got = (await this.daytona.get(sb.id)).state;
    expect(got === 'paused', `get().state ${show(got)} after pause(), expected 'paused'`);
    await sb.start(); // resumes
    expect((await settled(sb, 'started')) === 'started', `state ${show(sb.state)} after start() of a paused sandbox`);
    got = (await this.daytona.get(sb.id)).state;
    expect(got === 'started', `get().state ${show(got)} after resuming, expected 'started'`);
  }

  // recover() is for a sandbox in `error`, which no SDK call can produce. On a healthy one Daytona
  // answers 400 ("must be in error state"); Sandbar treats it as a start (no-op when started).
  // Either way the sandbox must stay started and the SDK must return or raise cleanly.
  async recoverHealthy() {
    const sb = this.state.default;
    let outcome = 'returned';
    try {
      await sb.recover(30);
    } catch (e) {
      expect(e instanceof DaytonaError && statusOf(e) === 400,
        `recover() of a started sandbox raised ${oneLine(e)} with status ${statusOf(e)}; expected 400 or success`);
      outcome = 'raised 400';
    }
    const got = (await this.daytona.get(sb.id)).state;
    expect(got === 'started', `get().state ${show(got)} after recover() ${outcome}, expected 'started'`);
  }

  async stopForce() {
    const sb = this.state.default;
    const before = this.capture.exchanges.length;
    await sb.stop(60, true);
    expect((await settled(sb, 'stopped')) === 'stopped', `state ${show(sb.state)} after stop(60, true)`);
    const got = (await this.daytona.get(sb.id)).state;
    expect(got === 'stopped', `get().state ${show(got)} after stop(60, true), expected 'stopped'`);
    const sent = this.capture.exchanges.slice(before)
      .filter((x) => x.method === 'POST' && x.path === `/sandbox/${sb.id}/stop`).map((x) => x.url);
    expect(sent.length === 1 && /[?&]force=true(&|$)/.test(sent[0]), `stop(60, true) requests: ${show(sent)}; expected one with force=true`);
  }

  // Cold resize: disk grows, cpu and memory may also shrink; the sandbox then starts with them.
  async resizeStopped() {
    const sb = this.state.default;
    const cur = await this.daytona.get(sb.id);
    expect(cur.state === 'stopped', `state ${show(cur.state)}, expected 'stopped'`);
    const want = [1, 1, cur.disk + 1];
    await sb.resize({ cpu: want[0], memory: want[1], disk: want[2] });
    expect(show([await settled(sb, 'stopped'), sb.cpu, sb.memory, sb.disk]) === show(['stopped', ...want]),
      `after resize(${show(want)}) of a stopped sandbox: ${show([sb.state, sb.cpu, sb.memory, sb.disk])}`);
    await sb.start();
    const got = await this.daytona.get(sb.id);
    expect(show([got.state, got.cpu, got.memory, got.disk]) === show(['started', ...want]),
      `after start(): ${show([got.state, got.cpu, got.memory, got.disk])}, expected started ${show(want)}`);
  }

  async resizeDiskShrink() {
    const sb = this.state.default;
    await sb.stop();
    const cur = await this.daytona.get(sb.id);
    expect(cur.disk >= 2, `disk ${cur.disk} (resize-stopped should have grown it)`);
    const err = await expectRaises(() => sb.resize({ disk: cur.disk - 1 }, 30), [DaytonaError],
      `resize({disk: ${cur.disk - 1}}) below ${cur.disk}`, 400);
    expect(/disk/i.test(String(err.message)), `error ${show(err.message)} does not say it is about the disk`);
    const got = await this.daytona.get(sb.id);
    expect(show([got.state, got.disk]) === show(['stopped', cur.disk]),
      `after the refused shrink: ${got.state} disk ${got.disk}, expected stopped ${cur.disk}`);
  }

  async delete() {
    const sb = this.state.default;
    await sb.delete();
    this.sandboxes.delete(sb.id);
    const gone = async () => {
      try {
        await this.daytona.get(sb.id);
      } catch (e) {
        if (e instanceof DaytonaNotFoundError) return true;
        throw e;
      }
      return false; // still resolves (e.g. 'destroying'); keep polling
    };
    await poll(gone, Boolean, 15, `get(${sb.id}) raising DaytonaNotFoundError after delete()`);
  }

  // -- snapshots --------------------------------------------------------------------------------

  async snapshotList() {
    const page = await this.daytona.snapshot.list();
    const byName = Object.fromEntries((page.items || []).map((s) => [s.name, s]));
    expect('default' in byName, `snapshot.list() names ${show(Object.keys(byName).sort())} lack 'default'`);
    expect(byName.default.state === 'active', `snapshot 'default' state ${show(byName.default.state)}, expected 'active'`);
    expect(isInt(page.total) && page.total >= page.items.length, `total ${show(page.total)} for ${page.items.length} items`);
    for (const key of ['page', 'totalPages']) expect(isInt(page[key]), `${key} is ${show(page[key])}, expected an integer`);
  }

  async snapshotGet() {
    const snap = await this.daytona.snapshot.get('default');
    expect(snap.name === 'default', `snapshot.get('default').name ${show(snap.name)}`);
    expect(snap.state === 'active', `snapshot.get('default').state ${show(snap.state)}`);
  }

  async snapshotGetUnknown() {
    await expectRaises(() => this.daytona.snapshot.get(`nope-${this.runId}`), [DaytonaNotFoundError],
      'snapshot.get(<unknown>)', 404);
  }

  async snapshotListPages() {
    const everything = await this.daytona.snapshot.list({ limit: 200 });
    const total = everything.total;
    expect(isInt(total) && total === everything.items.length && total >= 1,
      `snapshot.list({limit: 200}): total ${show(total)} for ${everything.items.length} items`);
    // Both call forms: list({page, limit}) and list(page, limit).
    for (const [form, first] of [['{page: 1, limit: 1}', await this.daytona.snapshot.list({ page: 1, limit: 1 })],
      ['(1, 1)', await this.daytona.snapshot.list(1, 1)]]) {
      expect(show([first.items.length, first.total, first.page, first.totalPages]) === show([1, total, 1, total]),
        `snapshot.list(${form}): ${first.items.length} items, total ${first.total}, page ${first.page}, ` +
        `totalPages ${first.totalPages}; expected 1, ${total}, 1, ${total}`);
    }
    const beyond = await this.daytona.snapshot.list({ page: total + 1, limit: 1 });
    expect(!beyond.items.length && beyond.page === total + 1,
      `snapshot.list({page: ${total + 1}, limit: 1}) gave ${show(beyond.items.map((s) => s.name))} page ${beyond.page}`);
    const names = [];
    for (let n = 1; n <= total; n += 1) names.push((await this.daytona.snapshot.list({ page: n, limit: 1 })).items[0].name);
    const all = everything.items.map((s) => s.name);
    expect(show([...names].sort()) === show([...all].sort()), `pages of one give ${show(names)}, the full list ${show(all)}`);
  }

  // Every Sandbar snapshot is active. Daytona answers 400 to activating an active snapshot;
  // Sandbar returns it unchanged. Either way it must stay active.
  async snapshotActivate() {
    const snap = await this.daytona.snapshot.get('default');
    for (const [shown, target] of [['Snapshot', snap], ["'default'", 'default'], ['<id>', snap.id]]) {
      try {
        const got = await this.daytona.snapshot.activate(target);
        expect(show([got.id, got.name, got.state]) === show([snap.id, 'default', 'active']),
          `activate(${shown}) returned ${show([got.id, got.name, got.state])}`);
      } catch (e) {
        expect(e instanceof DaytonaError && statusOf(e) === 400, `activate(${shown}) raised ${oneLine(e)}; expected 400 or the snapshot`);
      }
    }
    const after = await this.daytona.snapshot.get('default');
    expect(after.state === 'active', `snapshot 'default' is ${show(after.state)} after activate`);
  }

  // Sandbar cannot pull or build images yet: creating a snapshot from one is a clear 4xx naming it.
  async snapshotCreateFromImage() {
    const name = `sdk-ts-${this.runId}-image-snap`;
    const err = await expectRaises(() => this.daytona.snapshot.create({ name, image: IMAGE_REF }), [DaytonaError],
      `snapshot.create({image: ${show(IMAGE_REF)}})`);
    const status = statusOf(err);
    expect(status !== undefined && status >= 400 && status < 500,
      `snapshot.create raised ${oneLine(err)} with status ${status}, expected a 4xx`);
    expect(String(err.message).includes(IMAGE_REF), `error message ${show(err.message)} does not name the image ${show(IMAGE_REF)}`);
    await expectRaises(() => this.daytona.snapshot.get(name), [DaytonaNotFoundError], `snapshot.get(${show(name)}) after the refused create`, 404);
  }

  // -- volumes ----------------------------------------------------------------------------------

  async volumeCreate() {
    const name = `vol-ts-${this.runId}`;
    let vol = await this.daytona.volume.get(name, true);
    expect(vol.name === name, `volume.get(name, true).name ${show(vol.name)}, expected ${show(name)}`);
    vol = await poll(() => this.daytona.volume.get(name), (v) => ['ready', 'error'].includes(v.state), 60, `volume ${name} ready`);
    expect(vol.state === 'ready', `volume state ${show(vol.state)}, expected 'ready'`);
    this.state.volume = vol;
  }

  async volumeCreateExplicit() {
    const name = `vol-ts-y-${this.runId}`;
    let vol = await this.daytona.volume.create(name);
    expect(vol.name === name && typeof vol.id === 'string' && vol.id, `volume.create() returned ${show(vol)}`);
    vol = await poll(() => this.daytona.volume.get(name), (v) => ['ready', 'error'].includes(v.state), 60, `volume ${name} ready`);
    expect(vol.state === 'ready', `volume state ${show(vol.state)}, expected 'ready'`);
    const listed = (await this.daytona.volume.list()).filter((v) => v.id === vol.id).map((v) => v.name);
    expect(show(listed) === show([name]), `volume.list() has ${show(listed)} for ${vol.id}, expected [${show(name)}]`);
    await this.daytona.volume.delete(vol);
    const gone = async () => {
      try {
        return VOLUME_GONE_STATES.includes((await this.daytona.volume.get(name)).state);
      } catch (e) {
        if (statusOf(e) === 404) return true;
        throw e;
      }
    };
    await poll(gone, Boolean, 30, `volume ${name} deleted`);
  }

  async volumeList() {
    const vol = this.state.volume;
    const found = (await this.daytona.volume.list()).filter((v) => v.id === vol.id);
    expect(found.length === 1 && found[0].name === vol.name, `volume.list() does not contain ${vol.name} (${vol.id}) exactly once`);
  }

  async createWithVolume() {
    const vol = this.state.volume;
    const sb = this.track(await this.daytona.create({
      name: this.name('vol'), labels: this.labels({ case: 'volume' }),
      volumes: [{ volumeId: vol.id, mountPath: '/home/daytona/vol' }],
    }));
    this.state.volSandbox = sb;
    checkSandboxBasics(sb, 'create({volumes})');
    const mounts = (await this.daytona.get(sb.id)).volumes || [];
    expect(mounts.some((m) => m.mountPath === '/home/daytona/vol' && [vol.id, vol.name].includes(m.volumeId)),
      `get().volumes ${show(mounts)} lack ${vol.id} at /home/daytona/vol`);
  }

  async volumeDeleteInUse() {
    await expectRaises(() => this.daytona.volume.delete(this.state.volume), [DaytonaConflictError],
      'volume.delete(<in use>)', 409);
  }

  async volumeDelete() {
    const sb = this.state.volSandbox;
    await sb.delete(60, true); // wait for 'destroyed', so the volume is released
    this.sandboxes.delete(sb.id);
    const vol = this.state.volume;
    await this.daytona.volume.delete(vol);
    const gone = async () => {
      try {
        const v = await this.daytona.volume.get(vol.name);
        return VOLUME_GONE_STATES.includes(v.state);
      } catch (e) {
        if (statusOf(e) === 404) return true;
        throw e;
      }
    };
    await poll(gone, Boolean, 30, `volume ${vol.name} deleted`);
  }

  // -- bad input --------------------------------------------------------------------------------

  async getUnknown() {
    await expectRaises(() => this.daytona.get(crypto.randomUUID()), [DaytonaNotFoundError], 'get(<unknown id>)', 404);
  }

  // The TS SDK (unlike Python) sends `resources` whenever it is passed, also with a snapshot
  // (daytona-wire-ts.md §3.1); its types do not allow it, but plain JS can. The real API answers 400.
  async resourcesWithSnapshot() {
    const name = this.name('res');
    const before = this.capture.requests.length;
    await expectRaises(async () => {
      const sb = await this.daytona.create({
        snapshot: 'default', name, labels: this.labels({ case: 'resources' }), resources: { cpu: 2, memory: 2 },
      }, { timeout: 30 });
      this.track(sb);
      return sb;
    }, [DaytonaBadRequestError], 'create({snapshot, resources})', 400);
    const sent = this.capture.requests.slice(before).find((r) => r.method === 'POST' && r.path === '/sandbox');
    let body = {};
    try {
      body = typeof sent?.data === 'string' ? JSON.parse(sent.data) : {};
    } catch { /* checked below */ }
    expect(body.snapshot === 'default' && body.cpu === 2, `the SDK did not send snapshot and cpu together: ${show(sent?.data)}`);
    const leaked = (await collect(this.daytona.list({ labels: this.labels({ case: 'resources' }) })))
      .filter((s) => s.name === name || (s.labels || {}).case === 'resources').map((s) => s.id);
    for (const id of leaked) if (!this.sandboxes.has(id)) this.sandboxes.set(id, null);
    expect(!leaked.length, `a sandbox was created anyway: ${leaked.join(', ')}`);
  }

  async wrongApiKey() {
    const bad = new Daytona({ apiKey: `sandbar-suite-wrong-key-${this.runId}`, apiUrl: this.apiUrl });
    try {
      await expectRaises(() => bad.get(crypto.randomUUID()), [DaytonaAuthenticationError], 'get() with a wrong API key', 401);
      await expectRaises(() => collect(bad.list()), [DaytonaAuthenticationError], 'list() with a wrong API key', 401);
    } finally {
      await dispose(bad);
    }
  }

  // -- cleanup ----------------------------------------------------------------------------------

  // Deletes every sandbox and volume of this run: through the SDK, and over plain HTTP when the
  // SDK cannot.
  async cleanup() {
    const problems = [];
    const ids = new Set([...this.sandboxes.keys(), ...this.capture.created['/sandbox']]);
    try {
      // Checked client-side as well: never delete a sandbox of another run, even if the server
      // ignores the label filter.
      for (const s of await collect(this.daytona.list({ labels: this.labels() }))) {
        if ((s.labels || {})[RUN_LABEL] === this.runId) ids.add(s.id);
      }
    } catch (e) {
      console.log(`note cleanup: list by run label failed (${oneLine(e)}); using the captured ids`);
    }
    for (const sid of [...ids].sort()) {
      try {
        const sb = await this.daytona.get(sid);
        await sb.delete(60, true);
      } catch (e) {
        if (e instanceof DaytonaNotFoundError) continue;
        const [status] = await this.rawRequest('DELETE', `/sandbox/${encodeURIComponent(sid)}`);
        console.log(`note cleanup: SDK could not delete sandbox ${sid} (${oneLine(e)}); plain DELETE -> ${status}`);
        if (![200, 204, 404].includes(status)) problems.push(`sandbox ${sid}: DELETE -> ${status}`);
      }
    }
    for (const vid of [...this.capture.created['/volumes']].sort()) {
      const [status, body] = await this.rawRequest('GET', `/volumes/${encodeURIComponent(vid)}`);
      if (status === 404 || VOLUME_GONE_STATES.includes(body?.state)) continue;
      if (typeof body?.name === 'string') {
        try {
          await deleteVolumeWithRetry(this.daytona, body.name);
          continue;
        } catch (e) {
          console.log(`note cleanup: SDK could not delete volume ${body.name} (${oneLine(e)})`);
        }
      }
      const [delStatus] = await this.rawRequest('DELETE', `/volumes/${encodeURIComponent(vid)}`, 30);
      console.log(`note cleanup: plain DELETE /volumes/${vid} -> ${delStatus}`);
      if (![200, 204, 404].includes(delStatus)) problems.push(`volume ${vid}: DELETE -> ${delStatus}`);
    }
    expect(!problems.length, 'left behind: ' + problems.join('; '));
  }

  // {method} {api}{path} with the API key, outside the SDK and the capture (cleanup only).
  async rawRequest(method, p, retryConflictS = 0) {
    const deadline = Date.now() + retryConflictS * 1000;
    for (;;) {
      try {
        const resp = await fetch(this.apiUrl + p, {
          method, headers: { Authorization: `Bearer ${this.apiKey}` }, signal: AbortSignal.timeout(30_000),
        });
        const text = await resp.text();
        if (resp.status !== 409 || Date.now() > deadline) {
          let body = null;
          try {
            body = text.trim() ? JSON.parse(text) : null;
          } catch { /* not JSON */ }
          return [resp.status, body];
        }
      } catch (e) {
        return [`transport error ${e.message}`, null];
      }
      await sleep(1000);
    }
  }
}

async function deleteVolumeWithRetry(client, name, timeoutS = 30) {
  const deadline = Date.now() + timeoutS * 1000;
  for (;;) {
    let vol;
    try {
      vol = await client.volume.get(name);
    } catch (e) {
      if (statusOf(e) === 404) return;
      throw e;
    }
    if (VOLUME_GONE_STATES.includes(vol.state)) return;
    try {
      await client.volume.delete(vol);
      return;
    } catch (e) {
      if (statusOf(e) !== 409 || Date.now() > deadline) throw e;
    }
    await sleep(1000);
  }
}

// ---- main ----------------------------------------------------------------------------------------

async function main() {
  const { apiUrl, apiKey } = apiFromEnv();
  const specSource = checkSpecSetup();
  loadSdk();

  const capture = new Capture(apiUrl);
  capture.install();
  const client = new Daytona({ apiKey, apiUrl });
  const suite = new Suite(apiUrl, apiKey, capture, client);
  suite.watchUnhandled();
  console.log(`@daytonaio/sdk ${SDK_VERSION} against ${apiUrl}, run ${suite.runId}, spec ${specSource}`);

  const s = suite.step.bind(suite);
  try {
    await s('create-default', suite.createDefault);
    await s('create-with-params', suite.createWithParams);
    await s('create-from-snapshot', suite.createFromSnapshot);
    await s('create-unknown-snapshot', suite.createUnknownSnapshot);
    await s('create-from-image', suite.createFromImage);
    await s('get-by-id', suite.getById, ['create-with-params']);
    await s('get-by-name', suite.getByName, ['create-with-params']);
    const both = ['create-with-params', 'create-from-snapshot'];
    await s('list-by-labels', suite.listByLabels, both);
    await s('list-pages', suite.listPages, both);
    await s('list-filters', suite.listFilters, both);
    await s('list-sorted', suite.listSorted, both);
    await s('list-by-created-at', suite.listByCreatedAt, both);
    await s('list-prefix-case-insensitive', suite.listPrefixCaseInsensitive, both);
    await s('toolbox-proxy-url', suite.toolboxProxyUrl, ['create-with-params']);
    await s('build-logs-url', suite.buildLogsUrl, ['create-with-params']);
    await s('config', suite.config, ['create-with-params']);
    await s('set-labels', suite.setLabels, ['create-default']);
    await s('autostop-interval', suite.autostopInterval, ['create-default']);
    await s('auto-archive-interval', suite.autoArchiveInterval, ['create-default']);
    await s('auto-delete-interval', suite.autoDeleteInterval, ['create-default']);
    await s('set-public', suite.setPublic, ['create-default']);
    await s('network-settings', suite.networkSettings, ['create-default']);
    await s('refresh-activity', suite.refreshActivity, ['create-default', 'set-labels', 'create-from-snapshot']);
    await s('stop', suite.stop, ['create-default']);
    await s('start', suite.start, ['stop']);
    await s('refresh-data', suite.refreshData, ['start']);
    await s('resize-hot', suite.resizeHot, ['start']);
    await s('resize-hot-refusals', suite.resizeHotRefusals, ['resize-hot']);
    await s('pause', suite.pause, ['start']);
    await s('recover-healthy', suite.recoverHealthy, ['start']);
    await s('stop-force', suite.stopForce, ['start']);
    await s('resize-stopped', suite.resizeStopped, ['stop-force']);
    await s('resize-disk-shrink-refused', suite.resizeDiskShrink, ['resize-stopped']);
    await s('delete', suite.delete, ['create-default']);
    await s('snapshot-list', suite.snapshotList);
    await s('snapshot-list-pages', suite.snapshotListPages);
    await s('snapshot-get', suite.snapshotGet);
    await s('snapshot-get-unknown', suite.snapshotGetUnknown);
    await s('snapshot-activate', suite.snapshotActivate);
    await s('snapshot-create-from-image', suite.snapshotCreateFromImage);
    await s('volume-create', suite.volumeCreate);
    await s('volume-create-explicit', suite.volumeCreateExplicit);
    await s('volume-list', suite.volumeList, ['volume-create']);
    await s('create-with-volume', suite.createWithVolume, ['volume-create']);
    await s('volume-delete-in-use', suite.volumeDeleteInUse, ['create-with-volume']);
    await s('volume-delete', suite.volumeDelete, ['create-with-volume']);
    await s('get-unknown', suite.getUnknown);
    await s('resources-with-snapshot', suite.resourcesWithSnapshot);
    await s('wrong-api-key', suite.wrongApiKey);
  } finally {
    await s('cleanup', suite.cleanup);
    await dispose(client);
  }

  if (!capture.exchanges.length) {
    suite.fail('capture-hook', "no control-plane response was captured; the adapter hook is not in the SDK's path");
  }
  return suite.finish({ tmpPrefix: 'sandbar-ts-exchanges-' });
}

runMain(main);
