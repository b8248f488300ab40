import type { APIGatewayProxyResult } from "aws-lambda";
import { json } from "../shared/http";

/**
 * GET /health: the smoke path of canary hooks and rollout health checks. It does no I/O and loads no
 * logger or SDK, so that it answers even when the table or its permissions are broken.
 */
export const handler = async (): Promise<APIGatewayProxyResult> => json(200, { status: "ok" });
