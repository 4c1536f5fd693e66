// Toolbox conformance flows for the official, unmodified Daytona TypeScript SDK (@daytonaio/sdk, pinned in
// package.json beside this file): the counterpart of ../toolbox.py, plus the toolbox calls only the TS SDK
// makes (createPty over create-connect, uploadFileStream, downloadFileStream, the interpreter's control frame).
// One long file on purpose: one scenario of ordered steps sharing one sandbox, mirroring ../toolbox.py.
//
// Run with Node >= 18 against a running `sandbar serve`, after ../setup-node.sh <cache>:
//
//   SANDBAR_NODE_DAYTONA=<cache>/node-daytona \
//   DAYTONA_API_URL=http://127.0.0.1:3000/api DAYTONA_API_KEY=... node tests/sdk/ts/toolbox.mjs
//
// SANDBAR_NODE_DAYTONA is the directory whose node_modules holds the SDK (default: this directory).
// Covered through the SDK: sandbox info dirs, process.executeCommand (output, exit code, env, cwd, timeout,
// background child), process.codeRun (python, javascript), sessions (sync/async exec, stdin, input, REST and
// followed logs, get/list/delete), PTYs (createPty, connectPty, input, resize, envs/cwd, exit code, kill), the
// code interpreter (state, errors, timeout, contexts), the file system (uploads from a Buffer, a local file and
// a stream, downloads to memory, a local file and a stream, list, details, folder, move, permissions, find,
// search, replace, delete, missing files), git against a bare repository inside the sandbox (clone, status,
// add, commit, branches, checkout, push, pull, errors), and fork/snapshot of a sandbox.
//
// Each step prints `ok <step>` or `FAIL <step>: <reason>`; the last line is `N passed, M failed`. When a step
// fails, the reason ends with the last non-2xx toolbox HTTP exchange of that step (method, path, status,
// body). Every exchange is captured below the SDK, and nothing in the SDK is modified:
// - HTTP: axios.defaults.adapter of the axios module the SDK requires is wrapped before the first client
//   exists (flow.mjs, as for control_plane.mjs); the wrapper sees each response's status, content type and raw
//   body text (a streamed body, e.g. a multipart download, is recorded without its body);
// - WebSockets (PTY create-connect/connect, followed logs, the interpreter): WebSocket.prototype.emit of
//   the `ws` class the SDK gets through isomorphic-ws is wrapped, recording the handshake response of its
//   'upgrade' (101) and 'unexpected-response' events (status only).
// At the end the exchanges go to a temporary JSON file checked once by `python spec_check.py --check-file`
// (interpreter: $SANDBAR_SPEC_PYTHON, default python3; it must have the generated clients of the pinned
// Python SDK): toolbox responses against daytona_toolbox_api_client (daemon path = URL minus
// `{toolboxProxyUrl}/{sandboxId}`), control-plane ones against daytona_api_client. It prints
// `N spec violations in T toolbox responses and C control-plane responses` and one line per distinct
// violation. SANDBAR_SDK_TRACE=1 prints every captured exchange;
// SANDBAR_SDK_EXCHANGES=<file> keeps the exchange file there. Every sandbox the run creates is deleted at
// the end, also on failure. Exit status: 0 when every step passed and no spec violation was recorded, 1
// otherwise, 2 for a configuration error.
// The machinery shared with control_plane.mjs (loading the SDK, the axios hook, the step runner, the spec
// check and the summary lines) is in flow.mjs.

import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';

import {
  Capture as BaseCapture, Suite as BaseSuite, apiFromEnv, bodyText, checkSpecSetup, configError, dispose, expect,
  headerValue, loadSdk as loadPinnedSdk, runMain, sleep, withTimeout,
} from './flow.mjs';

const STEP_TIMEOUT_MS = 150_000; // a hung SDK call fails its step instead of hanging the run
const HOME = '/home/daytona';

// ---- load the SDK (CommonJS build, so it shares one axios module with us) ---------------------------

let sdk;
let axios;
let WebSocketClass; // the `ws` WebSocket class the SDK constructs (isomorphic-ws re-exports it in Node)
let SDK_VERSION;

function loadSdk() {
  const pinned = loadPinnedSdk();
  SDK_VERSION = pinned.version;
  sdk = pinned.sdk;
  axios = pinned.axios;
  WebSocketClass = pinned.requireFromSdk('isomorphic-ws');
}

// ---- capture of HTTP and WebSocket exchanges (for failure reports and the spec check) --------------

function shortBody(data) {
  if (data == null) return '';
  if (typeof data === 'string') return data.length > 300 ? `${data.slice(0, 300)}…` : data;
  if (Buffer.isBuffer(data)) return shortBody(data.toString('utf8'));
  if (data instanceof ArrayBuffer) return shortBody(Buffer.from(data).toString('utf8'));
  if (typeof data.pipe === 'function') return '<stream>';
  if (typeof data.getBoundary === 'function') return '<multipart form>';
  try {
    return shortBody(JSON.stringify(data));
  } catch {
    return String(data);
  }
}

class Capture extends BaseCapture {
  constructor(apiUrl) {
    super(apiUrl);
    this.exchanges = []; // every exchange, for failure reports
    this.checked = []; // every response, in spec_check.py --check-file format
  }

  install() {
    this.installAxios(axios);
    this.installWebSocket();
  }

  // One axios exchange; `response` is undefined when the request got none.
  record(step, method, url, config, response) {
    const x = {
      step,
      method,
      url,
      status: response?.status ?? 'no response',
      request: shortBody(config.data),
      response: response ? shortBody(response.data) : '',
    };
    this.exchanges.push(x);
    if (response) {
      const text = bodyText(response.data);
      this.checked.push({
        step, method, url, status: response.status,
        contentType: headerValue(response.headers, 'content-type'),
        text: text ?? null, bodyCaptured: text !== undefined,
      });
    }
    if (this.trace) console.log(`  .. ${x.method} ${x.url} ${x.request} -> ${x.status} ${x.response}`);
  }

