import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { InMemoryEngine } from "../../automation/engine/in-memory";
import { PROJECT_DIR } from "../../automation/plan/plan";
import { StageCatalog } from "../../automation/service/stacks";
import { startTestService, submit, type TestService } from "../helpers/service";

/** A copy of the project's stack files (enough for the stage catalog) in a directory of its own. */
function projectCopy(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "platform-stages-"));
  for (const file of fs.readdirSync(PROJECT_DIR)) {
    if (/^Pulumi(\..+)?\.ya?ml$/.test(file))
      fs.copyFileSync(path.join(PROJECT_DIR, file), path.join(dir, file));
  }
  return dir;
}

interface StageList {
  stages: { stage: string; error?: string; regions: unknown[] }[];
}

describe("service stages", function () {
  this.timeout(30_000);
  let projectDir: string;
  let service: TestService;

  beforeEach(async () => {
    projectDir = projectCopy();
    // Line 3 opens a flow sequence that never closes.
    fs.writeFileSync(
      path.join(projectDir, "Pulumi.broken.yaml"),
      "config:\n  platform:app: platform\n  platform:regions: [us-east-1\n  platform:memorySize: 128\n",
    );
    fs.mkdirSync(path.join(projectDir, "Pulumi.folder.yaml"));
    service = await startTestService({ engine: new InMemoryEngine(), projectDir });
  });
  afterEach(async () => {
    await service.close();
    fs.rmSync(projectDir, { recursive: true, force: true });
  });

  const stages = async () => {
    const response = await service.request("/stacks");
    assert.equal(response.status, 200);
    return ((await response.json()) as StageList).stages;
  };

  it("lists a stage whose stack file is not valid YAML with its error naming the file and line, and the others as usual", async () => {
    const list = await stages();
    const broken = list.find((entry) => entry.stage === "broken");
    assert.match(broken?.error ?? "", /Pulumi\.broken\.yaml line 4, column 3: .*not valid YAML/);
    assert.deepEqual(broken?.regions, []);
    for (const name of ["dev", "prod"]) {
      const stage = list.find((entry) => entry.stage === name);
      assert.equal(stage?.error, undefined);
      assert.ok((stage?.regions.length ?? 0) > 0);
    }
  });

  it("lists a stage whose stack file is a directory with an error saying so", async () => {
    const folder = (await stages()).find((entry) => entry.stage === "folder");
    assert.match(folder?.error ?? "", /cannot read Pulumi\.folder\.yaml: it is a directory/);
  });

  it("answers a job on the stage with the malformed file with 400 naming the file and line", async () => {
    const { response, body } = await submit(service, "/previews", { stage: "broken" });
    assert.equal(response.status, 400);
    assert.match(body.message ?? "", /Pulumi\.broken\.yaml line 4, column 3/);
  });

  it("answers a job on the stage whose file is a directory with 400 naming the file", async () => {
    const { response, body } = await submit(service, "/previews", { stage: "folder" });
    assert.equal(response.status, 400);
    assert.match(body.message ?? "", /cannot read Pulumi\.folder\.yaml/);
  });

  it("serves a job on another stage meanwhile", async () => {
    const { response } = await submit(service, "/previews", { stage: "dev" });
    assert.equal(response.status, 202);
  });

  it("reads the stage again once its file is fixed", async () => {
    await stages();
    fs.copyFileSync(path.join(projectDir, "Pulumi.dev.yaml"), path.join(projectDir, "Pulumi.broken.yaml"));
    const broken = (await stages()).find((entry) => entry.stage === "broken");
    assert.equal(broken?.error, undefined);
    assert.equal((await submit(service, "/previews", { stage: "broken" })).response.status, 202);
  });

  it("remembers no unknown stage name asked for: the catalog holds only stages with a stack file", async () => {
    const catalog = service.service.manager.stages;
    for (let index = 0; index < 300; index++) {
      const { response } = await submit(service, "/previews", { stage: `nope-${index}` });
      assert.equal(response.status, 400);
    }
    await stages();
    assert.ok(catalog.cachedStages <= 5, `cached ${catalog.cachedStages} stages`);
  });

  it("keeps its cache bounded when read directly with many unknown names", () => {
    const catalog = new StageCatalog(projectDir);
    for (let index = 0; index < 5000; index++) {
      assert.throws(() => catalog.read(`unknown-${index}`), /unknown stage/);
    }
    assert.equal(catalog.cachedStages, 0);
  });
});
