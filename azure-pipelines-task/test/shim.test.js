'use strict';
// Tests of the Azure Pipelines shim (AksBackend/index.js): `node --test azure-pipelines-task/test`.
// A loopback HTTP server stands in for the release host (with a redirect, as GitHub's
// release downloads do); fake "binaries" are shell scripts.

const assert = require('node:assert/strict');
const childProcess = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { test, before, after } = require('node:test');

const TASK_DIR = path.join(__dirname, '..', 'AksBackend');
const shim = require(path.join(TASK_DIR, 'index.js'));
const task = JSON.parse(fs.readFileSync(path.join(TASK_DIR, 'task.json'), 'utf8'));

const TARGET = shim.targetTriple('linux', 'x64');
const ASSET = 'aks-backend-' + TARGET;

// A fake binary: prints its argv and a few env vars, sets an output, exits with $FAKE_EXIT.
const FAKE = `#!/bin/sh
echo "argv=$*"
echo "INPUT_TRIVY_VERSION=$INPUT_TRIVY_VERSION"
echo "##vso[task.setvariable variable=sarif-category;isOutput=true]image:x"
exit "\${FAKE_EXIT:-0}"
`;

let server;
let base;
const served = {}; // path -> body
const hits = [];

before(async () => {
  server = http.createServer((req, res) => {
    hits.push(req.url);
    if (req.url.startsWith('/releases/')) {
      // Like GitHub: the release URL redirects to the asset store.
      res.writeHead(302, { location: '/assets' + req.url.slice('/releases'.length) });
      return res.end();
    }
    const body = served[req.url];
    if (body === undefined) {
      res.writeHead(404);
      return res.end('not found');
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    res.end(body);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${server.address().port}/releases`;
});

const tempDirs = [];
after(() => {
  server.close();
  for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true });
});

function sha256(s) {
  return crypto.createHash('sha256').update(s).digest('hex');
}

/** A temp dir with a manifest for release `tag` whose asset has `sha`. */
function setup(tag, sha) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aks-backend-shim-'));
  tempDirs.push(dir);
  const manifest = path.join(dir, 'checksums.json');
  fs.writeFileSync(
    manifest,
    JSON.stringify({ schema: 1, current: tag, release_base_url: base, releases: { [tag]: { [TARGET]: { asset: ASSET, sha256: sha } } } }),
  );
  return {
    dir,
    env: {
      PATH: process.env.PATH,
      AKS_BACKEND_MANIFEST: manifest,
      AGENT_TOOLSDIRECTORY: path.join(dir, 'tools'),
      AKS_BACKEND_PLATFORM: 'linux',
      AKS_BACKEND_ARCH: 'x64',
    },
  };
}

/** Runs the task as the agent would (asynchronously: the release server lives in this process). */
function runShim(env) {
  return new Promise((resolve, reject) => {
    const child = childProcess.spawn(process.execPath, [path.join(TASK_DIR, 'index.js')], { env });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

test('names map between task.json and the binary', () => {
  assert.equal(shim.kebab('trivyVersion'), 'trivy-version');
  assert.equal(shim.camel('sarif-category'), 'sarifCategory');
  assert.equal(shim.binaryInputVar('trivy-version'), 'INPUT_TRIVY_VERSION');
  assert.equal(shim.agentInputVar('trivyVersion'), 'INPUT_TRIVYVERSION');
  for (const i of task.inputs) assert.equal(shim.camel(shim.kebab(i.name)), i.name, i.name);
});

test('task inputs and the service connection reach the binary as INPUT_* variables', () => {
  const id = 'a1b2c3d4-0000-1111-2222-333344445555';
  const env = {
    PATH: '/usr/bin',
    INPUT_COMMAND: 'deploy',
    INPUT_TRIVYVERSION: '0.59.1',
    INPUT_IGNOREUNFIXED: 'true',
    INPUT_NAMESPACE: '',
    INPUT_AZURESUBSCRIPTION: id,
    [`ENDPOINT_AUTH_SCHEME_${id}`]: 'WorkloadIdentityFederation',
    [`ENDPOINT_AUTH_PARAMETER_${id}_TENANTID`]: 'tenant-1',
    [`ENDPOINT_AUTH_PARAMETER_${id}_SERVICEPRINCIPALID`]: 'client-1',
    [`ENDPOINT_DATA_${id}_SUBSCRIPTIONID`]: 'sub-1',
    [`ENDPOINT_URL_${id}`]: 'https://management.azure.com/',
    ENDPOINT_AUTH_PARAMETER_SYSTEMVSSCONNECTION_ACCESSTOKEN: 'vss-token',
    SECRET_SOMETHING: 'hidden',
    SYSTEM_OIDCREQUESTURI: 'https://dev.azure.com/org/proj/_apis/distributedtask/hubs/build/plans/p/jobs/j/oidctoken',
  };
  const out = shim.childEnv(env, task);
  assert.equal(out.INPUT_TRIVY_VERSION, '0.59.1');
  assert.equal(out.INPUT_IGNORE_UNFIXED, 'true');
  assert.equal(out.INPUT_NAMESPACE, undefined, 'empty inputs stay unset, so defaults apply');
  assert.equal(out.INPUT_TENANT_ID, 'tenant-1');
  assert.equal(out.INPUT_CLIENT_ID, 'client-1');
  assert.equal(out.INPUT_SUBSCRIPTION_ID, 'sub-1');
  assert.equal(out.AZURESUBSCRIPTION_SERVICE_CONNECTION_ID, id);
  assert.equal(out.AZURESUBSCRIPTION_CLIENT_ID, 'client-1');
  assert.equal(out.AZURESUBSCRIPTION_TENANT_ID, 'tenant-1');
  assert.equal(out.SYSTEM_ACCESSTOKEN, 'vss-token');
  assert.equal(out.SYSTEM_OIDCREQUESTURI, env.SYSTEM_OIDCREQUESTURI);
  assert.equal(out[`ENDPOINT_URL_${id}`], 'https://management.azure.com/', 'non-secret endpoint data stays');
  // The agent's own names, credentials and secrets do not leak into the child.
  assert.equal(out.INPUT_TRIVYVERSION, undefined);
  assert.equal(out.INPUT_AZURESUBSCRIPTION, undefined);
  assert.equal(out.SECRET_SOMETHING, undefined);
  assert.ok(!Object.keys(out).some((k) => k.startsWith('ENDPOINT_AUTH_')));
});

test('an explicit input wins over the service connection', () => {
  const id = 'conn';
  const out = shim.childEnv(
    {
      INPUT_AZURESUBSCRIPTION: id,
      INPUT_SUBSCRIPTIONID: 'explicit-sub',
      [`ENDPOINT_DATA_${id}_SUBSCRIPTIONID`]: 'from-connection',
      SYSTEM_ACCESSTOKEN: 'mapped-token',
      ENDPOINT_AUTH_PARAMETER_SYSTEMVSSCONNECTION_ACCESSTOKEN: 'vss-token',
    },
    task,
  );
  assert.equal(out.INPUT_SUBSCRIPTION_ID, 'explicit-sub');
  assert.equal(out.SYSTEM_ACCESSTOKEN, 'mapped-token');
});

test('a service connection with a stored secret is refused', () => {
  assert.throws(
    () => shim.childEnv({ INPUT_AZURESUBSCRIPTION: 'c', ENDPOINT_AUTH_SCHEME_c: 'ServicePrincipal' }, task),
    (e) => e.exitCode === 2 && /ServicePrincipal/.test(e.message),
  );
});

test('output variables are renamed to camelCase, other lines untouched', () => {
  assert.equal(
    shim.rewriteLine('##vso[task.setvariable variable=sarif-category;isOutput=true]image:x'),
    '##vso[task.setvariable variable=sarifCategory;isOutput=true]image:x',
  );
  assert.equal(shim.rewriteLine('plain log line variable=sarif-category'), 'plain log line variable=sarif-category');
  assert.equal(shim.rewriteLine('##vso[task.setvariable variable=a-b]x'), '##vso[task.setvariable variable=a-b]x');
});

test('a download is verified, installed into the tool cache and reused', async () => {
  const tag = 'v1.0.0';
  served[`/assets/${tag}/${ASSET}`] = FAKE;
  const { env } = setup(tag, sha256(FAKE));
  const before = hits.length;
  const bin = await shim.resolveBinary(env);
  assert.equal(fs.readFileSync(bin, 'utf8'), FAKE);
  assert.ok(fs.statSync(bin).mode & 0o100, 'executable');
  assert.deepEqual(hits.slice(before), [`/releases/${tag}/${ASSET}`, `/assets/${tag}/${ASSET}`], 'followed the redirect');
  const again = await shim.resolveBinary(env);
  assert.equal(again, bin);
  assert.equal(hits.length, before + 2, 'the second run used the tool cache');
});

test('a tampered download is refused and nothing is installed', async () => {
  const tag = 'v1.0.1';
  served[`/assets/${tag}/${ASSET}`] = FAKE + '# tampered\n';
  const { env } = setup(tag, sha256(FAKE));
  await assert.rejects(shim.resolveBinary(env), (e) => e.exitCode === 3 && /checksum mismatch/.test(e.message));
  const dir = path.join(env.AGENT_TOOLSDIRECTORY, 'aks-backend', '1.0.1', 'x86_64');
  assert.deepEqual(fs.readdirSync(dir), [], 'no partial or unverified file left');
  assert.ok(!fs.existsSync(dir + '.complete'));
  // Through the task: exit 3 and a logged error.
  const r = await runShim(env);
  assert.equal(r.code, 3);
  assert.match(r.out, /##vso\[task\.logissue type=error\]aks-backend: checksum mismatch/);
});

test('a tampered tool-cache copy is replaced by a verified download', async () => {
  const tag = 'v1.0.2';
  served[`/assets/${tag}/${ASSET}`] = FAKE;
  const { env } = setup(tag, sha256(FAKE));
  const bin = await shim.resolveBinary(env);
  fs.writeFileSync(bin, '#!/bin/sh\necho evil\n');
  const again = await shim.resolveBinary(env);
  assert.equal(fs.readFileSync(again, 'utf8'), FAKE);
});

test('a missing asset fails with exit 3', async () => {
  const { env } = setup('v9.9.9', sha256(FAKE));
  await assert.rejects(shim.resolveBinary(env), (e) => e.exitCode === 3 && /HTTP 404/.test(e.message));
});

test('plain http is refused except on loopback', async () => {
  await assert.rejects(shim.download('http://example.com/x', path.join(os.tmpdir(), 'never')), /https only/);
});

for (const code of [0, 1, 2, 3]) {
  test(`exit code ${code} of the binary is the task's exit code`, async () => {
    const tag = 'v1.1.0';
    served[`/assets/${tag}/${ASSET}`] = FAKE;
    const { env } = setup(tag, sha256(FAKE));
    const r = await runShim({ ...env, FAKE_EXIT: String(code), INPUT_COMMAND: 'scan', INPUT_TRIVYVERSION: '0.59.1' });
    assert.equal(r.code, code, r.out + r.err);
    assert.match(r.out, /^argv=scan$/m);
    assert.match(r.out, /^INPUT_TRIVY_VERSION=0\.59\.1$/m);
    assert.match(r.out, /variable=sarifCategory;isOutput=true/);
  });
}

test('an unknown command is bad input (exit 2) and nothing is downloaded', async () => {
  const before = hits.length;
  const { env } = setup('v1.2.0', sha256(FAKE));
  const r = await runShim({ ...env, INPUT_COMMAND: 'internal' });
  assert.equal(r.code, 2);
  assert.equal(hits.length, before);
});

test('AKS_BACKEND_BIN is used as is', async () => {
  const { dir, env } = setup('v0.0.0', 'unused');
  const bin = path.join(dir, 'mine');
  fs.writeFileSync(bin, FAKE, { mode: 0o755 });
  const r = await runShim({ ...env, AKS_BACKEND_BIN: bin, FAKE_EXIT: '1' });
  assert.equal(r.code, 1);
  assert.match(r.out, /^argv=run$/m);
});