  // WebSocket handshakes: ws emits 'upgrade' (response) on 101 and 'unexpected-response' (request, response)
  // otherwise. The wrapper only records and returns what the original emit returns (ws aborts the handshake
  // itself when nobody listens for 'unexpected-response').
  installWebSocket() {
    const proto = WebSocketClass?.prototype;
    if (!proto || typeof proto.emit !== 'function') {
      configError("the SDK's WebSocket class (isomorphic-ws -> ws) has no prototype.emit to hook");
    }
    if (proto.emit.sandbarCapture) return;
    const original = proto.emit;
    const capture = this;
    const emit = function sandbarCaptureEmit(event, ...args) {
      const res = event === 'upgrade' ? args[0] : event === 'unexpected-response' ? args[1] : null;
      if (res && typeof res.statusCode === 'number') {
        const x = { step: capture.step, method: 'GET', url: String(this.url), status: res.statusCode, request: '', response: '' };
        capture.exchanges.push(x);
        capture.checked.push({
          step: x.step, method: 'GET', url: x.url, status: res.statusCode,
          contentType: String(res.headers?.['content-type'] ?? ''), text: null, bodyCaptured: false,
        });
        if (capture.trace) console.log(`  .. GET ${x.url} (WebSocket) -> ${res.statusCode}`);
      }
      return original.call(this, event, ...args);
    };
    emit.sandbarCapture = true;
    proto.emit = emit;
  }

  // What spec_check.py --check-file reads (toolbox mode: the toolbox bases come from the sandbox DTOs).
  toFile() {
    return { apiUrl: this.apiUrl, toolboxUrls: [], exchanges: this.checked };
  }

  lastFailure(step) {
    const x = [...this.exchanges].reverse().find((e) => e.step === step && !(e.status >= 200 && e.status < 300));
    if (!x) return '';
    let p = x.url;
    try {
      const u = new URL(x.url);
      p = u.pathname + u.search;
    } catch { /* keep the raw url */ }
    return ` [wire: ${x.method} ${p}${x.request ? ` body ${x.request}` : ''} -> ${x.status} ${x.response}]`;
  }
}

// ---- helpers ------------------------------------------------------------------------------------

function show(value) {
  if (Buffer.isBuffer(value)) value = `<Buffer ${JSON.stringify(value.toString('utf8').slice(0, 120))}>`;
  let s;
  try {
    s = JSON.stringify(value);
  } catch {
    s = String(value);
  }
  return s === undefined ? 'undefined' : s.length > 400 ? `${s.slice(0, 400)}…` : s;
}

function oneLine(error) {
  const name = error?.constructor?.name ?? typeof error;
  const text = String(error?.message ?? error).split(/\s+/).join(' ').trim() || '(no message)';
  const status = error?.statusCode !== undefined ? ` (status ${error.statusCode}${error.code ? `, code ${error.code}` : ''})` : '';
  return `${name}${status}: ${text.slice(0, 400)}`;
}

function expectEqual(actual, wanted, what) {
  const a = show(actual);
  const w = show(wanted);
  if (a !== w) throw new Error(`${what}: got ${a}, wanted ${w}`);
}

// Runs fn, which must throw an instance of cls; returns the error. status/message are checked when given.
async function expectError(fn, cls, what, { status, message } = {}) {
  let result;
  try {
    result = await fn();
  } catch (e) {
    if (!(e instanceof cls)) throw new Error(`${what}: expected ${cls.name}, got ${oneLine(e)}`);
    if (status !== undefined && e.statusCode !== status) {
      throw new Error(`${what}: ${oneLine(e)} has statusCode ${show(e.statusCode)}, expected ${status}`);
    }
    if (message && !message.test(String(e.message))) {
      throw new Error(`${what}: ${oneLine(e)} does not match ${message}`);
    }
    return e;
  }
  throw new Error(`${what}: expected ${cls.name}, got a result ${show(result)}`);
}

async function until(check, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const last = await check();
    if (last === true) return;
    if (Date.now() > deadline) throw new Error(`${what} not seen within ${timeoutMs / 1000}s (last: ${show(last)})`);
    await sleep(100);
  }
}

function sha256(buf) {
  return crypto.createHash('sha256').update(buf).digest('hex');
}

const stripMarkers = (s) => s.replace(/\x01\x01\x01|\x02\x02\x02/g, '');

// ---- the suite ---------------------------------------------------------------------------------

class Suite extends BaseSuite {
  constructor(daytona, capture) {
    super(capture, daytona, { stepTimeoutMs: STEP_TIMEOUT_MS, describe: oneLine });
    this.snapshots = []; // snapshot names this run created
    this.tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sandbar-ts-toolbox-'));
  }

  labels(extra = {}) {
    return super.labels({ suite: 'toolbox-ts', ...extra });
  }

  // A shell command that must succeed (test setup and checks outside the call under test).
  async sh(command, sb = this.sb) {
    const r = await sb.process.executeCommand(command);
    if (r.exitCode !== 0) throw new Error(`setup command ${show(command)} exited ${r.exitCode}: ${r.result.slice(0, 300)}`);
    return r.result;
  }

  // -- sandbox ---------------------------------------------------------------------------------

  async createSandbox() {
    const sb = this.track(await this.daytona.create({ envVars: { FROM_CREATE: 'c' }, labels: this.labels() }));
    this.sb = sb;
    expectEqual(sb.state, 'started', 'state after create');
    expectEqual(sb.labels['code-toolbox-language'], 'python', 'language label');
  }

  // The server's state, not the local object's: the SDK's Socket.IO events of an operation can
  // arrive after its answer and flip the local copy for a moment.
  async serverState() {
    return (await this.daytona.get(this.sb.id)).state;
  }

  async stopArchiveStart() {
    await this.sb.fs.uploadFile(Buffer.from('kept across an archive\n'), 'archived.txt');
    await this.sb.stop();
    await this.sb.archive();
    const archived = await this.serverState();
    await this.sb.start();
    const started = await this.serverState();
    const content = (await this.sb.fs.downloadFile('archived.txt')).toString();
    expectEqual([archived, started, content], ['archived', 'started', 'kept across an archive\n'],
      'states and file across stop, archive, start');
  }

