import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";

/** What an asset or archive becomes in a plan: its files with their sizes and hashes. */
export interface AssetDescription {
  bytes: number;
  sha256: string;
}

/**
 * Text assets this process has described, by content: a plan describes each archive twice (inputs
 * and outputs), and a re-plan the same handler bundles again (the bundle cache hands out the same
 * strings). Hashing them was a tenth of a re-plan (profiled). Bounded: cleared when full.
 */
const described = new Map<string, AssetDescription>();
const DESCRIBED_MAX = 4_096;

function describeText(text: string): AssetDescription {
  let description = described.get(text);
  if (!description) {
    if (described.size >= DESCRIBED_MAX) described.clear();
    description = { bytes: Buffer.byteLength(text), sha256: createHash("sha256").update(text).digest("hex") };
    described.set(text, description);
  }
  return description;
}

/**
 * Replaces assets and archives (whose contents are promises) with plain descriptions, so that a
 * plan is JSON: `{ "$archive": { "index.mjs": { bytes, sha256 } } }`. With `assetDir`, each text
 * asset's content is also kept there under its sha256, so that the local cloud runs the very bytes
 * a deployment would upload.
 */
export async function describeAssets(value: unknown, assetDir?: string): Promise<unknown> {
  // Most resources have no asset: their properties stay as they are (no copy, no promise per value).
  if (!containsAsset(value)) return value;
  if (pulumi.asset.Asset.isInstance(value)) {
    const text = await (value as { text?: Promise<string> }).text;
    if (text === undefined) return { $asset: (await (value as { path?: Promise<string> }).path) ?? "remote" };
    const { bytes, sha256 } = describeText(text);
    if (assetDir) storeAsset(assetDir, sha256, text);
    return { $asset: { bytes, sha256 } };
  }
  if (pulumi.asset.Archive.isInstance(value)) {
    const assets = (await (value as { assets?: Promise<Record<string, unknown>> }).assets) ?? {};
    const files: Record<string, unknown> = {};
    for (const [name, asset] of Object.entries(assets)) {
      files[name] = ((await describeAssets(asset, assetDir)) as { $asset: unknown }).$asset;
    }
    return { $archive: files };
  }
  if (Array.isArray(value))
    return Promise.all((value as unknown[]).map((item) => describeAssets(item, assetDir)));
  if (value && typeof value === "object") {
    const entries = await Promise.all(
      Object.entries(value).map(async ([k, v]) => [k, await describeAssets(v, assetDir)] as const),
    );
    return Object.fromEntries(entries);
  }
  return value;
}

const isAssetOrArchive = (value: object): boolean =>
  pulumi.asset.Asset.isInstance(value) || pulumi.asset.Archive.isInstance(value);

/** Whether a value is or holds an asset or archive. */
function containsAsset(value: unknown): boolean {
  if (!value || typeof value !== "object") return false;
  if (isAssetOrArchive(value)) return true;
  if (Array.isArray(value)) return value.some(containsAsset);
  for (const key in value) {
    if (containsAsset((value as Record<string, unknown>)[key])) return true;
  }
  return false;
}

/** Content-addressed: a file named by its hash never changes, so a concurrent writer is harmless. */
function storeAsset(assetDir: string, sha256: string, text: string): void {
  const file = path.join(assetDir, sha256);
  if (fs.existsSync(file)) return;
  fs.mkdirSync(assetDir, { recursive: true });
  const partial = `${file}.${process.pid}.partial`;
  fs.writeFileSync(partial, text);
  fs.renameSync(partial, file);
}
