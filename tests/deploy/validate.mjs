// Checks deploy/: every Kubernetes manifest against the Kubernetes OpenAPI
// schemas (kubernetes-models' validators), the links between them (selectors,
// named ports, referenced ConfigMaps and Secrets, probes, WORKER_ID from the
// pod name, grace period vs shutdown deadline), the config they carry through
// the real `popqueue config check`, and the Dockerfile with dockerfile-utils
// (the linter of the VS Code Docker extension) plus the image's contract.
//
//   node validate.mjs <repo root> <popqueue binary or "">
//
// Prints one line per check and exits 1 when any failed.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { validate as lintDockerfile } from "dockerfile-utils";
import { Deployment } from "kubernetes-models/apps/v1";
import { ConfigMap, Secret, Service } from "kubernetes-models/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import YAML from "yaml";

const [root, popqueue] = process.argv.slice(2);
const deployDir = path.join(root, "deploy");
let failed = 0;
let passed = 0;

function check(name, fn) {
  try {
    fn();
    passed++;
    console.log(`ok   ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e.message}`);
  }
}
function assert(cond, message) {
  if (!cond) throw new Error(message);
}

// --- Kubernetes -------------------------------------------------------------

const models = {
  "apps/v1 Deployment": Deployment,
  "v1 Service": Service,
  "v1 ConfigMap": ConfigMap,
  "v1 Secret": Secret,
  "policy/v1 PodDisruptionBudget": PodDisruptionBudget,
};

const k8sDir = path.join(deployDir, "kubernetes");
const kustomization = YAML.parse(
  fs.readFileSync(path.join(k8sDir, "kustomization.yaml"), "utf8"));
const objects = [];
for (const file of kustomization.resources) {
  const docs = YAML.parseAllDocuments(fs.readFileSync(path.join(k8sDir, file), "utf8"));
  for (const doc of docs) {
    if (doc.errors.length) throw new Error(`${file}: ${doc.errors[0].message}`);
    const obj = doc.toJS();
    if (obj) objects.push({ file, obj });
  }
}
const manifestFiles = fs.readdirSync(k8sDir).filter(
  (f) => f.endsWith(".yaml") && f !== "kustomization.yaml");
check("kustomization lists every manifest", () => {
  for (const f of manifestFiles) {
    assert(kustomization.resources.includes(f), `${f} is not in kustomization.yaml`);
  }
});

for (const { file, obj } of objects) {
  const kind = `${obj.apiVersion} ${obj.kind}`;
  check(`${file}: ${kind} ${obj.metadata?.name} matches the Kubernetes schema`, () => {
    const Model = models[kind];
    assert(Model, `unexpected kind ${kind}`);
    new Model(obj).validate();  // throws with the JSON path of the problem
  });
}

const find = (kind, name) =>
  objects.map((o) => o.obj).find((o) => o.kind === kind && (!name || o.metadata.name === name));
const deployment = find("Deployment");
const service = find("Service");
const pdb = find("PodDisruptionBudget");
const pod = deployment.spec.template;
const container = pod.spec.containers[0];
const subset = (sel, labels) =>
  Object.entries(sel).every(([k, v]) => labels[k] === v);