  async forkAndSnapshot() {
    await this.sb.fs.uploadFile(Buffer.from('forked\n'), 'state.txt');
    const forkName = `sdk-ts-fork-${this.runId}`;
    const copy = this.track(await this.sb.fork({ name: forkName }));
    let seen;
    let original;
    try {
      expectEqual(copy.state, 'started', 'fork state');
      expect(copy.id !== this.sb.id, 'the fork has the id of the original');
      expectEqual(copy.name, forkName, 'fork name');
      seen = await copy.fs.downloadFile('state.txt');
      await copy.fs.uploadFile(Buffer.from('changed\n'), 'state.txt');
      original = await this.sb.fs.downloadFile('state.txt');
    } finally {
      await copy.delete();
      this.sandboxes.delete(copy.id);
    }
    const name = `sdk-ts-snap-${this.runId}`;
    await this.sb.createSnapshot(name);
    this.snapshots.push(name);
    this.madeSnapshot = name;
    expectEqual(await this.serverState(), 'started', 'state after createSnapshot');
    const made = await this.daytona.snapshot.get(name);
    expectEqual(made.name, name, 'snapshot name');
    const restoredSb = this.track(await this.daytona.create({ snapshot: name, labels: this.labels({ from: 'snapshot' }) }));
    let restored;
    try {
      restored = await restoredSb.fs.downloadFile('state.txt');
    } finally {
      await restoredSb.delete();
      this.sandboxes.delete(restoredSb.id);
    }
    expectEqual([seen, original, restored].map((b) => b.toString()), ['forked\n', 'forked\n', 'forked\n'],
      'fork copy, original after the fork changed its copy, sandbox from the snapshot');
  }

  // snapshot.list({sourceSandboxId}) (0.218.0): only the snapshots made from that sandbox.
  async snapshotListBySource() {
    const name = this.madeSnapshot;
    const mine = await this.daytona.snapshot.list({ sourceSandboxId: this.sb.id });
    const other = await this.daytona.snapshot.list({ sourceSandboxId: crypto.randomUUID() });
    const made = await this.daytona.snapshot.get(name);
    expectEqual(
      [mine.items.map((x) => x.name), mine.total, other.items.map((x) => x.name), other.total, made.sourceSandboxId],
      [[name], 1, [], 0, this.sb.id],
      `snapshot.list({sourceSandboxId: ${this.sb.id}}) names and total, the same for an unknown sandbox id, ` +
      'and snapshot.get(name).sourceSandboxId');
  }

  // pause() freezes the processes and keeps memory; start() resumes them where they were.
  async pauseKeepsProcesses() {
    await this.sh('echo in-memory > /tmp/paused-note; setsid sleep 1000 > /dev/null 2>&1 < /dev/null & echo $! > /tmp/paused-pid');
    await this.sb.pause();
    const paused = await this.serverState();
    await this.sb.start();
    const started = await this.serverState();
    const alive = (await this.sh('cat /tmp/paused-note; kill -0 $(cat /tmp/paused-pid) && echo alive; kill $(cat /tmp/paused-pid)')).trim();
    expectEqual([paused, started, alive], ['paused', 'started', 'in-memory\nalive'],
      'states across pause and start, tmpfs file and process after resuming');
  }

  // -- info ------------------------------------------------------------------------------------

  async infoDirs() {
    expectEqual(await this.sb.getUserHomeDir(), HOME, 'getUserHomeDir()');
    expectEqual(await this.sb.getWorkDir(), HOME, 'getWorkDir()');
  }

  // -- process.executeCommand / codeRun --------------------------------------------------------

  async execOutput() {
    const r = await this.sb.process.executeCommand('echo $FROM_CREATE $FROM_CALL; echo to-stderr >&2; exit 3', undefined,
      { FROM_CALL: 'x' });
    expectEqual([r.exitCode, r.result, r.artifacts?.stdout], [3, 'c x\nto-stderr\n', 'c x\nto-stderr\n'],
      'exitCode, result, artifacts.stdout');
  }

  async execCwd() {
    await this.sh('mkdir -p "/tmp/my dir"');
    const r1 = await this.sb.process.executeCommand('pwd', '/tmp');
    const r2 = await this.sb.process.executeCommand('pwd', '/tmp/my dir');
    const r3 = await this.sb.process.executeCommand('pwd');
    expectEqual([r1.result, r2.result, r3.result], ['/tmp\n', '/tmp/my dir\n', `${HOME}\n`], 'pwd with cwd /tmp, "/tmp/my dir", none');
  }

  async execTimeout() {
    const started = Date.now();
    await expectError(() => this.sb.process.executeCommand('sleep 58; echo never', undefined, undefined, 1),
      sdk.DaytonaProcessExecutionTimeoutError, 'executeCommand(sleep 58, timeout 1)', { status: 408, message: /timed out/i });
    const took = (Date.now() - started) / 1000;
    expect(took < 20, `the timeout error came after ${took.toFixed(1)}s, expected about 1s`);
    // The timed-out command must be killed, not left running.
    const count = 'for f in /proc/[0-9]*/cmdline; do tr "\\0" " " < $f 2>/dev/null; echo; done | grep -cx "sleep 58 " || true';
    await until(async () => {
      const n = (await this.sh(count)).trim();
      return n === '0' ? true : `${n} 'sleep 58' still running`;
    }, 5000, "the timed-out 'sleep 58' gone");
  }

  async execBackgroundChild() {
    const started = Date.now();
    const r = await this.sb.process.executeCommand('sleep 60 & echo started', undefined, undefined, 30);
    const took = (Date.now() - started) / 1000;
    expectEqual([r.exitCode, r.result], [0, 'started\n'], 'exitCode, result');
    expect(took < 15, `executeCommand returned after ${took.toFixed(1)}s; the background child held it`);
  }

