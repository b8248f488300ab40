import * as assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { closureCacheDir } from "../../automation/plan/closure-cache";
import { PlanError, Planner, PROJECT_DIR } from "../../automation/plan/plan";
import type { PlanResult } from "../../automation/plan/types";
import { buildBundle } from "../../components/bundle";

/** A small project of its own (packages linked from this checkout) whose program a test may edit. */
function scratchProject(program: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "platform-planner-"));
  fs.symlinkSync(path.join(PROJECT_DIR, "node_modules"), path.join(dir, "node_modules"));
  fs.writeFileSync(path.join(dir, "Pulumi.yaml"), "name: scratch\nruntime: nodejs\n");
  fs.writeFileSync(path.join(dir, "Pulumi.dev.yaml"), "config:\n  aws:region: eu-west-1\n");
  fs.writeFileSync(path.join(dir, "index.ts"), program);
  return dir;
}

const topicProgram = (name: string) =>
  `import * as aws from "@pulumi/aws";\nexport const topic = new aws.sns.Topic("${name}").name;\n`;

describe("the planner", function () {
  this.timeout(120_000);

  describe("one warm host for many stacks", () => {
    let fresh: PlanResult;
    let afterProd: PlanResult;
    let again: PlanResult;
    let planner: Planner;
    before(async () => {
      planner = new Planner({ maxHosts: 1 });
      const alone = new Planner({ maxHosts: 1 });
      try {
        // The same host plans prod and then dev: nothing of prod's program may reach dev's plan.
        [fresh] = await Promise.all([alone.plan("dev"), planner.plan("prod")]);
        afterProd = await planner.plan("dev");
        // The same stack again: the component library's modules stay loaded this time.
        again = await planner.plan("dev");
      } finally {
        alone.close();
      }
    });
    after(() => planner.close());

    it("plans a stack after another exactly as a fresh host does", () => {
      assert.deepEqual(afterProd, fresh);
    });

    it("plans the same stack again, with its component modules kept loaded, exactly as a fresh host does", () => {
      assert.deepEqual(again, fresh);
    });

    it("reuses its host instead of starting one per plan", () => {
      assert.equal(planner.hostCount, 1);
    });

    it("plans every function's archive byte for byte as a fresh single-handler build (cached bundles)", () => {
      const functions = afterProd.resources.filter((r) => r.type === "aws:lambda/function:Function");
      assert.ok(functions.length > 0);
      for (const fn of functions) {
        const entry = String(fn.inputs.description).split(" ")[0];
        const fresh = buildBundle(entry);
        const archive = (fn.inputs.code as { $archive: Record<string, { sha256: string }> }).$archive;
        assert.deepEqual(Object.keys(archive).sort(), Object.keys(fresh.files).sort(), entry);
        for (const [file, text] of Object.entries(fresh.files)) {
          const sha256 = createHash("sha256").update(text).digest("hex");
          assert.equal(archive[file].sha256, sha256, `${entry} ${file}`);
        }
      }
    });
  });

  it("plans the same with the dynamic providers serialized afresh and taken from the cache", async () => {
    fs.rmSync(closureCacheDir(PROJECT_DIR), { recursive: true, force: true });
    const plans: PlanResult[] = [];
    for (let i = 0; i < 2; i++) {
      const planner = new Planner({ maxHosts: 1 });
      try {
        plans.push(await planner.plan("prod"));
      } finally {
        planner.close();
      }
    }
    assert.ok(fs.readdirSync(closureCacheDir(PROJECT_DIR)).length > 0, "nothing was cached");
    assert.ok(plans[0].resources.some((r) => typeof r.inputs.__provider === "string"));
    assert.deepEqual(plans[1], plans[0]);
  });

  describe("a warm host and a changing program", () => {
    let dir: string;
    let planner: Planner;
    const write = (file: string, text: string) => {
      fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
      fs.writeFileSync(path.join(dir, file), text);
    };
    beforeEach(() => {
      dir = scratchProject(topicProgram("first"));
      planner = new Planner({ maxHosts: 1 });
    });
    afterEach(() => {
      planner.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it("picks up a change to the program between plans", async () => {
      const before = await planner.plan("dev", { projectDir: dir });
      fs.writeFileSync(path.join(dir, "index.ts"), topicProgram("second"));
      const after = await planner.plan("dev", { projectDir: dir });
      assert.ok(before.resources.some((r) => r.name === "first"));
      assert.ok(after.resources.some((r) => r.name === "second"));
      assert.ok(!after.resources.some((r) => r.name === "first"), "the old program's module stayed loaded");
    });

    it("picks up a change to the stack file between plans", async () => {
      const before = await planner.plan("dev", { projectDir: dir });
      fs.writeFileSync(path.join(dir, "Pulumi.dev.yaml"), "config:\n  aws:region: ap-south-1\n");
      const after = await planner.plan("dev", { projectDir: dir });
      assert.equal(before.region, "eu-west-1");
      assert.equal(after.region, "ap-south-1");
    });

    it("picks up a change to a component module, and to whatever imports it", async () => {
      write("components/names.ts", 'export const topicName = "first-import";\n');
      write(
        "components/make.ts",
        'import { topicName } from "./names";\nexport const make = () => topicName;\n',
      );
      write(
        "index.ts",
        'import * as aws from "@pulumi/aws";\nimport { make } from "./components/make";\nexport const topic = new aws.sns.Topic(make()).name;\n',
      );
      const before = await planner.plan("dev", { projectDir: dir });
      write("components/names.ts", 'export const topicName = "second-import";\n');
      const after = await planner.plan("dev", { projectDir: dir });
      assert.ok(before.resources.some((r) => r.name === "first-import"));
      assert.ok(
        after.resources.some((r) => r.name === "second-import"),
        "the changed module stayed loaded",
      );
    });

    it("keeps the component library's unchanged modules loaded for another plan of the same stack", async () => {
      write("components/names.ts", 'export const topicName = "kept";\n');
      write("names.ts", 'export const other = "reloaded";\n');
      write(
        "index.ts",
        'import * as aws from "@pulumi/aws";\nimport { topicName } from "./components/names";\nimport { other } from "./names";\nexport const topic = new aws.sns.Topic(topicName + other).name;\n',
      );
      const kept: number[] = [];
      for (let i = 0; i < 2; i++) {
        await planner.plan("dev", { projectDir: dir, onPhases: (phases) => kept.push(phases.modulesKept) });
      }
      assert.deepEqual(kept, [0, 1]);
    });

    it("runs a component module that creates a resource as it loads again in every plan", async () => {
      write(
        "components/shared.ts",
        'import * as aws from "@pulumi/aws";\nexport const queue = new aws.sqs.Queue("loaded-with-the-module");\n',
      );
      write(
        "index.ts",
        'import * as aws from "@pulumi/aws";\nimport { queue } from "./components/shared";\nexport const topic = new aws.sns.Topic("t").name;\nexport const queueName = queue.name;\n',
      );
      const plans = [
        await planner.plan("dev", { projectDir: dir }),
        await planner.plan("dev", { projectDir: dir }),
      ];
      for (const plan of plans) {
        assert.ok(
          plan.resources.some((r) => r.name === "loaded-with-the-module"),
          "the module's resource is missing",
        );
      }
      assert.deepEqual(plans[1], plans[0]);
    });

    it("plans a program whose modules have effects and state as a new host does, every time", async () => {
      // What no host can see from outside: a resource created in a callback the module starts, a
      // stack transformation, a warning, a data file read, and state kept across calls.
      write(
        "later.ts",
        'import * as aws from "@pulumi/aws";\nimport * as pulumi from "@pulumi/pulumi";\nexport const queueName = pulumi.output("late").apply((n) => new aws.sqs.Queue(n).name);\n',
      );
      write(
        "autotag.ts",
        'import * as pulumi from "@pulumi/pulumi";\npulumi.runtime.registerStackTransformation((args) => ({ props: { ...args.props, tags: { team: "core" } }, opts: args.opts }));\n',
      );
      write(
        "warn.ts",
        'import * as pulumi from "@pulumi/pulumi";\npulumi.log.warn("said as the module loads");\n',
      );
      write("name.txt", "alpha");
      write(
        "names.ts",
        'import * as fs from "node:fs";\nconst used = new Set<string>();\nexport function use(name: string) { if (used.has(name)) throw new Error(name + " used twice"); used.add(name); return name; }\nexport const fromFile = fs.readFileSync(__dirname + "/name.txt", "utf8");\n',
      );
      write(
        "index.ts",
        'import "./autotag";\nimport "./warn";\nimport * as aws from "@pulumi/aws";\nimport { queueName } from "./later";\nimport { fromFile, use } from "./names";\nexport const topic = new aws.sns.Topic(use(fromFile)).name;\nexport const queue = queueName;\n',
      );
      const fresh = async () => {
        const alone = new Planner({ maxHosts: 1 });
        try {
          return await alone.plan("dev", { projectDir: dir });
        } finally {
          alone.close();
        }
      };
      const first = await planner.plan("dev", { projectDir: dir });
      assert.deepEqual(await planner.plan("dev", { projectDir: dir }), first);
      assert.ok(
        first.resources.some(
          (r) => r.name === "late" && (r.inputs.tags as { team?: string })?.team === "core",
        ),
      );
      assert.deepEqual(first.warnings, ["said as the module loads"]);
      write("name.txt", "beta");
      assert.deepEqual(await planner.plan("dev", { projectDir: dir }), await fresh());
    });

    it("loads every module afresh for another stack: config read as a module loads is the stack's", async () => {
      write("Pulumi.prod.yaml", "config:\n  aws:region: us-west-2\n");
      write(
        "components/settings.ts",
        'import * as pulumi from "@pulumi/pulumi";\nexport const region = new pulumi.Config("aws").require("region");\n',
      );
      write("index.ts", 'export { region } from "./components/settings";\n');
      const regions: unknown[] = [];
      for (const stack of ["dev", "prod", "dev"]) {
        regions.push((await planner.plan(stack, { projectDir: dir })).outputs.region);
      }
      assert.deepEqual(regions, ["eu-west-1", "us-west-2", "eu-west-1"]);
    });

    it("plans again after a program that failed, on a new host", async () => {
      fs.writeFileSync(path.join(dir, "index.ts"), 'throw new Error("broken on purpose");\n');
      await assert.rejects(planner.plan("dev", { projectDir: dir }), (error: unknown) => {
        assert.ok(error instanceof PlanError);
        assert.match(error.message, /broken on purpose/);
        return true;
      });
      fs.writeFileSync(path.join(dir, "index.ts"), topicProgram("again"));
      const plan = await planner.plan("dev", { projectDir: dir });
      assert.ok(plan.resources.some((r) => r.name === "again"));
    });
  });

  it("plans several stacks at once on at most maxHosts hosts, results in the order asked", async () => {
    const planner = new Planner({ maxHosts: 2 });
    try {
      const plans = await planner.planMany(["prod-us-west-2", "dev", "prod-eu-west-1"]);
      assert.deepEqual(
        plans.map((plan) => plan.stack),
        ["prod-us-west-2", "dev", "prod-eu-west-1"],
      );
      assert.deepEqual(
        plans.map((plan) => plan.region),
        ["us-west-2", "us-east-1", "eu-west-1"],
      );
      assert.ok(planner.hostCount <= 2, `${planner.hostCount} hosts`);
    } finally {
      planner.close();
    }
  });
});