check("Deployment selector matches its pod labels", () => {
  assert(subset(deployment.spec.selector.matchLabels, pod.metadata.labels), "selector does not match");
});
check("Service and PodDisruptionBudget select the Deployment's pods", () => {
  assert(subset(service.spec.selector, pod.metadata.labels), "Service selector");
  assert(subset(pdb.spec.selector.matchLabels, pod.metadata.labels), "PDB selector");
  assert(pdb.spec.maxUnavailable !== undefined || pdb.spec.minAvailable !== undefined,
    "PDB needs maxUnavailable or minAvailable");
});
const portNames = Object.fromEntries(container.ports.map((p) => [p.name, p.containerPort]));
check("Service exposes http 3000 and grpc 50051 on named container ports", () => {
  assert(portNames.http === 3000 && portNames.grpc === 50051, "container ports");
  for (const p of service.spec.ports) {
    assert(p.targetPort in portNames, `targetPort ${p.targetPort} is not a container port`);
  }
  const byName = Object.fromEntries(service.spec.ports.map((p) => [p.name, p.port]));
  assert(byName.http === 3000 && byName.grpc === 50051, "service ports");
});
check("liveness /healthz and readiness /readyz on the http port", () => {
  assert(container.livenessProbe.httpGet.path === "/healthz", "liveness path");
  assert(container.readinessProbe.httpGet.path === "/readyz", "readiness path");
  for (const p of [container.livenessProbe, container.readinessProbe, container.startupProbe]) {
    if (p) assert(p.httpGet.port in portNames, `probe port ${p.httpGet.port}`);
  }
});
check("WORKER_ID from metadata.name, WORKER_TIMEOUT in milliseconds", () => {
  const env = Object.fromEntries(container.env.map((e) => [e.name, e]));
  assert(env.WORKER_ID?.valueFrom?.fieldRef?.fieldPath === "metadata.name", "WORKER_ID");
  assert(/^[0-9]+$/.test(env.WORKER_TIMEOUT?.value ?? ""), "WORKER_TIMEOUT");
});
check("envFrom and volumes name ConfigMaps and Secrets that exist", () => {
  for (const e of container.envFrom) {
    if (e.configMapRef) assert(find("ConfigMap", e.configMapRef.name), `ConfigMap ${e.configMapRef.name}`);
    if (e.secretRef) assert(find("Secret", e.secretRef.name), `Secret ${e.secretRef.name}`);
  }
  assert(container.envFrom.some((e) => e.configMapRef) && container.envFrom.some((e) => e.secretRef),
    "envFrom needs a ConfigMap and a Secret");
  for (const v of pod.spec.volumes) {
    if (v.configMap) assert(find("ConfigMap", v.configMap.name), `ConfigMap ${v.configMap.name}`);
  }
  const mounts = container.volumeMounts.map((m) => m.name);
  for (const m of mounts) assert(pod.spec.volumes.some((v) => v.name === m), `volume ${m}`);
});
check("resources requested; runs as non-root", () => {
  assert(container.resources?.requests?.cpu && container.resources?.requests?.memory, "requests");
  assert(container.resources?.limits?.memory, "memory limit");
  assert(pod.spec.securityContext.runAsNonRoot === true, "runAsNonRoot");
});

// The environment and config.json the pod would get.
const configMap = find("ConfigMap", "popqueue-config");
const envMap = find("ConfigMap", "popqueue-env");
const secret = find("Secret");
const configJson = JSON.parse(configMap.data["config.json"]);
check("terminationGracePeriodSeconds outlasts config.json shutdownDeadline", () => {
  const m = /^([0-9]+)s$/.exec(configJson.shutdownDeadline ?? "");
  assert(m, "config.json needs shutdownDeadline in seconds, e.g. \"25s\"");
  const grace = pod.spec.terminationGracePeriodSeconds;
  assert(grace > Number(m[1]) && grace <= Number(m[1]) + 15,
    `grace ${grace}s vs shutdownDeadline ${m[1]}s: expected a few seconds more`);
});
check("the example Secret holds no real secret", () => {
  for (const [k, v] of Object.entries(secret.stringData ?? {})) {
    assert(v.includes("CHANGE-ME"), `${k} should be a CHANGE-ME placeholder`);
  }
  assert(!secret.data, "use stringData placeholders, not base64 data");
});
check("POPQUEUE_CONFIG points at the mounted config.json", () => {
  const mount = container.volumeMounts.find((m) => m.name === "config");
  assert(envMap.data.POPQUEUE_CONFIG === `${mount.mountPath}/config.json`, "POPQUEUE_CONFIG");
});