  async codeRunPython() {
    const p = this.sb.process;
    const r1 = await p.codeRun("import sys\nprint('sum', sum(range(10)))");
    expectEqual([r1.exitCode, r1.result, r1.artifacts?.stdout, r1.artifacts?.charts], [0, 'sum 45\n', 'sum 45\n', []],
      'plain run: exitCode, result, artifacts.stdout, charts');
    const r2 = await p.codeRun("import os, sys\nprint(sys.argv[1:], os.environ['CR'])", { argv: ['a', 'b c'], env: { CR: 'y' } });
    expectEqual([r2.exitCode, r2.result], [0, "['a', 'b c'] y\n"], 'argv and env');
    const r3 = await p.codeRun("import sys\nprint('bye')\nsys.exit(4)");
    expectEqual([r3.exitCode, r3.result], [4, 'bye\n'], 'sys.exit(4)');
  }

  async codeRunJavascript() {
    const js = this.track(await this.daytona.create({ language: 'javascript', labels: this.labels({ lang: 'js' }) }));
    try {
      expectEqual(js.labels['code-toolbox-language'], 'javascript', 'language label');
      const r = await js.process.codeRun(
        "console.log('js', [1, 2, 3].reduce((a, b) => a + b, 0), process.env.CR, process.argv.slice(-2).join(','))",
        { argv: ['p', 'q'], env: { CR: 'y' } });
      expectEqual([r.exitCode, r.result], [0, 'js 6 y p,q\n'], 'javascript exitCode, result');
      const r2 = await js.process.codeRun("console.error('oops'); process.exit(2)");
      expectEqual([r2.exitCode, r2.result], [2, 'oops\n'], 'javascript process.exit(2)');
    } finally {
      await js.delete();
      this.sandboxes.delete(js.id);
    }
  }

  async codeRunTypescript() {
    const ts = this.track(await this.daytona.create({ language: 'typescript', labels: this.labels({ lang: 'ts' }) }));
    try {
      const r = await ts.process.codeRun(
        "const total: number = [1, 2, 3].reduce((a: number, b: number) => a + b, 0);\nconsole.log('ts', total, process.argv.slice(1).join(','));",
        { argv: ['p', 'q'] });
      expectEqual([r.exitCode, r.result], [0, 'ts 6 p,q\n'], 'typescript exitCode, result');
      const broken = await ts.process.codeRun('const n: number = ;');
      expectEqual([broken.exitCode, broken.result.includes('TS1109')], [1, true], 'typescript syntax error');
    } finally {
      await ts.delete();
      this.sandboxes.delete(ts.id);
    }
  }

  async codeRunChart() {
    const r = await this.sb.process.codeRun(
      "import matplotlib.pyplot as plt\nplt.plot([0, 1, 2], [0, 1, 4], label='squares'); plt.title('Growth'); plt.show()\nprint('plotted')");
    const charts = (r.artifacts && r.artifacts.charts) || [];
    expectEqual([r.exitCode, r.result, charts.length], [0, 'plotted\n', 1], 'exitCode, result, chart count');
    const [chart] = charts;
    expectEqual([chart.type, chart.title, chart.elements[0].label, chart.elements[0].points],
      ['line', 'Growth', 'squares', [[0, 0], [1, 1], [2, 4]]], 'line chart');
    expect(typeof chart.png === 'string' && chart.png.length > 1000, 'chart png');
  }

  // -- sessions --------------------------------------------------------------------------------

  async sessionState() {
    const p = this.sb.process;
    await p.createSession('s1');
    const first = await p.executeSessionCommand('s1', { command: 'cd /tmp && export FOO=bar' });
    expectEqual(first.exitCode, 0, 'exitCode of cd/export');
    const r = await p.executeSessionCommand('s1', { command: 'pwd; echo $FOO; echo e >&2; exit 5' });
    expectEqual([r.exitCode, r.stdout, r.stderr], [5, '/tmp\nbar\n', 'e\n'], 'exitCode, stdout, stderr');
    expect(typeof r.cmdId === 'string' && r.cmdId, `cmdId ${show(r.cmdId)}`);
    const cmd = await p.getSessionCommand('s1', r.cmdId);
    expectEqual([cmd.id, cmd.command, cmd.exitCode], [r.cmdId, 'pwd; echo $FOO; echo e >&2; exit 5', 5], 'getSessionCommand');
    const logs = await p.getSessionCommandLogs('s1', r.cmdId);
    expectEqual([logs.stdout, logs.stderr], ['/tmp\nbar\n', 'e\n'], 'getSessionCommandLogs stdout, stderr');
    expectEqual(stripMarkers(logs.output).split('\n').sort(), ['', '/tmp', 'bar', 'e'], 'getSessionCommandLogs output lines');
  }

  async sessionStdinEof() {
    const r = await this.sb.process.executeSessionCommand('s1', { command: 'cat; echo after' });
    expectEqual([r.exitCode, r.stdout], [0, 'after\n'], 'a sync command reading stdin');
  }

  async sessionAsyncInputFollow() {
    const p = this.sb.process;
    const command = 'read x; echo e$x >&2; for i in 1 2; do echo $x$i; done';
    const started = await p.executeSessionCommand('s1', { command, runAsync: true });
    expect(typeof started.cmdId === 'string' && started.cmdId, `async exec cmdId ${show(started.cmdId)}`);
    const running = await p.getSessionCommand('s1', started.cmdId);
    expectEqual(running.exitCode ?? null, null, 'exitCode while waiting for input');
    await p.sendSessionCommandInput('s1', started.cmdId, 'v');
    const out = [];
    const err = [];
    await p.getSessionCommandLogs('s1', started.cmdId, (c) => out.push(c), (c) => err.push(c));
    expectEqual([out.join(''), err.join('')], ['v\nv1\nv2\n', 'ev\n'], 'followed stdout (with the echoed input), stderr');
    const done = await p.getSessionCommand('s1', started.cmdId);
    expectEqual(done.exitCode, 0, 'exitCode after the follow ended');
    const logs = await p.getSessionCommandLogs('s1', started.cmdId);
    expectEqual([logs.stdout, logs.stderr], ['v\nv1\nv2\n', 'ev\n'], 'REST logs stdout, stderr');
  }

