import { PolicyPack } from "@pulumi/policy";
import { PACK_ENFORCEMENT_LEVEL, PACK_NAME, policies } from "./pack";

// `pulumi preview --policy-pack policy --policy-pack-config policy/config.<stage>.json`
new PolicyPack(PACK_NAME, {
  description:
    "Least privilege, observability, safe deployments and data protection for the serverless platform.",
  enforcementLevel: PACK_ENFORCEMENT_LEVEL,
  policies,
});
