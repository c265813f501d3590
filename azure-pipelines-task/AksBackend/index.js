'use strict';
// The Azure Pipelines task: a shim with no npm dependencies (Azure DevOps has no handler
// for native binaries, and the task must not pull packages at run time).
//
// 1. Finds the aks-backend binary: AKS_BACKEND_BIN, else the agent's tool cache, else the
//    release asset named in the manifest shipped beside this file (checksums.json, a copy
//    of the repository's dist/checksums.json). A cached or downloaded binary runs only if
//    its sha256 equals the manifest's.
// 2. Runs it with the task inputs as the INPUT_<NAME> variables the binary reads (the agent
//    names them after task.json's camelCase names: INPUT_TRIVYVERSION -> INPUT_TRIVY_VERSION),
//    plus what workload identity federation needs from the service connection.
// 3. Renames the binary's output variables to camelCase (Azure DevOps variable names
//    cannot hold '-') and exits with the binary's exit code.

const childProcess = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const os = require('node:os');
const path = require('node:path');

const TASK_DIR = __dirname;
const COMMANDS = ['refer', 'build', 'scan', 'deploy', 'run'];
// Inputs of task.json that are not settings of the binary.
const TASK_ONLY_INPUTS = new Set(['command', 'azureSubscription']);
const MAX_REDIRECTS = 5;

// Exit codes of the binary (docs/packaging.md): 2 bad input, 3 an external failure.
const EXIT_BAD_INPUT = 2;
const EXIT_EXTERNAL = 3;

class ShimError extends Error {
  constructor(message, exitCode, hint) {
    super(message);
    this.exitCode = exitCode;
    this.hint = hint;
  }
}