  async sessionFollowStreams() {
    const p = this.sb.process;
    const started = await p.executeSessionCommand('s1', {
      command: 'for i in 1 2 3; do echo tick$i; sleep 0.5; done; echo end >&2', runAsync: true,
    });
    const chunks = [];
    const err = [];
    const t0 = Date.now();
    let firstAt;
    await p.getSessionCommandLogs('s1', started.cmdId, (c) => {
      firstAt ??= Date.now();
      chunks.push(c);
    }, (c) => err.push(c));
    const endAt = Date.now();
    expectEqual([chunks.join(''), err.join('')], ['tick1\ntick2\ntick3\n', 'end\n'], 'followed stdout, stderr');
    expect(firstAt !== undefined && endAt - firstAt >= 700,
      `first output ${firstAt - t0}ms and end ${endAt - t0}ms after the follow began: output was not streamed live`);
    expectEqual((await p.getSessionCommand('s1', started.cmdId)).exitCode, 0, 'exitCode');
  }

  async sessionListDelete() {
    const p = this.sb.process;
    const sessions = await p.listSessions();
    const s1 = sessions.find((s) => s.sessionId === 's1');
    expect(s1, `listSessions() ${show(sessions)} lacks s1`);
    const got = await p.getSession('s1');
    expectEqual(got.sessionId, 's1', 'getSession sessionId');
    expectEqual(got.commands.map((c) => c.exitCode), [0, 5, 0, 0, 0], 'exit codes of the 5 commands run in s1');
    await p.deleteSession('s1');
    await expectError(() => p.getSession('s1'), sdk.DaytonaNotFoundError, 'getSession after delete', { status: 404 });
    await expectError(() => p.executeSessionCommand('s1', { command: 'true' }), sdk.DaytonaNotFoundError,
      'executeSessionCommand after delete', { status: 404 });
  }

  // -- PTY -------------------------------------------------------------------------------------

  async ptyRoundTrip() {
    const p = this.sb.process;
    const id = `term-${this.runId}`;
    let text = '';
    const decoder = new TextDecoder();
    const onData = (bytes) => {
      text += decoder.decode(bytes, { stream: true });
    };
    const handle = await p.createPty({ id, cols: 100, rows: 30, onData });
    expect(handle.isConnected(), 'createPty: handle is not connected');
    await handle.sendInput('echo pty-$((6*7)); stty size\n');
    await until(() => (text.includes('pty-42') && text.includes('30 100')) || text.slice(-200), 15000, "'pty-42' and '30 100'");
    const info = await p.getPtySessionInfo(id);
    expectEqual([info.id, info.cols, info.rows, info.active], [id, 100, 30, true], 'getPtySessionInfo');
    const listed = (await p.listPtySessions()).map((s) => s.id);
    expect(listed.includes(id), `listPtySessions() ${show(listed)} lacks ${id}`);
    await handle.disconnect();
    await sleep(300);

    // Reattach: the PTY outlives its first client.
    text = '';
    const again = await p.connectPty(id, { onData });
    const resized = await again.resize(120, 40);
    expectEqual([resized.cols, resized.rows], [120, 40], 'resize() result');
    await again.sendInput('stty size; exit 3\n');
    const result = await withTimeout(again.wait(), 20000, 'wait()');
    expectEqual(result.exitCode, 3, 'wait() exitCode');
    expect(text.includes('40 120'), `no '40 120' after resize in ${show(text.slice(-300))}`);
  }

  async ptyEnvsCwd() {
    const id = `envs-${this.runId}`;
    let text = '';
    const handle = await this.sb.process.createPty({
      id, cwd: '/tmp/my dir', envs: { PTYVAR: 'pv' }, onData: (b) => { text += Buffer.from(b).toString(); },
    });
    await handle.sendInput('echo "[$PTYVAR:$(pwd)]"; exit\n');
    const result = await withTimeout(handle.wait(), 20000, 'wait()');
    expectEqual(result.exitCode, 0, 'wait() exitCode');
    expect(text.includes('[pv:/tmp/my dir]'), `no '[pv:/tmp/my dir]' in ${show(text.slice(-300))}`);
  }

  async ptyKill() {
    const p = this.sb.process;
    const id = `kill-${this.runId}`;
    const handle = await p.createPty({ id, onData: () => {} });
    await handle.kill();
    const result = await withTimeout(handle.wait(), 20000, 'wait() after kill()');
    expectEqual([result.exitCode, result.error], [137, 'SIGKILL'], 'wait() after kill(): exitCode, error');
    await until(async () => {
      const ids = (await p.listPtySessions()).map((s) => s.id);
      return !ids.includes(id) || ids;
    }, 5000, 'killed PTY gone from listPtySessions()');
    await expectError(() => p.getPtySessionInfo(id), sdk.DaytonaNotFoundError, 'getPtySessionInfo of the killed PTY', { status: 404 });
  }

  // -- code interpreter ------------------------------------------------------------------------

  async interpreterState() {
    const ci = this.sb.codeInterpreter;
    const streamed = [];
    const first = await ci.runCode("x = 41\nprint('hi')", { onStdout: (m) => streamed.push(m.output) });
    const second = await ci.runCode('print(x + 1)');
    const errors = [];
    const failed = await ci.runCode('1/0', { onError: (e) => errors.push(e.name) });
    const stderr = await ci.runCode("import sys\nprint('warn', file=sys.stderr)");
    const envs = await ci.runCode("import os\nprint(os.environ.get('IE'))", { envs: { IE: 'z' } });
    const started = Date.now();
    await expectError(() => ci.runCode('import time\ntime.sleep(30)', { timeout: 1 }), sdk.DaytonaTimeoutError, 'runCode(sleep 30, timeout 1)');
    const took = (Date.now() - started) / 1000;
    const after = await ci.runCode('print(x)');
    expectEqual(
      [first.stdout, streamed.join(''), second.stdout, failed.error?.name, errors, stderr.stderr, envs.stdout, after.stdout],
      ['hi\n', 'hi\n', '42\n', 'ZeroDivisionError', ['ZeroDivisionError'], 'warn\n', 'z\n', '41\n'],
      'stdout, streamed stdout, state, error, onError, stderr, envs, state after a timeout');
    expect(took < 15, `timeout error after ${took.toFixed(1)}s`);
    expect(/ZeroDivisionError/.test(failed.error?.traceback ?? '') || failed.error?.value === 'division by zero',
      `error value/traceback ${show(failed.error)}`);
  }

