import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { rolloutCommand } from "../../automation/commands/rollout";
import { DEFAULT_LOCAL_PASSPHRASE, PULUMI_CLOUD_URL, resolveBackend } from "../../automation/engine/backend";
import { EngineUnavailableError } from "../../automation/engine/errors";
import { InMemoryEngine } from "../../automation/engine/in-memory";
import { PulumiEngine } from "../../automation/engine/pulumi";
import type { StackRef } from "../../automation/engine/types";
import { runCommand } from "../helpers/cli";
import { FakePulumiWorkspace } from "../helpers/fake-pulumi";

const DEV: StackRef = { stage: "dev", region: "us-east-1", stackName: "dev" };

function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A project directory with Pulumi.yaml (plus `projectExtra`) and a dev stack file (plus `stackExtra`). */
function project(projectExtra = "", stackExtra = ""): string {
  const dir = tempDir("platform-backend-project-");
  fs.writeFileSync(path.join(dir, "Pulumi.yaml"), `name: platform\nruntime: nodejs\n${projectExtra}`);
  fs.writeFileSync(path.join(dir, "Pulumi.dev.yaml"), `${stackExtra}config:\n  aws:region: us-east-1\n`);
  return dir;
}

/** A HOME whose ~/.pulumi/credentials.json is what `pulumi login <current>` writes. */
function homeLoggedInTo(current: string | undefined, raw?: string): string {
  const home = tempDir("platform-home-");
  fs.mkdirSync(path.join(home, ".pulumi"));
  const text =
    raw ?? JSON.stringify({ current, accessTokens: current ? { [current]: "" } : {}, accounts: {} }, null, 4);
  fs.writeFileSync(path.join(home, ".pulumi", "credentials.json"), text);
  return home;
}