/** trivyVersion -> trivy-version (the inverse of scripts/gen-packaging's camel()). */
function kebab(name) {
  return name.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

/** sarif-category -> sarifCategory. */
function camel(name) {
  return name.replace(/-([a-z0-9])/g, (_, c) => c.toUpperCase());
}

/** The variable the agent sets for a task input (task-lib's getInput rule). */
function agentInputVar(name) {
  return 'INPUT_' + name.replace(/\./g, '_').replace(/ /g, '_').toUpperCase();
}

/** The variable the binary reads for a setting: INPUT_TRIVY_VERSION. */
function binaryInputVar(setting) {
  return 'INPUT_' + setting.toUpperCase().replace(/-/g, '_');
}

function readJson(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8').replace(/^\uFEFF/, ''));
}

function nonEmpty(v) {
  return v !== undefined && v !== null && v !== '' ? v : undefined;
}

/**
 * The environment for the binary: the agent's environment without its task-input,
 * secret and endpoint-credential variables, plus our INPUT_* names and the service connection's
 * details.
 */
function childEnv(env, task) {
  const out = {};
  for (const [k, v] of Object.entries(env)) {
    if (k.startsWith('INPUT_') || k.startsWith('SECRET_') || k.startsWith('ENDPOINT_AUTH_')) continue;
    out[k] = v;
  }
  for (const input of task.inputs) {
    if (TASK_ONLY_INPUTS.has(input.name)) continue;
    const v = nonEmpty(env[agentInputVar(input.name)]);
    if (v !== undefined) out[binaryInputVar(kebab(input.name))] = v;
  }

  const conn = nonEmpty(env[agentInputVar('azureSubscription')]);
  if (conn !== undefined) {
    // task-lib: the connection id goes into the name as is; only the key is upper-cased.
    const get = (prefix, key) => nonEmpty(env[`${prefix}_${conn}_${key}`]) ?? nonEmpty(env[`${prefix}_${conn.toUpperCase()}_${key}`]);
    const scheme = nonEmpty(env[`ENDPOINT_AUTH_SCHEME_${conn}`]) ?? nonEmpty(env[`ENDPOINT_AUTH_SCHEME_${conn.toUpperCase()}`]);
    if (scheme !== undefined && scheme.toLowerCase() !== 'workloadidentityfederation') {
      throw new ShimError(
        `input azureSubscription: the service connection uses the ${scheme} scheme`,
        EXIT_BAD_INPUT,
        'use an Azure Resource Manager service connection with workload identity federation (no stored secret)',
      );
    }
    const tenant = get('ENDPOINT_AUTH_PARAMETER', 'TENANTID');
    const client = get('ENDPOINT_AUTH_PARAMETER', 'SERVICEPRINCIPALID');
    const subscription = get('ENDPOINT_DATA', 'SUBSCRIPTIONID');
    const fill = (setting, value) => {
      const k = binaryInputVar(setting);
      if (value !== undefined && out[k] === undefined) out[k] = value;
    };
    fill('tenant-id', tenant);
    fill('client-id', client);
    fill('subscription-id', subscription);
    out.AZURESUBSCRIPTION_SERVICE_CONNECTION_ID = conn;
    if (client !== undefined) out.AZURESUBSCRIPTION_CLIENT_ID = client;
    if (tenant !== undefined) out.AZURESUBSCRIPTION_TENANT_ID = tenant;
  }
  const token =
    nonEmpty(env.SYSTEM_ACCESSTOKEN) ?? nonEmpty(env.ENDPOINT_AUTH_PARAMETER_SYSTEMVSSCONNECTION_ACCESSTOKEN);
  if (token !== undefined) out.SYSTEM_ACCESSTOKEN = token;
  if (nonEmpty(env.SYSTEM_OIDCREQUESTURI) !== undefined) out.SYSTEM_OIDCREQUESTURI = env.SYSTEM_OIDCREQUESTURI;
  return out;
}

/** The release target for this machine, or undefined. */
function targetTriple(platform = process.platform, arch = process.arch) {
  if (platform !== 'linux') return undefined;
  return { x64: 'x86_64-unknown-linux-musl', arm64: 'aarch64-unknown-linux-musl' }[arch];
}

function sha256File(file) {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

function isLoopbackHttp(u) {
  return u.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname);
}

/** GETs `url` into `dest`, following redirects; https only (plain http for loopback tests). */
function download(url, dest, redirects = 0) {
  return new Promise((resolve, reject) => {
    let u;
    try {
      u = new URL(url);
    } catch {
      return reject(new Error(`not a URL: ${url}`));
    }
    if (u.protocol !== 'https:' && !isLoopbackHttp(u)) {
      return reject(new Error(`refusing ${u.protocol} download ${url}: https only`));
    }
    const client = u.protocol === 'https:' ? https : http;
    const req = client.get(u, { headers: { 'user-agent': 'aks-backend-azure-pipelines-task' }, timeout: 30000 }, (res) => {
      if ([301, 302, 303, 307, 308].includes(res.statusCode) && res.headers.location) {
        res.resume();
        if (redirects >= MAX_REDIRECTS) return reject(new Error(`too many redirects from ${url}`));
        return resolve(download(new URL(res.headers.location, u).toString(), dest, redirects + 1));
      }
      if (res.statusCode !== 200) {
        res.resume();
        return reject(new Error(`GET ${url}: HTTP ${res.statusCode}`));
      }
      const file = fs.createWriteStream(dest, { mode: 0o700 });
      res.pipe(file);
      file.on('finish', () => file.close(() => resolve()));
      file.on('error', reject);
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: timed out`)));
    req.on('error', reject);
  });
}

/**
 * The binary to run: AKS_BACKEND_BIN, else the tool cache (verified), else a verified
 * download into the tool cache.
 */
async function resolveBinary(env, log = () => {}) {
  if (nonEmpty(env.AKS_BACKEND_BIN)) return env.AKS_BACKEND_BIN;
  const manifestPath = nonEmpty(env.AKS_BACKEND_MANIFEST) ?? path.join(TASK_DIR, 'checksums.json');
  let manifest;
  try {
    manifest = readJson(manifestPath);
  } catch (e) {
    throw new ShimError(`cannot read the checksum manifest ${manifestPath}: ${e.message}`, EXIT_EXTERNAL);
  }
  const tag = manifest.current;
  const target = targetTriple(nonEmpty(env.AKS_BACKEND_PLATFORM) ?? process.platform, nonEmpty(env.AKS_BACKEND_ARCH) ?? process.arch);
  const entry = tag && target ? (manifest.releases || {})[tag]?.[target] : undefined;
  if (!entry) {
    throw new ShimError(
      `no aks-backend release binary for ${process.platform}/${process.arch} in ${path.basename(manifestPath)}` +
        (tag ? ` (release ${tag})` : ' (this task was not packaged from a release)'),
      EXIT_EXTERNAL,
      'run on a Linux x64 or arm64 agent, or set AKS_BACKEND_BIN to a binary you built',
    );
  }
  const cacheRoot = nonEmpty(env.AGENT_TOOLSDIRECTORY) ?? path.join(os.tmpdir(), 'aks-backend-tools');
  const dir = path.join(cacheRoot, 'aks-backend', tag.replace(/^v/, ''), target.split('-')[0]);
  const bin = path.join(dir, 'aks-backend');
  const complete = dir + '.complete';
  if (fs.existsSync(complete) && fs.existsSync(bin)) {
    if (sha256File(bin) === entry.sha256) {
      log(`using aks-backend ${tag} from the tool cache`);
      return bin;
    }
    log(`the tool cache copy of aks-backend ${tag} does not match the manifest; downloading again`);
    fs.rmSync(complete, { force: true });
  }
  const base = nonEmpty(env.AKS_BACKEND_RELEASE_BASE_URL) ?? manifest.release_base_url;
  if (!base) throw new ShimError('the manifest names no release_base_url and AKS_BACKEND_RELEASE_BASE_URL is unset', EXIT_EXTERNAL);
  const url = `${base.replace(/\/+$/, '')}/${tag}/${entry.asset}`;
  fs.mkdirSync(dir, { recursive: true });
  const part = path.join(dir, `.download-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
  try {
    log(`downloading ${url}`);
    await download(url, part);
    const got = sha256File(part);
    if (got !== entry.sha256) {
      throw new ShimError(
        `checksum mismatch for ${entry.asset} of ${tag}: got ${got}, the manifest says ${entry.sha256}; refusing to run it`,
        EXIT_EXTERNAL,
        'the download was altered or the release asset was replaced; the manifest shipped with the task is the reference',
      );
    }
    fs.chmodSync(part, 0o755);
    fs.renameSync(part, bin);
    fs.writeFileSync(complete, '');
  } catch (e) {
    fs.rmSync(part, { force: true });
    if (e instanceof ShimError) throw e;
    throw new ShimError(`cannot download ${url}: ${e.message}`, EXIT_EXTERNAL);
  }
  return bin;
}

const SETVAR = /^(##vso\[task\.setvariable variable=)([^;\]]+)(;[^\]]*isOutput=true[^\]]*\].*)$/;

/** Renames a kebab-case output variable to camelCase; other lines pass unchanged. */
function rewriteLine(line) {
  const m = SETVAR.exec(line);
  return m ? m[1] + camel(m[2]) + m[3] : line;
}

/** Copies the child's stdout line by line through rewriteLine. */
function pipeLines(from, to) {
  let buf = '';
  from.setEncoding('utf8');
  from.on('data', (chunk) => {
    buf += chunk;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      to.write(rewriteLine(buf.slice(0, i).replace(/\r$/, '')) + '\n');
      buf = buf.slice(i + 1);
    }
  });
  return new Promise((resolve) => {
    from.on('end', () => {
      if (buf) to.write(rewriteLine(buf) + '\n');
      resolve();
    });
  });
}

function fail(e) {
  // The same shape as the binary's errors: a logged issue, then hint lines.
  const msg = String(e.message).replace(/\r?\n/g, ' ');
  process.stdout.write(`##vso[task.logissue type=error]aks-backend: ${msg}\n`);
  if (e.hint) process.stdout.write(`hint: ${e.hint}\n`);
  process.stdout.write(`##vso[task.complete result=Failed;]aks-backend: ${msg}\n`);
  return e.exitCode ?? EXIT_EXTERNAL;
}

async function main(env = process.env) {
  try {
    const task = readJson(path.join(TASK_DIR, 'task.json'));
    const command = nonEmpty(env[agentInputVar('command')]) ?? 'run';
    if (!COMMANDS.includes(command)) {
      throw new ShimError('input command is not one of ' + COMMANDS.join(', '), EXIT_BAD_INPUT);
    }
    const cenv = childEnv(env, task);
    const bin = await resolveBinary(env, (m) => process.stdout.write(m + '\n'));
    const child = childProcess.spawn(bin, [command], { env: cenv, stdio: ['ignore', 'pipe', 'inherit'] });
    const piped = pipeLines(child.stdout, process.stdout);
    const [code, signal] = await new Promise((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (c, s) => resolve([c, s]));
    });
    await piped;
    if (signal) throw new ShimError(`aks-backend was killed by ${signal}`, EXIT_EXTERNAL);
    return code;
  } catch (e) {
    if (e instanceof ShimError) return fail(e);
    return fail(new ShimError(e.message, EXIT_EXTERNAL));
  }
}

module.exports = { kebab, camel, agentInputVar, binaryInputVar, childEnv, targetTriple, download, resolveBinary, rewriteLine, main, ShimError };

if (require.main === module) {
  main().then((code) => {
    process.exitCode = code;
  });
}