  async interpreterContexts() {
    const ci = this.sb.codeInterpreter;
    const ctx = await ci.createContext();
    const inTmp = await ci.createContext('/tmp');
    try {
      expect(typeof ctx.id === 'string' && ctx.id && ctx.id !== 'default', `context id ${show(ctx.id)}`);
      const isolated = await ci.runCode("print('x' in globals())", { context: ctx });
      await ci.runCode('y = 7', { context: ctx });
      const kept = await ci.runCode('print(y)', { context: ctx });
      const cwd = await ci.runCode('import os\nprint(os.getcwd())', { context: inTmp });
      const listed = (await ci.listContexts()).map((c) => c.id).sort();
      expectEqual([isolated.stdout, kept.stdout, cwd.stdout, listed], ['False\n', '7\n', '/tmp\n', [ctx.id, inTmp.id].sort()],
        'isolation from default, state in the context, cwd, listContexts');
    } finally {
      await ci.deleteContext(ctx);
      await ci.deleteContext(inTmp);
    }
    expectEqual(await ci.listContexts(), [], 'listContexts after delete');
  }

  // -- file system -----------------------------------------------------------------------------

  async fsUploadDownloadBuffer() {
    await this.sb.fs.uploadFile(Buffer.from('hello files\n'), 'docs/a.txt');
    const got = await this.sb.fs.downloadFile('docs/a.txt');
    expect(Buffer.isBuffer(got), `downloadFile returned ${typeof got}`);
    expectEqual(got.toString(), 'hello files\n', 'downloaded content');
    expectEqual(await this.sh('cat docs/a.txt'), 'hello files\n', 'content seen by cat');
  }

  async fsUploadFilesLarge() {
    const big = crypto.randomBytes(3 * 1024 * 1024 + 17);
    const local = path.join(this.tmp, 'big.bin');
    fs.writeFileSync(local, big);
    await this.sb.fs.uploadFiles([
      { source: Buffer.from('two\n'), destination: 'docs/two.txt' },
      { source: local, destination: `${HOME}/docs/big.bin` },
    ]);
    expectEqual((await this.sh(`sha256sum ${HOME}/docs/big.bin`)).split(' ')[0], sha256(big), 'sha256 of big.bin inside the sandbox');
    const out = path.join(this.tmp, 'out', 'big.bin');
    const res = await this.sb.fs.downloadFiles([{ source: 'docs/two.txt' }, { source: `${HOME}/docs/big.bin`, destination: out }]);
    expectEqual(res.map((r) => [r.source, r.error ?? null]), [['docs/two.txt', null], [`${HOME}/docs/big.bin`, null]], 'downloadFiles errors');
    expectEqual(res[0].result?.toString(), 'two\n', 'downloadFiles in-memory result');
    expectEqual(sha256(fs.readFileSync(out)), sha256(big), 'sha256 of big.bin downloaded to a local file');
    await this.sb.fs.downloadFile('docs/a.txt', path.join(this.tmp, 'a.txt'));
    expectEqual(fs.readFileSync(path.join(this.tmp, 'a.txt'), 'utf8'), 'hello files\n', 'downloadFile(remote, local)');
  }

  async fsStreams() {
    const parts = ['streamed ', 'upload ', 'ünïcode\n'];
    await this.sb.fs.uploadFileStream(Readable.from(parts.map((s) => Buffer.from(s))), `${HOME}/docs/stream.txt`);
    expectEqual(await this.sh(`cat ${HOME}/docs/stream.txt`), parts.join(''), 'stream upload content');
    const stream = await this.sb.fs.downloadFileStream(`${HOME}/docs/stream.txt`);
    const chunks = [];
    for await (const c of stream) chunks.push(Buffer.from(c));
    expectEqual(Buffer.concat(chunks).toString(), parts.join(''), 'downloadFileStream content');
  }

  async fsMissing() {
    const e = await expectError(() => this.sb.fs.downloadFile('docs/missing.txt'), sdk.DaytonaNotFoundError,
      'downloadFile(missing)', { status: 404, message: /not found/i });
    expect(e instanceof sdk.DaytonaFileNotFoundError,
      `downloadFile(missing) raised ${oneLine(e)}, not DaytonaFileNotFoundError (needs code FILE_NOT_FOUND, source DAYTONA_DAEMON)`);
    const res = await this.sb.fs.downloadFiles([{ source: 'docs/a.txt' }, { source: 'docs/missing.txt' }]);
    expectEqual([res[0].result?.toString(), res[0].error ?? null], ['hello files\n', null], 'downloadFiles: the present file');
    expect(res[1].result === undefined && /not found/i.test(res[1].error ?? ''), `downloadFiles: the missing file gave ${show(res[1])}`);
    const d = res[1].errorDetails ?? {};
    expectEqual([d.statusCode, d.code, d.source], [404, 'FILE_NOT_FOUND', 'DAYTONA_DAEMON'], 'downloadFiles: errorDetails of the missing file');
    await expectError(() => this.sb.fs.getFileDetails('docs/missing.txt'), sdk.DaytonaFileNotFoundError,
      'getFileDetails(missing)', { status: 404 });
    await expectError(() => this.sb.fs.listFiles('docs/missing-dir'), sdk.DaytonaNotFoundError, 'listFiles(missing)', { status: 404 });
  }

  async fsListDetails() {
    const names = (await this.sb.fs.listFiles('docs')).map((f) => f.name).sort();
    expectEqual(names, ['a.txt', 'big.bin', 'stream.txt', 'two.txt'], 'listFiles(docs) names');
    const info = await this.sb.fs.getFileDetails('docs/a.txt');
    expectEqual([info.name, info.size, info.isDir, info.mode, info.permissions], ['a.txt', 12, false, '-rw-r--r--', '0644'],
      'getFileDetails: name, size, isDir, mode, permissions');
    expect(!Number.isNaN(Date.parse(info.modTime ?? info.modifiedAt)), `modTime ${show(info.modTime)} is not a date`);
    const dir = await this.sb.fs.getFileDetails(`${HOME}/docs`);
    expectEqual([dir.name, dir.isDir], ['docs', true], 'getFileDetails(dir)');
  }