if (popqueue) {
  check("`popqueue config check` accepts the pod's configuration", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "popqueue-deploy-"));
    try {
      const file = path.join(dir, "config.json");
      fs.writeFileSync(file, configMap.data["config.json"]);
      const env = { PATH: process.env.PATH, ...envMap.data, ...secret.stringData,
                    POPQUEUE_CONFIG: file, WORKER_ID: "popqueue-abc-123",
                    WORKER_TIMEOUT: "30000" };
      let out;
      try {
        out = execFileSync(popqueue, ["config", "check", "--json"],
          { env, cwd: dir, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
      } catch (e) {
        throw new Error(`exit ${e.status}: ${e.stderr}`);
      }
      const report = JSON.parse(out);
      assert(report.store.url.startsWith("postgres://popqueue:***@"), `store ${report.store.url}`);
      assert(report.settings.workerId.value === "popqueue-abc-123", "workerId");
      assert(report.settings.workerTimeout.value === "30s", "workerTimeout");
      assert(!out.includes("CHANGE-ME"), "a secret is shown unredacted");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}

// --- Dockerfile -------------------------------------------------------------

const dockerfile = fs.readFileSync(path.join(deployDir, "Dockerfile"), "utf8");
check("Dockerfile passes dockerfile-utils", () => {
  const problems = lintDockerfile(dockerfile);
  assert(problems.length === 0, problems.map(
    (p) => `line ${p.range.start.line + 1}: ${p.message}`).join("; "));
});
// Instructions with continuation lines joined.
const instructions = dockerfile.replace(/\\\n/g, " ").split("\n")
  .map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
const froms = instructions.filter((l) => /^FROM /i.test(l));
const last = (re) => instructions.filter((l) => re.test(l)).pop() ?? "";
check("multi-stage build on Debian bookworm", () => {
  assert(froms.length >= 2, "expected a build stage and a runtime stage");
  assert(/ARG DEBIAN_RELEASE=bookworm/.test(dockerfile), "DEBIAN_RELEASE=bookworm");
  for (const f of froms) assert(/debian:\$\{DEBIAN_RELEASE\}/.test(f), `${f}: expected debian:bookworm`);
});
check("runtime stage: non-root, ports, health check, entrypoint", () => {
  const runtime = dockerfile.slice(dockerfile.lastIndexOf("\nFROM "));
  assert(/\nUSER (?!root|0[: \n])\S+/.test(runtime), "USER must be non-root");
  assert(/EXPOSE 3000 50051/.test(runtime), "EXPOSE 3000 50051");
  assert(/HEALTHCHECK [^\n]*\/healthz/.test(runtime.replace(/\\\n/g, " ")), "HEALTHCHECK on /healthz");
  assert(last(/^ENTRYPOINT /) === 'ENTRYPOINT ["popqueue", "serve"]', "ENTRYPOINT popqueue serve");
  assert(!/(^|\n)(RUN|COPY)[^\n]*\b(libabsl-dev|g\+\+)/.test(runtime), "no build tools at run time");
});
check("the build stage installs only packages scripts/install-deps lists", () => {
  const deps = fs.readFileSync(path.join(root, "scripts", "install-deps"), "utf8");
  const listed = new Set(deps.slice(deps.indexOf("PACKAGES=("), deps.indexOf("\n)\n"))
    .split("\n").map((l) => l.replace(/#.*/, "")).join(" ").split(/\s+/));
  const build = dockerfile.slice(0, dockerfile.lastIndexOf("\nFROM "));
  const install = build.replace(/\\\n/g, " ").match(/apt-get install[^&]*/)[0];
  const pkgs = install.split(/\s+/).slice(2).filter((w) => w && !w.startsWith("-"));
  const missing = pkgs.filter((p) => !listed.has(p));
  assert(pkgs.length > 5 && missing.length === 0, `not in install-deps: ${missing.join(" ")}`);
});

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
