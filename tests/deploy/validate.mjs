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
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2";
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
  "autoscaling/v2 HorizontalPodAutoscaler": HorizontalPodAutoscaler,
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
const deployment = find("Deployment", "popqueue");  // serve: API + dashboard
const service = find("Service");
const pdb = find("PodDisruptionBudget", "popqueue");
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

// --- The worker Deployment: the original README's env block ---------------

// The original README's Deployment (tests/readme/original_README.md, the
// contract): its name, replicas and env block.
const readme = fs.readFileSync(path.join(root, "tests", "readme", "original_README.md"), "utf8");
const k8sSection = readme.slice(readme.indexOf(
  "### Running Multiple `pop-queue` Jobs on Different Nodes in Kubernetes"));
const readmeYaml = /```yaml\n([\s\S]*?)```/.exec(k8sSection)[1];
const readmeDeployment = YAML.parse(readmeYaml);
const readmeEnv = readmeDeployment.spec.template.spec.containers[0].env;
const worker = find("Deployment", readmeDeployment.metadata.name);
const workerPod = worker?.spec?.template;
const workerContainer = workerPod?.spec?.containers?.[0];
check("worker Deployment pop-queue exists, runs `popqueue worker`, 3 replicas", () => {
  assert(worker, `no Deployment named ${readmeDeployment.metadata.name} (the README's name)`);
  assert(worker.spec.replicas === readmeDeployment.spec.replicas,
    `replicas: ${readmeDeployment.spec.replicas} as in the README`);
  assert(subset(worker.spec.selector.matchLabels, workerPod.metadata.labels), "selector");
  assert(!subset(service.spec.selector, workerPod.metadata.labels),
    "the API Service must not select worker pods");
  assert(JSON.stringify(workerContainer.command) === '["popqueue","worker"]', "command");
  assert(workerContainer.args.some((a) => a.startsWith("--exec=")), "an --exec handler");
});
check("worker env is exactly the README's env block, URLs from a Secret", () => {
  // The README's names in its order: the URLs (inline values there, from
  // the Secret here), WORKER_ID from the pod's name, WORKER_TIMEOUT "30000".
  const names = workerContainer.env.map((e) => e.name);
  const want = readmeEnv.map((e) => e.name);
  assert(JSON.stringify(names) === JSON.stringify(want),
    `env names ${names.join(",")}, README ${want.join(",")}`);
  const env = Object.fromEntries(workerContainer.env.map((e) => [e.name, e]));
  for (const e of readmeEnv) {
    if (e.valueFrom) {
      assert(JSON.stringify(env[e.name].valueFrom) === JSON.stringify(e.valueFrom),
        `${e.name}: valueFrom as in the README`);
    } else if (e.name === "WORKER_TIMEOUT") {
      assert(env[e.name].value === e.value, `${e.name}: "${e.value}" as in the README`);
    }
  }
  for (const n of want.filter((n) => n.endsWith("_URL"))) {
    const ref = env[n].valueFrom?.secretKeyRef;
    assert(ref, `${n} from a secretKeyRef`);
    const s = find("Secret", ref.name);
    assert(s && s.stringData?.[ref.key] !== undefined, `${n}: Secret ${ref.name} key ${ref.key}`);
  }
  assert(env.WORKER_ID.valueFrom?.fieldRef?.fieldPath === "metadata.name", "WORKER_ID");
  assert(env.WORKER_TIMEOUT.value === "30000", "WORKER_TIMEOUT \"30000\"");
});
check("worker probes /healthz and /readyz on its --metrics-address port", () => {
  const ports = Object.fromEntries(workerContainer.ports.map((p) => [p.name, p.containerPort]));
  const arg = workerContainer.args.find((a) => a.startsWith("--metrics-address="));
  assert(arg, "--metrics-address=HOST:PORT");
  const port = Number(arg.slice(arg.lastIndexOf(":") + 1));
  assert(ports.metrics === port, `container port metrics ${ports.metrics} vs ${port}`);
  assert(workerContainer.livenessProbe.httpGet.path === "/healthz", "liveness path");
  assert(workerContainer.readinessProbe.httpGet.path === "/readyz", "readiness path");
  for (const p of [workerContainer.livenessProbe, workerContainer.readinessProbe,
                   workerContainer.startupProbe]) {
    if (p) assert(p.httpGet.port in ports, `probe port ${p.httpGet.port}`);
  }
  assert(workerPod.spec.securityContext.runAsNonRoot === true, "runAsNonRoot");
  assert(workerContainer.resources?.requests?.cpu, "cpu request (the HPA needs one)");
});
check("worker PodDisruptionBudget and HorizontalPodAutoscaler target the workers", () => {
  const wpdb = find("PodDisruptionBudget", "pop-queue-workers");
  assert(wpdb && subset(wpdb.spec.selector.matchLabels, workerPod.metadata.labels), "worker PDB");
  assert(!subset(pdb.spec.selector.matchLabels, workerPod.metadata.labels),
    "the server PDB must not count worker pods");
  const hpa = find("HorizontalPodAutoscaler");
  assert(hpa && hpa.spec.scaleTargetRef.kind === "Deployment" &&
         hpa.spec.scaleTargetRef.name === "pop-queue", "HPA scaleTargetRef");
  assert(hpa.spec.minReplicas >= 1 && hpa.spec.maxReplicas >= hpa.spec.minReplicas, "HPA bounds");
  assert(hpa.spec.metrics.some((m) => m.type === "External" &&
    /^popqueue_/.test(m.external.metric.name)), "an External metric on popqueue's gauges");
});

// The environment and config.json the pod would get.
const configMap = find("ConfigMap", "popqueue-config");
const envMap = find("ConfigMap", "popqueue-env");
const secret = find("Secret");
const configJson = JSON.parse(configMap.data["config.json"]);
check("terminationGracePeriodSeconds outlasts config.json shutdownDeadline", () => {
  const m = /^([0-9]+)s$/.exec(configJson.shutdownDeadline ?? "");
  assert(m, "config.json needs shutdownDeadline in seconds, e.g. \"25s\"");
  for (const p of [pod, workerPod]) {
    const grace = p.spec.terminationGracePeriodSeconds;
    assert(grace > Number(m[1]) && grace <= Number(m[1]) + 15,
      `grace ${grace}s vs shutdownDeadline ${m[1]}s: expected a few seconds more`);
  }
});
check("the example Secret holds no real secret", () => {
  for (const [k, v] of Object.entries(secret.stringData ?? {})) {
    // A URL without credentials (memcached://host:port) holds no secret.
    if (/^[a-z+]+:\/\/[^@\s]+$/.test(v)) continue;
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
check("multi-stage build on Debian bookworm, bases as build arguments", () => {
  assert(froms.length >= 3, "expected build, dev and runtime stages");
  assert(/^ARG BASE_IMAGE=debian:bookworm$/m.test(dockerfile), "ARG BASE_IMAGE=debian:bookworm");
  assert(/^ARG RUNTIME_IMAGE=debian:bookworm-slim$/m.test(dockerfile),
    "ARG RUNTIME_IMAGE=debian:bookworm-slim");
  for (const f of froms) {
    assert(/^FROM (\$\{BASE_IMAGE\}|\$\{RUNTIME_IMAGE\}|build) AS \w+$/.test(f), `${f}`);
  }
  assert(froms.some((f) => / AS dev$/.test(f)), "a dev target (the C++ SDK image)");
  assert(/ AS runtime$/.test(froms[froms.length - 1]), "runtime is the last (default) stage");
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