  async fsFolderMovePermissions() {
    const f = this.sb.fs;
    await f.createFolder('docs/sub dir/deeper', '755');
    const dir = await f.getFileDetails('docs/sub dir/deeper');
    expectEqual([dir.isDir, dir.permissions], [true, '0755'], 'created folder (space in the path)');
    await f.moveFiles('docs/a.txt', 'docs/sub dir/b.txt');
    await expectError(() => f.getFileDetails('docs/a.txt'), sdk.DaytonaNotFoundError, 'the moved file at its old path', { status: 404 });
    expectEqual((await f.downloadFile('docs/sub dir/b.txt')).toString(), 'hello files\n', 'moved content');
    await f.setFilePermissions('docs/sub dir/b.txt', { mode: '600' });
    expectEqual((await f.getFileDetails('docs/sub dir/b.txt')).permissions, '0600', 'permissions after setFilePermissions(600)');
    await f.setFilePermissions('docs/sub dir/b.txt', { mode: '640', owner: 'daytona', group: 'daytona' });
    expectEqual((await this.sh("stat -c '%a %U %G' 'docs/sub dir/b.txt'")).trim(), '640 daytona daytona', 'mode, owner, group');
  }

  async fsFindSearchReplace() {
    const f = this.sb.fs;
    const d = `${HOME}/docs/find`;
    await f.uploadFiles([
      { source: Buffer.from('say hello world\nno\nhello again\n'), destination: `${d}/one.txt` },
      { source: Buffer.from('hello md\n'), destination: `${d}/two.md` },
    ]);
    const found = await f.findFiles(d, 'hello world');
    expectEqual(found.map((m) => [m.file, m.line, m.content]), [[`${d}/one.txt`, 1, 'say hello world']], 'findFiles(hello world)');
    const searched = await f.searchFiles(d, '*.txt');
    expectEqual(searched.files, [`${d}/one.txt`], 'searchFiles(*.txt)');
    const replaced = await f.replaceInFiles([`${d}/one.txt`, `${d}/two.md`], 'hello', 'bye');
    expectEqual(replaced.map((r) => [r.file, r.success]).sort(), [[`${d}/one.txt`, true], [`${d}/two.md`, true]], 'replaceInFiles results');
    expectEqual((await f.downloadFile(`${d}/one.txt`)).toString(), 'say bye world\nno\nbye again\n', 'content after replace');
    expectEqual((await f.downloadFile(`${d}/two.md`)).toString(), 'bye md\n', 'second file after replace');
  }

  async fsDelete() {
    const f = this.sb.fs;
    await f.deleteFile('docs/two.txt');
    await expectError(() => f.getFileDetails('docs/two.txt'), sdk.DaytonaNotFoundError, 'deleted file', { status: 404 });
    await expectError(() => f.deleteFile('docs/sub dir'), sdk.DaytonaError, 'deleteFile(non-empty dir) without recursive', { status: 400 });
    await f.deleteFile('docs', true);
    expectEqual((await this.sh('test -e docs && echo present || echo gone')).trim(), 'gone', 'docs after deleteFile(recursive)');
  }

  // -- git -------------------------------------------------------------------------------------

  async gitSeedRemote() {
    await this.sh('rm -rf /tmp/remote.git /tmp/seed && git init -q --bare -b main /tmp/remote.git && ' +
      'git init -q -b main /tmp/seed && cd /tmp/seed && echo seed > README && git add README && ' +
      'git -c user.name=Seed -c user.email=seed@example.com commit -q -m seed && git push -q /tmp/remote.git main');
  }

  async gitCloneStatusAddCommit() {
    const g = this.sb.git;
    await this.gitSeedRemote();
    await g.clone('/tmp/remote.git', 'work');
    expectEqual((await this.sb.fs.downloadFile('work/README')).toString(), 'seed\n', 'cloned README');
    const clean = await g.status('work');
    expectEqual([clean.currentBranch, clean.fileStatus], ['main', []], 'status of a fresh clone');
    await this.sb.fs.uploadFile(Buffer.from('hello\n'), 'work/a.txt');
    const untracked = await g.status('work');
    expectEqual(untracked.fileStatus.map((s) => [s.name, s.worktree]), [['a.txt', 'Untracked']], 'status with a new file');
    await g.add('work', ['a.txt']);
    const staged = await g.status('work');
    expectEqual(staged.fileStatus.map((s) => [s.name, s.staging]), [['a.txt', 'Added']], 'status after add');
    const { sha } = await g.commit('work', 'add a', 'Ann', 'ann@example.com');
    expect(/^[0-9a-f]{40}$/.test(sha ?? ''), `commit sha ${show(sha)}`);
    const log = (await this.sh('git -C work log -1 --format=%H%n%an%n%ae%n%s')).split('\n');
    expectEqual(log.slice(0, 4), [sha, 'Ann', 'ann@example.com', 'add a'], 'git log of the commit');
    const after = await g.status('work');
    expectEqual([after.fileStatus, after.ahead], [[], 1], 'status after commit: files, ahead');
    const empty = await g.commit('work', 'empty', 'Ann', 'ann@example.com', true);
    expect(/^[0-9a-f]{40}$/.test(empty.sha ?? '') && empty.sha !== sha, `allowEmpty commit sha ${show(empty.sha)}`);
  }

  async gitBranches() {
    const g = this.sb.git;
    expectEqual((await g.branches('work')).branches, ['main'], 'branches of the clone');
    await g.createBranch('work', 'feature');
    expectEqual((await g.branches('work')).branches.slice().sort(), ['feature', 'main'], 'branches after createBranch');
    await g.checkoutBranch('work', 'feature');
    expectEqual((await g.status('work')).currentBranch, 'feature', 'currentBranch after checkout');
    await g.checkoutBranch('work', 'main');
    expectEqual((await g.status('work')).currentBranch, 'main', 'currentBranch after checkout back');
    await g.deleteBranch('work', 'feature');
    expectEqual((await g.branches('work')).branches, ['main'], 'branches after deleteBranch');
  }