describe("the Pulumi engine's backend", () => {
  describe("resolveBackend (the CLI's order, without the CLI)", () => {
    it("uses the backend `pulumi login` selected (credentials.json `current`) and passes nothing to the CLI", () => {
      const home = homeLoggedInTo("s3://team-state?region=us-east-1");
      const backend = resolveBackend({ projectDir: project(), env: { HOME: home } });
      assert.equal(backend.url, "s3://team-state?region=us-east-1");
      assert.equal(backend.source, "credentials");
      assert.equal(backend.kind, "diy");
      assert.equal(backend.override, undefined);
    });

    it("prefers PULUMI_BACKEND_URL, then the project's backend.url, over the login", () => {
      const home = homeLoggedInTo("https://api.pulumi.com");
      const withProject = project("backend:\n  url: gs://project-state\n");
      assert.equal(
        resolveBackend({ projectDir: withProject, env: { HOME: home } }).url,
        "gs://project-state",
      );
      const fromEnv = resolveBackend({
        projectDir: withProject,
        env: { HOME: home, PULUMI_BACKEND_URL: "file:///srv/state" },
      });
      assert.deepEqual(
        [fromEnv.url, fromEnv.source, fromEnv.override],
        ["file:///srv/state", "env", undefined],
      );
    });

    it("reads PULUMI_HOME and PULUMI_CREDENTIALS_PATH as the CLI does", () => {
      const home = homeLoggedInTo("https://pulumi.example.com");
      const env = { HOME: "/nonexistent", PULUMI_HOME: path.join(home, ".pulumi") };
      assert.equal(resolveBackend({ projectDir: project(), env }).url, "https://pulumi.example.com");
      const credentialsPath = { HOME: "/nonexistent", PULUMI_CREDENTIALS_PATH: path.join(home, ".pulumi") };
      assert.equal(
        resolveBackend({ projectDir: project(), env: credentialsPath }).url,
        "https://pulumi.example.com",
      );
    });

    it("says Pulumi Cloud needs a login when nobody logged in", () => {
      const backend = resolveBackend({
        projectDir: project(),
        env: { HOME: tempDir("platform-empty-home-") },
      });
      assert.equal(backend.url, PULUMI_CLOUD_URL);
      assert.equal(backend.source, "default");
      assert.match(backend.description, /pulumi login/);
    });

    it("leaves an encrypted credentials file to the CLI and says how to see the backend", () => {
      const home = homeLoggedInTo(undefined, "PULUMI-ENVELOPE v1 ...binary...");
      const backend = resolveBackend({ projectDir: project(), env: { HOME: home } });
      assert.equal(backend.url, undefined);
      assert.equal(backend.kind, "unknown");
      assert.match(backend.description, /pulumi whoami -v/);
    });

    it("uses the project's local backend only when asked (PLATFORM_LOCAL_BACKEND), and passes it to the CLI", () => {
      const dir = project();
      const backend = resolveBackend({
        projectDir: dir,
        env: { HOME: homeLoggedInTo("https://api.pulumi.com"), PLATFORM_LOCAL_BACKEND: "1" },
      });
      assert.equal(backend.url, `file://${path.join(dir, ".pulumi-state")}`);
      assert.equal(backend.override, backend.url);
      assert.equal(backend.localProjectBackend, true);
    });
  });

  describe("PulumiEngine", () => {
    it("sets no PULUMI_BACKEND_URL and no passphrase by default: the CLI's own backend and the stack's secrets", () => {
      const home = homeLoggedInTo("s3://team-state");
      const engine = new PulumiEngine({ projectDir: project(), processEnv: { HOME: home } });
      assert.equal(engine.envVars.PULUMI_BACKEND_URL, undefined);
      assert.equal(engine.envVars.PULUMI_CONFIG_PASSPHRASE, undefined, "never a default passphrase for S3");
      assert.equal(engine.backendUrl, "s3://team-state");
      assert.match(
        engine.describeBackend(),
        /^self-managed s3:\/\/team-state \(the backend `pulumi login` selected\)/,
      );
    });

    it("gives the default passphrase only to the project's local backend, and never over a passphrase file", () => {
      const dir = project();
      const local = new PulumiEngine({
        projectDir: dir,
        processEnv: { HOME: "/nonexistent", PLATFORM_LOCAL_BACKEND: "true" },
      });
      assert.equal(local.envVars.PULUMI_BACKEND_URL, `file://${path.join(dir, ".pulumi-state")}`);
      assert.equal(local.envVars.PULUMI_CONFIG_PASSPHRASE, DEFAULT_LOCAL_PASSPHRASE);
      assert.match(local.describeBackend(), /the local default, not a secret/);
      const withFile = new PulumiEngine({
        projectDir: dir,
        processEnv: { PLATFORM_LOCAL_BACKEND: "1", PULUMI_CONFIG_PASSPHRASE_FILE: "/run/secrets/passphrase" },
      });
      assert.equal(withFile.envVars.PULUMI_CONFIG_PASSPHRASE, undefined, "the CLI reads the file itself");
      const cloud = new PulumiEngine({
        projectDir: dir,
        processEnv: { PULUMI_BACKEND_URL: "https://api.pulumi.com" },
      });
      assert.equal(cloud.envVars.PULUMI_CONFIG_PASSPHRASE, undefined);
    });

    it("creates a stack with its stack file's secrets provider, and no provider of its own otherwise", async () => {
      const withKms = project("", "secretsprovider: awskms://alias/platform-secrets\n");
      const workspace = new FakePulumiWorkspace();
      const engine = new PulumiEngine({
        projectDir: withKms,
        processEnv: { HOME: "/nonexistent" },
        workspace,
        policyPack: false,
      });
      await engine.up(DEV);
      const created = workspace.calls.find((call) => call.method === "createStack");
      assert.equal(created?.options?.secretsProvider, "awskms://alias/platform-secrets");

      const plain = new FakePulumiWorkspace();
      await new PulumiEngine({
        projectDir: project(),
        processEnv: { PULUMI_BACKEND_URL: "s3://x" },
        workspace: plain,
        policyPack: false,
      }).up(DEV);
      const createdPlain = plain.calls.find((call) => call.method === "createStack");
      assert.equal(createdPlain?.options?.secretsProvider, undefined, "the CLI's default for the backend");
      assert.equal(createdPlain?.options?.envVars?.PULUMI_BACKEND_URL, undefined);
    });
  });

  describe("commands", () => {
    /** An in-memory engine that describes a backend and whose CLI check fails with `startError`. */
    class DescribedEngine extends InMemoryEngine {
      constructor(private readonly startError?: Error) {
        super();
      }
      describeBackend(): string {
        return "self-managed s3://team-state (the backend `pulumi login` selected)";
      }
      async start(): Promise<void> {
        if (this.startError) throw this.startError;
      }
    }

    function rollout(engine: InMemoryEngine, ...argv: string[]) {
      const register = rolloutCommand({
        engine: () => engine,
        revision: async () => "0123456789abcdef0123456789abcdef01234567",
        health: async () => {},
      });
      return runCommand(register, ["rollout", ...argv]);
    }

    it("a rollout says which backend it uses before it starts (on stderr, so that --json stays JSON)", async () => {
      const run = await rollout(new DescribedEngine(), "dev", "--json");
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stderr, /^backend: self-managed s3:\/\/team-state/m);
      assert.doesNotThrow(() => JSON.parse(run.stdout));
    });

    it("a rollout stops before deploying when the engine's CLI check fails, with its message", async () => {
      const engine = new DescribedEngine(
        new EngineUnavailableError("Pulumi CLI 3.230.0 is too old: ... needs Pulumi CLI >= 3.249.0"),
      );
      const run = await rollout(engine, "dev");
      assert.equal(run.code, 1);
      assert.match(run.stderr, /error: Pulumi CLI 3\.230\.0 is too old: .* >= 3\.249\.0/);
      assert.equal(engine.calls.length, 0, "nothing previewed or deployed");
    });
  });
});