  async gitPushPull() {
    const g = this.sb.git;
    await g.clone('/tmp/remote.git', 'work2');
    await g.push('work');
    const head = (await this.sh('git -C work rev-parse HEAD')).trim();
    expectEqual((await this.sh('git --git-dir=/tmp/remote.git rev-parse main')).trim(), head, 'remote main after push');
    expectEqual((await g.status('work')).ahead ?? 0, 0, 'ahead after push');
    await g.pull('work2');
    expectEqual((await this.sh('git -C work2 rev-parse HEAD')).trim(), head, 'work2 HEAD after pull');
    expectEqual((await this.sb.fs.downloadFile('work2/a.txt')).toString(), 'hello\n', 'pulled file');
  }

  async gitErrors() {
    const g = this.sb.git;
    await expectError(() => g.status('/tmp'), sdk.DaytonaError, 'status outside a repository', { message: /not a git repository/i });
    const e = await expectError(() => g.clone('/tmp/no-such-repo.git', 'nowhere'), sdk.DaytonaError, 'clone of a missing repository');
    expect(e.statusCode >= 400 && e.statusCode < 600, `clone error status ${show(e.statusCode)}`);
    expectEqual((await this.sh('test -e nowhere && echo present || echo absent')).trim(), 'absent', 'target of the failed clone');
  }

  // -- cleanup ---------------------------------------------------------------------------------

  async cleanup() {
    const problems = [];
    for (const [id, sb] of this.sandboxes) {
      try {
        await sb.delete();
      } catch (e) {
        if (!(e instanceof sdk.DaytonaNotFoundError)) problems.push(`sandbox ${id}: ${oneLine(e)}`);
      }
    }
    this.sandboxes.clear();
    for (const name of this.snapshots) {
      try {
        await this.daytona.snapshot.delete(await this.daytona.snapshot.get(name));
      } catch (e) {
        if (!(e instanceof sdk.DaytonaNotFoundError)) problems.push(`snapshot ${name}: ${oneLine(e)}`);
      }
    }
    fs.rmSync(this.tmp, { recursive: true, force: true });
    if (problems.length) throw new Error(problems.join('; '));
  }
}

// ---- main --------------------------------------------------------------------------------------

async function main() {
  const { apiUrl, apiKey } = apiFromEnv();
  checkSpecSetup();
  loadSdk();
  const capture = new Capture(apiUrl);
  capture.install();

  const daytona = new sdk.Daytona({ apiKey, apiUrl });
  const suite = new Suite(daytona, capture);
  suite.watchUnhandled();
  console.log(`@daytonaio/sdk ${SDK_VERSION} toolbox against ${apiUrl}, run ${suite.runId}`);
  const s = suite.step.bind(suite);
  const SB = ['create-sandbox'];
  try {
    await s('create-sandbox', suite.createSandbox);
    await s('fork-and-snapshot', suite.forkAndSnapshot, SB);
    await s('snapshot-list-by-source-sandbox', suite.snapshotListBySource, ['fork-and-snapshot']);
    await s('pause-and-start-keep-processes', suite.pauseKeepsProcesses, SB);
    await s('stop-archive-start', suite.stopArchiveStart, SB);
    await s('info-home-and-work-dir', suite.infoDirs, SB);
    await s('exec-output-exit-code-env', suite.execOutput, SB);
    await s('exec-cwd', suite.execCwd, SB);
    await s('exec-timeout-raises-and-kills', suite.execTimeout, SB);
    await s('exec-background-child-does-not-hang', suite.execBackgroundChild, SB);
    await s('code-run-python', suite.codeRunPython, SB);
    await s('code-run-javascript', suite.codeRunJavascript, SB);
    await s('code-run-typescript', suite.codeRunTypescript, SB);
    await s('code-run-chart', suite.codeRunChart, SB);
    await s('session-state-persists', suite.sessionState, SB);
    await s('session-sync-stdin-eof', suite.sessionStdinEof, ['session-state-persists']);
    await s('session-async-input-and-follow', suite.sessionAsyncInputFollow, ['session-state-persists']);
    await s('session-follow-streams-live', suite.sessionFollowStreams, ['session-state-persists']);
    await s('session-list-get-delete', suite.sessionListDelete, ['session-state-persists']);
    await s('pty-create-input-reconnect-resize-exit', suite.ptyRoundTrip, ['exec-cwd']);
    await s('pty-envs-and-cwd', suite.ptyEnvsCwd, ['exec-cwd']);
    await s('pty-kill', suite.ptyKill, SB);
    await s('interpreter-state-errors-timeout', suite.interpreterState, SB);
    await s('interpreter-contexts', suite.interpreterContexts, SB);
    await s('fs-upload-download-buffer', suite.fsUploadDownloadBuffer, SB);
    await s('fs-upload-download-files-large', suite.fsUploadFilesLarge, ['fs-upload-download-buffer']);
    await s('fs-stream-upload-download', suite.fsStreams, SB);
    await s('fs-missing-file-errors', suite.fsMissing, ['fs-upload-download-buffer']);
    await s('fs-list-files-and-details', suite.fsListDetails,
      ['fs-upload-download-buffer', 'fs-upload-download-files-large', 'fs-stream-upload-download']);
    await s('fs-folder-move-permissions', suite.fsFolderMovePermissions, ['fs-upload-download-buffer']);
    await s('fs-find-search-replace', suite.fsFindSearchReplace, SB);
    await s('fs-delete', suite.fsDelete, ['fs-folder-move-permissions', 'fs-upload-download-files-large']);
    await s('git-clone-status-add-commit', suite.gitCloneStatusAddCommit, SB);
    await s('git-branches', suite.gitBranches, ['git-clone-status-add-commit']);
    await s('git-push-pull', suite.gitPushPull, ['git-clone-status-add-commit']);
    await s('git-errors', suite.gitErrors, SB);
  } finally {
    await s('cleanup', suite.cleanup);
    await dispose(daytona);
  }
  return suite.finish({
    tmpPrefix: 'sandbar-ts-toolbox-exchanges-',
    toolbox: true,
    afterSpec: (spec) => {
      if (!spec.toolbox) suite.fail('capture-hook', "no toolbox response was captured; the hooks are not in the SDK's path");
    },
  });
}

runMain(main);
